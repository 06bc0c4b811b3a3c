package markdown

import (
	"fmt"
	"strings"
)

// shape is a kind of body that made goldmark slow, or a dense ordinary one to
// compare with.
type shape struct {
	name string
	body func(n int) string // about n bytes of it
	// deepest, for the shapes refused for nesting however short, is n bytes of
	// lines nested MaxNesting deep, the worst such body that is accepted.
	deepest func(n int) string
}

// repeat repeats unit to fill n bytes.
func repeat(unit string, n int) string {
	return strings.Repeat(unit, max(n/len(unit), 1))
}

// lines joins line(i), i = 0, 1, …, while the body stays within n bytes.
func lines(n int, line func(i int) string) string {
	var b strings.Builder
	for i := 0; ; i++ {
		l := line(i) + "\n"
		if b.Len()+len(l) > n {
			return b.String()
		}
		b.WriteString(l)
	}
}

// nested repeats marker MaxNesting times on each line.
func nested(marker string) func(n int) string {
	return func(n int) string { return repeat(strings.Repeat(marker, MaxNesting)+"a\n", n) }
}

var shapes = []shape{
	// From the review.
	{name: "quotes >>>", body: func(n int) string { return repeat(">", n) }, deepest: nested(">")},
	{name: "quotes > > >", body: func(n int) string { return repeat("> ", n) }, deepest: nested("> ")},
	{name: "link openers [a](", body: func(n int) string { return repeat("[a](", n) }},
	{name: "ordered 1. 1. 1.", body: func(n int) string { return repeat("1. ", n) }, deepest: nested("1. ")},
	{name: "nested indented lists", body: func(n int) string {
		return lines(n, func(i int) string { return strings.Repeat("  ", i) + "- a" })
	}, deepest: func(n int) string {
		return lines(n, func(i int) string { return strings.Repeat("  ", i%MaxNesting) + "- a" })
	}},

	// Nesting in other forms.
	{name: "quote and list > - > -", body: func(n int) string { return repeat("> - ", n) }, deepest: func(n int) string {
		return repeat(strings.Repeat("> - ", MaxNesting/2)+"a\n", n)
	}},
	{name: "quotes with tabs", body: func(n int) string { return repeat(">\t", n) }, deepest: nested(">\t")},
	{name: "nested ordered lists", body: func(n int) string {
		return lines(n, func(i int) string { return strings.Repeat("   ", i) + "1. a" })
	}, deepest: func(n int) string {
		return lines(n, func(i int) string { return strings.Repeat("   ", i%MaxNesting) + "1. a" })
	}},
	{name: "deep list, then lines inside it", body: func(n int) string {
		return strings.Repeat("1. ", 1000) + "a\n" + lines(n-3002, func(int) string { return strings.Repeat(" ", 3000) + "b" })
	}, deepest: func(n int) string {
		return strings.Repeat("1. ", MaxNesting) + "a\n" + lines(n, func(int) string { return strings.Repeat(" ", 3*MaxNesting) + "b" })
	}},

	// Links and brackets.
	{name: "link openers [](", body: func(n int) string { return repeat("[](", n) }},
	{name: "link openers [a](b", body: func(n int) string { return repeat("[a](b", n) }},
	{name: "link openers [a](<b", body: func(n int) string { return repeat("[a](<b", n) }},
	{name: "image openers ![a](", body: func(n int) string { return repeat("![a](", n) }},
	{name: "brackets [[[", body: func(n int) string { return repeat("[", n) }},
	{name: "nested brackets [[[ ]]]", body: func(n int) string { return strings.Repeat("[", n/2) + strings.Repeat("]", n/2) }},
	{name: "brackets around code spans", body: func(n int) string {
		return strings.Repeat("[", n/100) + repeat("`a`", n-n/50) + strings.Repeat("]", n/100)
	}},
	{name: "brackets around raw HTML", body: func(n int) string {
		return strings.Repeat("[", n/100) + repeat("<b>", n-n/50) + strings.Repeat("]", n/100)
	}},
	{name: "labels on lines [a]", body: func(n int) string { return repeat("[a]\n", n) }},
	{name: "reference links on lines", body: func(n int) string { return "[a]: /u\n\n" + repeat("[a]\n", n-9) }},
	{name: "reference definitions", body: func(n int) string { return repeat("[a]: /u\n", n) }},
	{name: "empty definitions [a]:", body: func(n int) string { return repeat("[a]:\n", n) }},
	{name: "links after emphasis", body: func(n int) string { return repeat("*a ", n/30) + repeat("[_](b) ", n-n/30) }},
	{name: "links around emphasis", body: func(n int) string { return repeat("[*a*](b) ", n) }},
	{name: "references to a long definition", body: func(n int) string {
		return "[a]: /" + strings.Repeat("x", n/2) + "\n\n" + repeat("[a] ", n/2)
	}},

	// Emphasis and strikethrough.
	{name: "stars ***", body: func(n int) string { return repeat("*", n) }},
	{name: "mismatched *a_", body: func(n int) string { return repeat("*a_ ", n) }},
	{name: "multiple of three a**b c*", body: func(n int) string { return "a**b" + repeat("c* ", n-4) }},
	{name: "mixed *_~", body: func(n int) string { return repeat("*_~ ", n) }},
	{name: "tildes a~~~", body: func(n int) string { return "a" + strings.Repeat("~", n-1) }},

	// Code spans, autolinks, raw HTML.
	{name: "backtick runs of growing length", body: func(n int) string {
		var b strings.Builder
		for i := 1; b.Len()+i+1 <= n; i++ {
			b.WriteString("e" + strings.Repeat("`", i))
		}
		return b.String()
	}},
	{name: "escaped backticks \\``", body: func(n int) string { return repeat("\\``", n) }},
	{name: "less-than <<<", body: func(n int) string { return repeat("<", n) }},
	{name: "open tags <a b=", body: func(n int) string { return repeat("<a b=", n) }},
	{name: "open tags on lines <a", body: func(n int) string { return repeat("<a\n", n) }},
	{name: "autolink openers <http:", body: func(n int) string { return repeat("<http:", n) }},
	{name: "comments <!--", body: func(n int) string { return repeat("a<!--", n) }},
	{name: "www. autolinks", body: func(n int) string { return repeat("www.a ", n) }},

	// Tables.
	{name: "wide table over one-byte rows", body: func(n int) string {
		head := strings.Repeat("|a", 100) + "\n" + strings.Repeat("|-", 100) + "\n"
		return head + repeat("|\n", n-len(head))
	}},
	{name: "wide table header", body: func(n int) string {
		return strings.Repeat("|a", n/4) + "\n" + strings.Repeat("|-", n/4)
	}},

	// Dense but linear, to compare with.
	{name: "headings", body: func(n int) string { return repeat("# a\n", n) }},
	{name: "list items", body: func(n int) string { return repeat("- a\n", n) }},
	{name: "links in paragraphs", body: func(n int) string { return repeat("[a](b)\n\n", n) }},
	{name: "entities &", body: func(n int) string { return repeat("&", n) }},
	{name: "article", body: func(n int) string { return repeat(article, n) }},
}

