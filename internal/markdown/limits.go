package markdown

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// goldmark's running time is linear in most inputs, but several of its parsers
// re-read earlier input for every new marker, which makes some short bodies
// cost seconds. Render refuses a body that goes beyond any of these bounds, and
// checks each before goldmark does the expensive part: goldmark's first pass,
// which splits the body into blocks, is linear once nesting is capped, and
// the hooks below see every block the moment that pass finds it, before the
// quadratic work on its content. Real articles stay far below every bound.
const (
	// MaxNesting caps how deeply block quotes and list items nest. goldmark
	// re-reads a line's indentation once for every open container, so
	// ">>>>…" or "1. 1. 1. …" on one line is quadratic; real articles nest
	// three to five levels.
	MaxNesting = 16

	// MaxInlineWork caps, summed over paragraphs and headings, markers ×
	// tokens: markers are the brackets and emphasis runs that can close
	// something ("[", "]", "*", "_", "~"), tokens are the pieces goldmark's
	// inline parser makes (those markers, backtick runs, "<", "&", "\\", "!",
	// ":", "@", "www.", plus one per line). goldmark can walk back over every
	// earlier token of a paragraph for each marker (for an emphasis opener, a
	// link inside a link, the line a link label started on), so "[[[[…]]]]",
	// "*a_ *a_ …" or 25,000 lines of "[a]" are quadratic. A paragraph with a
	// dozen links and a dozen emphases scores about 3,000; the densest of
	// 1,500 real Markdown documents tried (a 55 KB README whose 750-cell
	// table of links is one paragraph) scores 530,000.
	MaxInlineWork = 2_000_000

	// MaxRescan caps, for each of four causes, the bytes goldmark reads
	// again: a link destination that is never closed (each "](" not followed
	// by a ")" reads to the end of its line), a "]" that does not end an
	// inline link (it copies the text back to its "["), a code span whose
	// backtick run is never matched (it reads to the end of its paragraph),
	// and a run of three or more tildes (the strikethrough parser reads the
	// rest of the run from each of its tildes). Real documents stay below
	// 100,000 of each.
	MaxRescan = 1_000_000

	// MaxTableCells caps the cells of all tables together. goldmark pads
	// every row to the header's width, so a wide header over many one-byte
	// rows makes a cell, which takes a few microseconds to render and
	// sanitise, per byte of input. The largest real table found has 750
	// cells.
	MaxTableCells = 10_000

	// MaxHTMLBytes caps the rendered HTML, which bounds the sanitiser's work
	// (about 45 ms a megabyte of dense markup) and what every read carries.
	// Real documents render to less than twice their size, so a
	// 100,000-character body to less than 200 KB. It is also checked before
	// rendering against the links' destinations and titles together: a
	// reference link repeats its definition's, so 4,000 uses of "[a]" and
	// a 50 KB definition ask for 200 MB.
	MaxHTMLBytes = 500_000
)

// LimitError reports a body that goes beyond one of the bounds above.
type LimitError struct {
	Reason string // short, lower case, for the author: "nests block quotes or lists deeper than 16 levels"
}

// Error returns the reason.
func (e *LimitError) Error() string { return e.Reason }

var (
	errNesting    = &LimitError{fmt.Sprintf("nests block quotes or lists deeper than %d levels", MaxNesting)}
	errInline     = &LimitError{"has paragraphs too dense with links, brackets or emphasis markers"}
	errLinkScan   = &LimitError{`has too many links whose destination is not closed with ")"`}
	errLabelScan  = &LimitError{`has too much text between "[" and "]"`}
	errCodeScan   = &LimitError{"has too many code spans whose backticks are not closed"}
	errTildeScan  = &LimitError{`has too many long runs of "~"`}
	errTableCells = &LimitError{fmt.Sprintf("has tables with more than %d cells", MaxTableCells)}
	errHTMLSize   = &LimitError{fmt.Sprintf("renders to more than %d KB of HTML", MaxHTMLBytes/1000)}
)

// budget adds up the costs of a document's inline content, block by block,
// against the bounds; err is the first bound the document went beyond.
type budget struct {
	work, linkScan, labelScan, codeScan, tildeScan, cells int

	ticks map[int]ticks // backtick runs of each length still looking for their closing run
	lines [][]byte      // reused for each block's lines
	open  []int         // reused for each block's open brackets
	err   *LimitError
}

type ticks struct{ n, sum int } // how many runs, the sum of their offsets

