package markdown

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// indented is n lines of lists, each nested one level deeper than the last.
func indented(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat("  ", i) + "- a\n")
	}
	return b.String()
}

// codeSpans is a paragraph opening ten code spans, with runs of one to ten
// backticks, that never close, followed by tail bytes: each span is read to
// the paragraph's end, 10*size - 210 bytes in all, where 210 is the sum of
// the runs' offsets.
func codeSpans(tail int) string {
	var b strings.Builder
	for n := 1; n <= 10; n++ {
		b.WriteString(strings.Repeat("`", n) + "a")
	}
	return b.String() + strings.Repeat("x", tail)
}

// labels is 100 "[", n bytes and 100 "]". The first "]" copies the n+1 bytes
// back to the last "["; for each of the 99 others the "[" it closes is
// counted as the first, 100+n+j bytes back: 100n + 14,851 bytes in all.
func labels(n int) string {
	return strings.Repeat("[", 100) + strings.Repeat("x", n) + strings.Repeat("]", 100)
}

// table has a header and a delimiter row of cols columns and rows one-cell
// rows, each padded to cols cells: cols*(rows+1) cells.
func table(cols, rows int) string {
	return strings.Repeat("|a", cols) + "|\n" + strings.Repeat("|-", cols) + "|\n" + strings.Repeat("|b\n", rows)
}

// TestBounds renders, for each bound, a body just inside it and one just
// beyond it.
func TestBounds(t *testing.T) {
	// Unclosed destinations: each "](" of 200 is read to the end of the
	// line, 3 bytes less than the one before, 5298 bytes for the first:
	// 999,900 bytes.
	links := strings.Repeat("[](", 200) + strings.Repeat("x", 4701)
	for _, tc := range []struct {
		name           string
		inside, beyond string
		err            *LimitError
	}{
		{"quotes", strings.Repeat("> ", 16) + "a", strings.Repeat("> ", 17) + "a", errNesting},
		{"lists on one line", strings.Repeat("1. ", 16) + "a", strings.Repeat("1. ", 17) + "a", errNesting},
		{"quotes and lists", strings.Repeat("> - ", 8) + "a", strings.Repeat("> - ", 8) + "> a", errNesting},
		{"indented lists", indented(16), indented(17), errNesting},
		// n brackets: n markers × (n tokens + 1 line); 1413 × 1414 = 1,997,982.
		{"brackets in a paragraph", strings.Repeat("[", 1413), strings.Repeat("[", 1414), errInline},
		{"brackets in a heading", "# " + strings.Repeat("[", 1413), "# " + strings.Repeat("[", 1414), errInline},
		// A setext heading is measured as the paragraph it was, before its underline.
		{"brackets in a setext heading", strings.Repeat("[", 1413) + "\n===", strings.Repeat("[", 1414) + "\n===", errInline},
		{"unclosed links", links + "\n[](" + strings.Repeat("x", 100), links + "\n[](" + strings.Repeat("x", 101), errLinkScan},
		{"text in brackets", labels(9851), labels(9852), errLabelScan},
		{"unclosed code spans", codeSpans(99_956), codeSpans(99_957), errCodeScan},
		// n tildes are read n(n+1)/2 times: 1413 × 1414 / 2 = 998,991.
		{"long tilde runs", "a" + strings.Repeat("~", 1413), "a" + strings.Repeat("~", 1414), errTildeScan},
		{"table cells", table(100, 99), table(100, 100), errTableCells},
		// Each quote renders as &quot;, 6 bytes, inside <p>…</p>\n, 8 bytes.
		{"HTML", strings.Repeat(`"`, 83_332), strings.Repeat(`"`, 83_333), errHTMLSize},
		// 400 and 501 links, each with the definition's 1,000-byte destination.
		{"references", "[a]: /" + strings.Repeat("x", 999) + "\n\n" + strings.Repeat("[a] ", 400),
			"[a]: /" + strings.Repeat("x", 999) + "\n\n" + strings.Repeat("[a] ", 501), errHTMLSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Render(tc.inside); err != nil {
				t.Errorf("Render(inside) = %v, want no error", err)
			}
			_, err := Render(tc.beyond)
			var le *LimitError
			if !errors.As(err, &le) || le.Reason != tc.err.Reason {
				t.Errorf("Render(beyond) = %v, want %q", err, tc.err.Reason)
			}
		})
	}
}