// article is an ordinary stretch of an article body.
var article = fmt.Sprintf(`## Setting up the project

Before we start, make sure you have **Go 1.22** or later installed; %[1]sgo version%[1]s tells you.
If you are new to Go, the [tour](https://go.dev/tour) is a good place to begin, and
[Effective Go](https://go.dev/doc/effective_go) explains the idioms below. We build a small
*publishing* service with a GraphQL API, a Postgres database and a few background jobs.

> Everything here works on Linux and macOS. On Windows, use WSL: some snippets
> assume a POSIX shell.

- [goldmark](https://github.com/yuin/goldmark) renders markdown
- [bluemonday](https://github.com/microcosm-cc/bluemonday) sanitises HTML
  - with a policy of its own
  - and links that open nothing they should not

%[1]s%[1]s%[1]sgo
func main() {
	if err := run(config.Load()); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %%v", err)
	}
}
%[1]s%[1]s%[1]s

| Option | Default | Meaning |
|--------|---------|---------|
| %[1]s-addr%[1]s | %[1]s:8080%[1]s | where to listen |
| %[1]s-db%[1]s | none | the Postgres URL |

The handler is _deliberately_ small: it decodes the request, calls the service and writes the
response. Everything else lives in middleware, which keeps the handler easy to test.

`, "`")