// inline adds the costs of one paragraph or heading, given its lines, and
// reports the first bound it takes the document beyond.
func (b *budget) inline(lines ...[]byte) *LimitError {
	if b.err != nil {
		return b.err
	}
	if b.ticks == nil {
		b.ticks = map[int]ticks{}
	}
	var count, size, markers, tokens, tableCols int
	// Offsets of the "[" goldmark may still hold open, and of the last
	// character that may end a link label or hide one (in a code span, an
	// HTML tag, an autolink or a link destination).
	open, special := b.open[:0], -1
	for _, line := range lines {
		count++
		escaped := false
		for i := 0; i < len(line); i++ {
			ch, at := line[i], size+i
			switch ch {
			case '[':
				markers++
				tokens++
				if !escaped {
					open = append(open, at)
				}
			case ']':
				markers++
				tokens++
				link := false
				if i+1 < len(line) && line[i+1] == '(' {
					n, closed := destinationScan(line[i+2:])
					if b.linkScan += n; b.linkScan > MaxRescan {
						b.err = errLinkScan
						return b.err
					}
					link = closed
				}
				// A "]" that ends no inline link copies the text back to the
				// "[" it closes: the last one if nothing in between can have
				// ended or hidden it, otherwise at most the first one open.
				if n := len(open); n > 0 && !escaped {
					if special < open[n-1] {
						if !link {
							b.labelScan += at - open[n-1]
						}
						open = open[:n-1]
					} else if !link {
						b.labelScan += at - open[0]
					}
				}
				special = at
			case '*', '_', '~':
				j := i + 1
				for j < len(line) && line[j] == ch {
					j++
				}
				tokens++
				// An underscore run inside a word can neither open nor close.
				if ch != '_' || i == 0 || j == len(line) || !isAlnum(line[i-1]) || !isAlnum(line[j]) {
					markers++
				}
				if n := j - i; ch == '~' && n > 2 {
					b.tildeScan += n * (n + 1) / 2
				}
				i = j - 1
			case '`':
				j := i + 1
				for j < len(line) && line[j] == '`' {
					j++
				}
				tokens++
				b.backticks(at, j-i, escaped)
				special = size + j - 1
				i = j - 1
			case 'w':
				if bytes.HasPrefix(line[i:], []byte("www.")) {
					tokens++ // a GFM autolink
				}
			case '<', '\\':
				tokens++
				special = at
			case '>', '(', ')':
				special = at
			case '!', '&', ':', '@':
				tokens++
			}
			escaped = ch == '\\' && !escaped
			// tokens ≥ markers, so the block's work will be at least
			// markers²: a flood of brackets is refused before it ends.
			if markers*markers > MaxInlineWork-b.work {
				b.err = errInline
				return b.err
			}
		}
		// goldmark makes a table of a paragraph from its first valid
		// delimiter row on, with every later line a row as wide as the
		// header. isTableDelimiter also takes rows goldmark rejects, so a
		// line like one is counted both as the header of a table that may
		// start there and as a row of the widest one that may have started.
		if count > 1 && isTableDelimiter(line) {
			tableCols = max(tableCols, tableColumns(line))
		}
		b.cells += tableCols
		size += len(line)
	}
	b.open = open
	b.work += markers * (tokens + count)
	for _, t := range b.ticks {
		b.codeScan += t.n*size - t.sum // never closed: read to the paragraph's end
	}
	clear(b.ticks)
	switch {
	case b.work > MaxInlineWork:
		b.err = errInline
	case b.labelScan > MaxRescan:
		b.err = errLabelScan
	case b.codeScan > MaxRescan:
		b.err = errCodeScan
	case b.tildeScan > MaxRescan:
		b.err = errTildeScan
	case b.cells > MaxTableCells:
		b.err = errTableCells
	}
	return b.err
}

// backticks accounts for a run of n backticks at offset at of a paragraph.
// From every run that opens a code span goldmark reads on to the next run of
// the same length, so each run ends the reads of the earlier runs of its
// length and starts one of its own; after a backslash it opens one shorter.
func (b *budget) backticks(at, n int, escaped bool) {
	if t, ok := b.ticks[n]; ok {
		b.codeScan += t.n*at - t.sum
		delete(b.ticks, n)
	}
	if escaped {
		n--
	}
	if n > 0 {
		t := b.ticks[n]
		b.ticks[n] = ticks{t.n + 1, t.sum + at}
	}
}

var budgetKey = parser.NewContextKey()

// newParser is goldmark's default parser with hooks that keep the budget in
// the parser context: block quotes and lists refuse to nest beyond
// MaxNesting, and headings and paragraphs are measured before their inline
// content is parsed. Once the budget is exceeded they are emptied, so that a
// refused body costs no more than goldmark's linear first pass.
func newParser() parser.Parser {
	blocks := parser.DefaultBlockParsers()
	atx := reflect.TypeOf(parser.NewATXHeadingParser())
	for i, b := range blocks {
		switch p := b.Value.(parser.BlockParser); {
		case p == parser.NewBlockquoteParser(), p == parser.NewListParser(), p == parser.NewListItemParser():
			blocks[i].Value = container{p}
		case reflect.TypeOf(p) == atx:
			blocks[i].Value = heading{p}
		}
	}
	return parser.NewParser(
		parser.WithBlockParsers(blocks...),
		parser.WithInlineParsers(parser.DefaultInlineParsers()...),
		// Before the others: link reference definitions and tables are
		// quadratic on some paragraphs too.
		parser.WithParagraphTransformers(append(parser.DefaultParagraphTransformers(), util.Prioritized(guard{}, 0))...),
	)
}

