package markdown

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHTML(t *testing.T) {
	for _, tc := range []struct {
		name, src    string
		want, reject []string
	}{
		{"heading and emphasis", "# Hi\n\n*there*", []string{"<h1", "Hi</h1>", "<em>there</em>"}, nil},
		{"table", "| a | b |\n|---|---|\n| 1 | 2 |", []string{"<table>", "<td>1</td>"}, nil},
		{"script tag", "hello <script>alert(1)</script>", []string{"hello"}, []string{"<script", "alert(1)</script>"}},
		{"event handler", `<img src="x" onerror="alert(1)">`, nil, []string{"onerror"}},
		{"javascript link", "[x](javascript:alert(1))", nil, []string{"javascript:"}},
		{"safe link", "[x](https://example.com)", []string{`href="https://example.com"`, "nofollow"}, nil},
		{"iframe", `<iframe src="https://evil.example"></iframe>`, nil, []string{"<iframe"}},
		{"style", "<style>body{}</style>text", nil, []string{"<style"}},
		{"heading id", "## Hello, World", []string{`<h2 id="user-content-hello-world">Hello, World</h2>`}, nil},
		{"code language", "```go\nx := 1\n```", []string{`<code class="language-go">x := 1`}, nil},
		{"code language with markup", "```\"><script>\nx\n```", []string{"<code>x"}, []string{"<script", "class="}},
		{"ids in raw HTML", `<a id="location">x</a>` + "\n\n" + `<h2 id="cookie">y</h2>`, nil, []string{`id="location"`, `id="cookie"`}},
		{"refused body", strings.Repeat(">", 100) + "<b>", []string{"<pre>&gt;&gt;", "&lt;b&gt;</pre>"}, []string{"<b>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What is stored: the rendering, or for a body beyond the bounds its escaped text.
			doc, err := Render(tc.src)
			if err != nil {
				doc = Escaped(tc.src)
			}
			got := doc.HTML
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("HTML(%q) = %q, want it to contain %q", tc.src, got, w)
				}
			}
			for _, r := range tc.reject {
				if strings.Contains(got, r) {
					t.Errorf("HTML(%q) = %q, must not contain %q", tc.src, got, r)
				}
			}
		})
	}
}

func TestTOC(t *testing.T) {
	d, err := Render("# One\n\ntext\n\n## Two *em* `code`\n\n### Two em code\n\n> ## One\n\nSetext\n------\n\n# 日本語\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []TocEntry{
		{1, "One", "user-content-one"},
		{2, "Two em code", "user-content-two-em-code"},
		{3, "Two em code", "user-content-two-em-code-1"},
		{2, "One", "user-content-one-1"},
		{2, "Setext", "user-content-setext"},
		{1, "日本語", "user-content-heading"},
	}
	if len(d.TOC) != len(want) {
		t.Fatalf("TOC = %+v, want %+v", d.TOC, want)
	}
	for i, e := range d.TOC {
		if e != want[i] {
			t.Errorf("TOC[%d] = %+v, want %+v", i, e, want[i])
		}
		if !strings.Contains(d.HTML, ` id="`+e.Anchor+`"`) {
			t.Errorf("HTML has no id %q: %s", e.Anchor, d.HTML)
		}
	}
}

func TestWordsAndReadingTime(t *testing.T) {
	words := func(n int) string { return strings.Repeat("word ", n) }
	for _, tc := range []struct {
		name, src      string
		count, minutes int
	}{
		{"empty", "", 0, 1},
		{"prose", "Hello, world! It's a **bold** `code` [link](https://x.example) — see www.example.com.", 9, 1},
		{"code blocks and alt text are not prose", "one\n\n```\ntwo three\n```\n\n    four\n\n![five six](x.png)", 1, 1},
		{"words joined by markup are one", "**in**side and a\\*b", 3, 1},
		{"265 words", words(265), 265, 1},
		{"266 words", words(266), 266, 2},
		{"CJK counted by character", "日本語のテキスト、한국어。", 11, 1},
		{"500 CJK characters", strings.Repeat("字", 500), 500, 1},
		{"501 CJK characters", strings.Repeat("字", 501), 501, 2},
		// 265/265 + 500/500 = 2 exactly; one more of either tips it to 3.
		{"mixed", words(265) + strings.Repeat("字", 500), 765, 2},
		{"mixed, one more", words(265) + strings.Repeat("字", 501), 766, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Render(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if d.WordCount != tc.count || d.ReadingTimeMinutes != tc.minutes {
				t.Errorf("WordCount, ReadingTimeMinutes = %d, %d, want %d, %d", d.WordCount, d.ReadingTimeMinutes, tc.count, tc.minutes)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("alpha bravo charlie delta echo foxtrot golf ", 10)
	for _, tc := range []struct {
		name, src, want string
	}{
		{"short", "Just a line.", "Just a line."},
		{"plain text", "# Title\n\nSome **bold**, *em*, `code`, [link](https://x.example), <b>html</b>, AT&amp;T and &#65;.",
			"Some bold, em, code, link, html, AT&T and A."},
		{"paragraphs only, white space collapsed", "# Heading\n\n- item\n\nfirst\nline\n\n> quoted   text\n\n![alt](x.png) last",
			"first line quoted text last"},
		{"no paragraphs", "# Only a heading\n\n- one\n- two", "Only a heading one two"},
		{"cut on a word boundary", long, strings.TrimSpace(long[:strings.LastIndex(long[:201], " ")]) + "…"},
		{"CJK cut between characters", strings.Repeat("字", 300), strings.Repeat("字", 200) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Render(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if d.Excerpt != tc.want {
				t.Errorf("Excerpt = %q, want %q", d.Excerpt, tc.want)
			}
			if n := utf8.RuneCountInString(d.Excerpt); n > 201 {
				t.Errorf("Excerpt has %d characters", n)
			}
			if strings.ContainsAny(d.Excerpt, "*#<>`[") {
				t.Errorf("Excerpt %q has markup in it", d.Excerpt)
			}
		})
	}
}

func TestRenderConcurrently(t *testing.T) {
	src := repeat(article, 20_000)
	want, err := Render(src)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan string, 8)
	for range 8 {
		go func() {
			got, err := Render(src)
			switch {
			case err != nil:
				errs <- err.Error()
			case got.HTML != want.HTML || got.Excerpt != want.Excerpt || len(got.TOC) != len(want.TOC):
				errs <- "a different Doc"
			default:
				errs <- ""
			}
		}()
	}
	for range 8 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