// TestAdversarial renders every shape: each renders or is refused with a
// *LimitError, and the shapes from the review, at 100,000 bytes, are refused.
// The others are rendered smaller, as some take seconds under the race
// detector; BenchmarkRender renders them all at full size.
func TestAdversarial(t *testing.T) {
	review := map[string]bool{
		"quotes >>>": true, "quotes > > >": true, "link openers [a](": true,
		"ordered 1. 1. 1.": true, "nested indented lists": true,
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			size := 20_000
			if review[s.name] {
				size = 100_000
			}
			_, err := Render(s.body(size))
			var le *LimitError
			if err != nil && !errors.As(err, &le) {
				t.Fatalf("Render = %v, want nil or a *LimitError", err)
			}
			if review[s.name] && le == nil {
				t.Errorf("Render = %v, want it refused", err)
			}
		})
	}
}

// TestNestingMatchesGoldmark checks on random bodies that Render refuses for
// nesting exactly the bodies in which goldmark, left alone, nests block
// quotes and list items deeper than MaxNesting, tabs and lazy lines included.
func TestNestingMatchesGoldmark(t *testing.T) {
	plain := goldmark.New(goldmark.WithExtensions(extension.GFM))
	markers := []string{">", "> ", ">\t", " > ", "- ", "-\t", "* ", "+ ", "1. ", "1.\t", "2) ", "10. ", "  ", "   ", "\t"}
	contents := []string{"", "a", "[a](b)", "# h", "---", "===", "```", "<div>", "    code", "| a |\n|---|"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var lines []string
		for range 1 + rng.IntN(8) {
			var l strings.Builder
			for range rng.IntN(2 * MaxNesting) {
				l.WriteString(markers[rng.IntN(len(markers))])
			}
			l.WriteString(contents[rng.IntN(len(contents))])
			lines = append(lines, l.String())
		}
		src := strings.Join(lines, "\n")

		depth := 0
		_ = ast.Walk(plain.Parser().Parse(text.NewReader([]byte(src))), func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			d := 0
			for p := n; p != nil; p = p.Parent() {
				if k := p.Kind(); k == ast.KindBlockquote || k == ast.KindListItem {
					d++
				}
			}
			depth = max(depth, d)
			return ast.WalkContinue, nil
		})
		_, err := Render(src)
		if refused := errors.Is(err, errNesting); refused != (depth > MaxNesting) {
			t.Fatalf("goldmark nests %q %d deep, Render: %v", src, depth, err)
		}
	}
}

func TestLimitError(t *testing.T) {
	_, err := Render(strings.Repeat(">", 100))
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("Render = %v, want a *LimitError", err)
	}
	if err.Error() != le.Reason || le.Reason != "nests block quotes or lists deeper than 16 levels" {
		t.Errorf("Error() = %q, Reason = %q", err.Error(), le.Reason)
	}
}

// TestTableCellsCounted checks on random bodies that the budget counts at
// least the table cells goldmark makes.
func TestTableCellsCounted(t *testing.T) {
	plain := goldmark.New(goldmark.WithExtensions(extension.GFM))
	rows := []string{"|", "||", "|a|b|", "a|b", "|-|", "|-|-|", "-|-", "|:-:|--|", ":", "|:", "    |-|-|-|", " | - | - |",
		"|-|-|-|-|-|", "a", "", "- |a|", "> |-|", "`|`|b", `\|-|`, "|--|--|--|--|--|--|"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		var lines []string
		for range 1 + rng.IntN(10) {
			lines = append(lines, rows[rng.IntN(len(rows))])
		}
		src := []byte(strings.Join(lines, "\n"))

		cells := 0
		_ = ast.Walk(plain.Parser().Parse(text.NewReader(src)), func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			if entering && n.Kind() == extast.KindTableCell {
				cells++
			}
			return ast.WalkContinue, nil
		})
		var b budget
		pc := parser.NewContext()
		pc.Set(budgetKey, &b)
		md.Parser().Parse(text.NewReader(src), parser.WithContext(pc))
		if b.cells < cells {
			t.Fatalf("goldmark makes %d cells of %q, the budget counts %d", cells, src, b.cells)
		}
	}
}

// FuzzRender checks that Render fails with nothing but a *LimitError and
// never panics, the hooks in goldmark's parser included:
//
//	go test -fuzz Render ./internal/markdown
func FuzzRender(f *testing.F) {
	for _, s := range shapes {
		f.Add(s.body(200))
	}
	f.Add(strings.Repeat("> - ", 9) + "a\n" + strings.Repeat("  ", 20) + "b")
	f.Fuzz(func(t *testing.T, src string) {
		_, err := Render(src)
		var le *LimitError
		if err != nil && !errors.As(err, &le) {
			t.Fatalf("Render(%q) = %v", src, err)
		}
	})
}