func budgetOf(pc parser.Context) *budget {
	b, _ := pc.Get(budgetKey).(*budget)
	return b
}

// container wraps the parsers of block quotes, lists and list items. goldmark
// re-reads a line's indentation for each container it is in, and for each it
// opens, so it must not open one beyond MaxNesting.
type container struct{ parser.BlockParser }

func (c container) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	depth := 1
	for n := parent; n != nil; n = n.Parent() {
		if k := n.Kind(); k == ast.KindBlockquote || k == ast.KindListItem {
			depth++
		}
	}
	line, pos := reader.Position()
	node, state := c.BlockParser.Open(parent, reader, pc)
	if node == nil || depth <= MaxNesting {
		return node, state
	}
	// Refused, the container's marker stays text; goldmark expects a parser
	// that opens nothing to have read nothing.
	reader.SetPosition(line, pos)
	if b := budgetOf(pc); b != nil && b.err == nil {
		b.err = errNesting
	}
	return nil, parser.NoChildren
}

// heading wraps the ATX heading parser: a heading's text is parsed like a
// paragraph's.
type heading struct{ parser.BlockParser }

func (h heading) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	node, state := h.BlockParser.Open(parent, reader, pc)
	if b := budgetOf(pc); node != nil && b != nil && b.measure(node.Lines(), reader.Source()) != nil {
		node.Lines().Clear()
	}
	return node, state
}

// SetOption passes options such as parser.WithAutoHeadingID on.
func (h heading) SetOption(name parser.OptionName, value any) {
	if o, ok := h.BlockParser.(parser.SetOptioner); ok {
		o.SetOption(name, value)
	}
}

// guard is a paragraph transformer; it runs before the other transformers,
// and paragraphs are parsed inline only after all of them.
type guard struct{}

func (guard) Transform(p *ast.Paragraph, reader text.Reader, pc parser.Context) {
	if b := budgetOf(pc); b != nil && b.measure(p.Lines(), reader.Source()) != nil {
		p.Parent().RemoveChild(p.Parent(), p)
	}
}

// measure adds a block's lines to the budget.
func (b *budget) measure(lines *text.Segments, source []byte) *LimitError {
	b.lines = b.lines[:0]
	for i := range lines.Len() {
		s := lines.At(i)
		b.lines = append(b.lines, source[s.Start:s.Stop])
	}
	return b.inline(b.lines...)
}

// linkBytes returns how many bytes of destination and title the links and
// images of a parsed document will render, with the reference links' taken
// from their definitions.
func linkBytes(root ast.Node) int {
	n := 0
	_ = ast.Walk(root, func(node ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			switch l := node.(type) {
			case *ast.Link:
				n += len(l.Destination) + len(l.Title)
			case *ast.Image:
				n += len(l.Destination) + len(l.Title)
			}
		}
		return ast.WalkContinue, nil
	})
	return n
}

// destinationScan returns how far goldmark reads a link destination that
// starts at b, the text after "](", before it gives up or finds its end, and
// whether a ")" closes the link there.
func destinationScan(b []byte) (n int, closed bool) {
	i := 0
	for i < len(b) && util.IsSpace(b[i]) {
		i++
	}
	if i < len(b) && b[i] == '<' {
		for i++; i < len(b); i++ {
			if b[i] == '\\' && i+1 < len(b) && util.IsPunct(b[i+1]) {
				i++
			} else if b[i] == '>' {
				return i, i+1 < len(b) && b[i+1] == ')'
			}
		}
		return i, false
	}
	opened := 0
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\\' && i+1 < len(b) && util.IsPunct(b[i+1]):
			i++
		case c == '(':
			opened++
		case c == ')':
			opened--
			if opened < 0 {
				return i, true
			}
		case util.IsSpace(c):
			return i, false
		}
	}
	return i, false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isTableDelimiter reports whether b may be a table's delimiter row: goldmark
// also wants its columns well formed.
func isTableDelimiter(b []byte) bool {
	dashesOnly := true
	for _, c := range b {
		if c != '-' {
			dashesOnly = false
		}
		if !util.IsSpace(c) && c != '-' && c != '|' && c != ':' {
			return false
		}
	}
	return !dashesOnly
}

// tableColumns counts the columns of a delimiter row as goldmark does.
func tableColumns(b []byte) int {
	b = bytes.TrimSpace(b)
	n := bytes.Count(b, []byte{'|'}) + 1
	if bytes.HasPrefix(b, []byte{'|'}) {
		n--
	}
	if len(b) > 1 && bytes.HasSuffix(b, []byte{'|'}) {
		n--
	}
	return max(n, 0)
}
