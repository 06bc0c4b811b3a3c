package markdown

import (
	"errors"
	"testing"
)

const benchSize = 100_000 // the largest body the API accepts

// BenchmarkRender reports, for each shape, what the largest body of that
// shape Render accepts (up to benchSize bytes) costs, and what refusing the
// benchSize one costs:
//
//	go test -bench . -benchtime 3x ./internal/markdown
func BenchmarkRender(b *testing.B) {
	for _, s := range shapes {
		full := s.body(benchSize)
		_, err := Render(full)
		b.Run(s.name+"/accepted", func(b *testing.B) {
			benchRender(b, largestAccepted(b, s), false)
		})
		if err != nil {
			b.Run(s.name+"/refused", func(b *testing.B) { benchRender(b, full, true) })
		}
	}
}

// largestAccepted finds the largest body of shape s, within benchSize bytes,
// that Render accepts: of the shape itself or, for the shapes too deep at any
// size, of its deepest accepted form.
func largestAccepted(b *testing.B, s shape) string {
	body := s.body
	if s.deepest != nil {
		body = s.deepest
	}
	if _, err := Render(body(benchSize)); err == nil {
		return body(benchSize)
	}
	lo, hi := 0, benchSize // body(lo) is accepted, body(hi) is not
	for hi-lo > benchSize/1000 {
		mid := (lo + hi) / 2
		if _, err := Render(body(mid)); err == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		b.Fatalf("%s: no body of this shape is accepted", s.name)
	}
	return body(lo)
}

func benchRender(b *testing.B, src string, refused bool) {
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		_, err := Render(src)
		var le *LimitError
		if refused != errors.As(err, &le) || (err != nil && le == nil) {
			b.Fatalf("Render(%d bytes) = %v, want refused %v", len(src), err, refused)
		}
	}
}
