// Package markdown renders article bodies to HTML that is safe to insert into a page,
// together with what a read needs besides it: an excerpt, a word count, a reading
// time and a table of contents.
package markdown

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"html"
	"regexp"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// Version identifies what Render produces. A stored rendering of an older version is
// rendered again when migrations run (internal/dbmigrate): bump it whenever Render's
// output changes.
const Version = 1

// idPrefix starts every heading id, so that an author's heading cannot take the
// name of a global the page's scripts rely on (an element id becomes a property
// of window and, for some elements, of document).
const idPrefix = "user-content-"

var (
	// Raw HTML in the markdown is left out by goldmark (no WithUnsafe); the sanitiser
	// behind it is the guarantee, whatever the renderer lets through.
	md = goldmark.New(
		goldmark.WithParser(newParser()), // before the options and extensions that add to it
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	)
	policy = newPolicy()
)

func newPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	// Fenced code keeps its language for the page's highlighter. UGCPolicy
	// already keeps id on every element; the only ids in goldmark's output are
	// the heading ids, which all carry idPrefix, as raw HTML is left out.
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^language-[\w+#.-]+$`)).OnElements("code")
	return p
}

// Doc is everything a read needs from a body, computed once when the article is written.
type Doc struct {
	HTML               string // sanitised HTML
	Excerpt            string // plain text of the first paragraphs, cut on a word boundary near 200 characters, "…" when cut
	WordCount          int    // words of the prose, not code blocks or image descriptions; each Han, Hiragana, Katakana or Hangul character counts as one
	ReadingTimeMinutes int    // words at 265 a minute plus CJK characters at 500 a minute, rounded up, at least 1
	TOC                TOC    // headings in document order
}

// TOC is a table of contents. It is stored as JSON, and scans itself from a JSON
// column, so that list queries scanning whole rows by column name can read it.
type TOC []TocEntry

// Value writes a TOC as JSON text; nil is [].
func (t TOC) Value() (driver.Value, error) {
	if t == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]TocEntry(t))
	return string(b), err
}

// Scan reads a TOC from its JSON column.
func (t *TOC) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	case nil:
		*t = TOC{}
		return nil
	default:
		return fmt.Errorf("markdown: scan TOC from %T", src)
	}
	return json.Unmarshal(b, t)
}

// TocEntry is one heading of a body. The JSON names are how it is stored.
type TocEntry struct {
	Level  int    `json:"level"`  // 1..6
	Title  string `json:"title"`  // plain text of the heading
	Anchor string `json:"anchor"` // the id attribute on that heading in HTML (unique within the document)
}

// Render checks src against the bounds (MaxNesting and the other Max constants)
// and renders it: CommonMark with GitHub tables, strikethrough, task lists and
// autolinks, sanitised (no scripts, styles, frames or event handlers, and links
// only to http, https and mailto). A body beyond a bound returns a *LimitError;
// nothing else fails.
func Render(src string) (Doc, error) {
	source := []byte(src)
	var b budget
	// goldmark's own id generator is only to be had from a context of its own.
	pc := parser.NewContext(parser.WithIDs(prefixedIDs{parser.NewContext().IDs()}))
	pc.Set(budgetKey, &b)
	root := md.Parser().Parse(text.NewReader(source), parser.WithContext(pc))
	if b.err != nil {
		return Doc{}, b.err
	}
	if linkBytes(root) > MaxHTMLBytes {
		return Doc{}, errHTMLSize
	}
	var out cappedBuffer
	if err := md.Renderer().Render(&out, source, root); err != nil {
		return Doc{}, err // only cappedBuffer fails
	}
	clean := policy.SanitizeBytes(out.buf.Bytes())
	if len(clean) > MaxHTMLBytes {
		return Doc{}, errHTMLSize
	}
	d := summarize(root, source)
	d.HTML = string(clean)
	return d, nil
}

// Escaped is the Doc of a body beyond the bounds, which only a body stored before
// Render checked them can be: its source escaped in a <pre>, so that it stays
// readable and reading it stays cheap, counted and excerpted as plain text.
func Escaped(src string) Doc {
	var (
		counter wordCounter
		ex      excerptText
	)
	counter.write([]byte(src))
	counter.end()
	ex.write([]byte(src))
	return Doc{
		HTML:               "<pre>" + html.EscapeString(src) + "</pre>",
		Excerpt:            ex.excerpt(),
		WordCount:          counter.words + counter.cjk,
		ReadingTimeMinutes: readingTime(counter),
		TOC:                TOC{},
	}
}

// prefixedIDs keeps goldmark's heading ids, unique within a document, and puts
// idPrefix in front of them.
type prefixedIDs struct{ parser.IDs }

func (p prefixedIDs) Generate(value []byte, kind ast.NodeKind) []byte {
	return append([]byte(idPrefix), p.IDs.Generate(value, kind)...)
}

func (p prefixedIDs) Put(value []byte) {
	p.IDs.Put(bytes.TrimPrefix(value, []byte(idPrefix)))
}

// cappedBuffer fails a write that would take it past MaxHTMLBytes, so that an
// oversized body stops costing as soon as it is known to be refused: goldmark
// keeps walking the document, but its buffered writer drops everything after an
// error. It has no WriteString, which the buffered writer would call directly.
type cappedBuffer struct{ buf bytes.Buffer }

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > MaxHTMLBytes {
		return 0, errHTMLSize
	}
	return b.buf.Write(p)
}
