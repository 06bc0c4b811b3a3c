package markdown

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/util"
)

const (
	excerptRunes   = 200
	wordsPerMinute = 265
	cjkPerMinute   = 500 // characters: CJK text has no spaces to count words by
)

// summarize walks the parsed document for the plain-text parts of a Doc.
func summarize(root ast.Node, source []byte) Doc {
	var (
		d         Doc
		counter   wordCounter
		paras     excerptText // text of paragraphs, for the excerpt
		all       excerptText // all text, in case there are no paragraphs
		heading   *ast.Heading
		title     strings.Builder
		paraDepth int
	)
	write := func(s []byte) {
		counter.write(s)
		all.write(s)
		if paraDepth > 0 {
			paras.write(s)
		}
		if heading != nil {
			title.Write(s)
		}
	}
	space := []byte{' '}
	_ = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if n.Type() == ast.TypeBlock {
			// Blocks are separate words and, in the excerpt, separate sentences.
			write(space)
		}
		switch n := n.(type) {
		case *ast.Paragraph:
			if entering {
				paraDepth++
			} else {
				paraDepth--
			}
		case *ast.Heading:
			if entering {
				heading = n
				title.Reset()
				return ast.WalkContinue, nil
			}
			heading = nil
			id, _ := n.AttributeString("id")
			anchor, _ := id.([]byte)
			d.TOC = append(d.TOC, TocEntry{Level: n.Level, Title: collapse(title.String()), Anchor: string(anchor)})
		case *ast.Text:
			if !entering {
				return ast.WalkContinue, nil
			}
			v := n.Segment.Value(source)
			if !n.IsRaw() {
				v = plain(v)
			}
			write(v)
			if n.SoftLineBreak() || n.HardLineBreak() {
				write(space)
			}
		case *ast.String:
			if entering {
				write(n.Value)
			}
		case *ast.AutoLink:
			if entering {
				write(n.Label(source))
			}
		case *ast.Image, *ast.RawHTML, *ast.FencedCodeBlock, *ast.CodeBlock, *ast.HTMLBlock:
			// Alt text, left-out HTML and code are not prose.
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	counter.write(space)
	d.WordCount = counter.words + counter.cjk
	d.ReadingTimeMinutes = readingTime(counter)
	if d.TOC == nil {
		d.TOC = TOC{} // stored and served as [], never null
	}
	if paras.n > 0 {
		d.Excerpt = paras.excerpt()
	} else {
		d.Excerpt = all.excerpt()
	}
	return d
}

// readingTime is ceil(words/265 + cjk/500) minutes, in integers, at least 1.
func readingTime(c wordCounter) int {
	return max(1, (c.words*cjkPerMinute+c.cjk*wordsPerMinute+wordsPerMinute*cjkPerMinute-1)/(wordsPerMinute*cjkPerMinute))
}

// plain resolves backslash escapes and entity references, as goldmark's HTML
// writer does for text.
func plain(v []byte) []byte {
	if bytes.IndexByte(v, '\\') >= 0 {
		v = util.UnescapePunctuations(v)
	}
	if bytes.IndexByte(v, '&') >= 0 {
		v = util.ResolveEntityNames(util.ResolveNumericReferences(v))
	}
	return v
}

// wordCounter counts words, runs of characters between spaces with at least one
// letter or digit, and CJK characters, which it counts one by one.
type wordCounter struct {
	words, cjk int
	inWord     bool // inside a run that has a letter or digit
}

func (c *wordCounter) write(s []byte) {
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		switch {
		case isCJK(r):
			c.cjk++
			c.end()
		case unicode.IsSpace(r):
			c.end()
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			c.inWord = true
		}
	}
}

func (c *wordCounter) end() {
	if c.inWord {
		c.words++
	}
	c.inWord = false
}

func isCJK(r rune) bool {
	return r >= 0x1100 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r))
}

// excerptText keeps the first runes of a text, with runs of white space
// collapsed to one space, and one rune more to know whether it was cut.
type excerptText struct {
	b     strings.Builder
	n     int  // runes kept
	space bool // a space is pending
}

func (e *excerptText) write(s []byte) {
	for len(s) > 0 && e.n <= excerptRunes {
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		if unicode.IsSpace(r) {
			e.space = e.n > 0
			continue
		}
		if e.space {
			e.b.WriteByte(' ')
			e.n++
			e.space = false
		}
		e.b.WriteRune(r)
		e.n++
	}
}

// excerpt cuts the text at the last word boundary within excerptRunes and
// marks the cut with an ellipsis.
func (e *excerptText) excerpt() string {
	rs := []rune(e.b.String())
	if len(rs) <= excerptRunes {
		return string(rs)
	}
	cut := excerptRunes
	for i := excerptRunes; i > excerptRunes/2; i-- {
		if unicode.IsSpace(rs[i]) || isCJK(rs[i]) || isCJK(rs[i-1]) {
			cut = i
			break
		}
	}
	return strings.TrimRight(string(rs[:cut]), " ,;:") + "…"
}

// collapse trims s and turns each run of white space in it into one space.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
