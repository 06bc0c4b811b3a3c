package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"inkwell/internal/apperr"
	"inkwell/internal/apptest"
	"inkwell/internal/dbmigrate"
	"inkwell/internal/markdown"
)

const readModelFields = `slug body bodyHTML excerpt wordCount readingTimeMinutes toc { level title anchor }`

type readModel struct {
	Slug, Body, BodyHTML, Excerpt string
	WordCount, ReadingTimeMinutes int
	Toc                           []struct {
		Level         int
		Title, Anchor string
	}
}

func readArticleModel(t *testing.T, e *apptest.Env, slug string) readModel {
	t.Helper()
	var out struct{ Article readModel }
	e.MustQuery(t, "", `query($s: String!) { article(slug: $s) { `+readModelFields+` } }`, map[string]any{"s": slug}, &out)
	return out.Article
}

func TestArticleReadModel(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	words := strings.Repeat("word ", 600) // 600 words: 3 minutes at 265 a minute
	body := "# Intro\n\nFirst *paragraph* with [a link](https://example.com) and " + words + "\n\n" +
		"## Details\n\n```go\nfunc main() {}\n```\n\n## Details\n\n### Deep `code` title\n\nEnd."
	var out struct {
		CreateArticle struct{ Article readModel }
	}
	e.MustQuery(t, alice.Token, `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { `+readModelFields+` } } }`,
		map[string]any{"in": map[string]any{"title": "Read model", "description": "d", "body": body, "tags": []string{}}}, &out)
	got := out.CreateArticle.Article

	wantToc := []struct {
		level         int
		title, anchor string
	}{
		{1, "Intro", "user-content-intro"},
		{2, "Details", "user-content-details"},
		{2, "Details", "user-content-details-1"},
		{3, "Deep code title", "user-content-deep-code-title"},
	}
	if len(got.Toc) != len(wantToc) {
		t.Fatalf("toc = %+v, want %d entries", got.Toc, len(wantToc))
	}
	for i, w := range wantToc {
		g := got.Toc[i]
		if g.Level != w.level || g.Title != w.title || g.Anchor != w.anchor {
			t.Errorf("toc[%d] = %+v, want %+v", i, g, w)
		}
		if !strings.Contains(got.BodyHTML, `id="`+g.Anchor+`"`) {
			t.Errorf("bodyHTML has no heading with id %q: %s", g.Anchor, got.BodyHTML[:min(200, len(got.BodyHTML))])
		}
	}
	if !strings.Contains(got.BodyHTML, `<code class="language-go">`) {
		t.Error("bodyHTML lost the code block's language")
	}
	// "Intro" + "First paragraph with a link and" (6) + 600 + "Details" ×2 + "Deep code
	// title" (3) + "End" = 613; the code block is left out.
	if got.WordCount != 613 || got.ReadingTimeMinutes != 3 {
		t.Errorf("wordCount %d, readingTimeMinutes %d; want 613 and 3", got.WordCount, got.ReadingTimeMinutes)
	}
	if !strings.HasPrefix(got.Excerpt, "First paragraph with a link and word word") || !strings.HasSuffix(got.Excerpt, "…") ||
		len([]rune(got.Excerpt)) > 201 || strings.ContainsAny(got.Excerpt, "*[]<>#") {
		t.Errorf("excerpt = %q, want the first paragraph's plain text cut near 200 characters with …", got.Excerpt)
	}
	if r := readArticleModel(t, e, got.Slug); r.BodyHTML != got.BodyHTML || r.Excerpt != got.Excerpt {
		t.Error("a read answers another read model than the write did")
	}

	t.Run("a new body renders anew", func(t *testing.T) {
		e.MustQuery(t, alice.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, body: "只有中文的句子"}) { article { slug } } }`,
			map[string]any{"s": got.Slug}, &map[string]any{})
		r := readArticleModel(t, e, got.Slug)
		if r.WordCount != 7 || r.ReadingTimeMinutes != 1 || len(r.Toc) != 0 || r.Excerpt != "只有中文的句子" || !strings.Contains(r.BodyHTML, "只有中文的句子") {
			t.Errorf("after the update: %+v", r)
		}
	})
}

// Finding 1 of issue 12, the stored CPU bomb: the bodies an outside review stored, each of
// which cost seconds to render on every
// read, are refused when written, with the field named and nothing changed.
func TestStoredCPUBombInMarkdown(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Kept")
	for _, tc := range []struct{ name, body string }{
		{"nested block quotes", strings.Repeat(">", 100_000)},
		{"spaced block quotes", strings.Repeat("> ", 50_000)},
		{"unclosed links", strings.Repeat("[a](", 25_000)},
		{"nested ordered lists on a line", strings.Repeat("1. ", 33_000)},
		{"nested indented lists", func() string {
			var b strings.Builder
			for i := range 40 {
				b.WriteString(strings.Repeat("  ", i) + "- item\n")
			}
			return b.String()
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			in := map[string]any{"title": "Bomb " + tc.name, "description": "", "body": tc.body, "tags": []string{}}
			r := e.Query(t, alice.Token, `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { slug } } }`, map[string]any{"in": in})
			if r.Code() != string(apperr.CodeBadUserInput) || len(r.Errors[0].Extensions.Fields["body"]) == 0 {
				t.Fatalf("create: %s, want BAD_USER_INPUT on body", r.Body)
			}
			r = e.Query(t, alice.Token, `mutation($s: String!, $b: String!) { updateArticle(input: {slug: $s, body: $b}) { article { slug } } }`,
				map[string]any{"s": art.Slug, "b": tc.body})
			if r.Code() != string(apperr.CodeBadUserInput) || len(r.Errors[0].Extensions.Fields["body"]) == 0 {
				t.Fatalf("update: %s, want BAD_USER_INPUT on body", r.Body)
			}
			if after := e.Snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("rows changed: %v -> %v", before, after)
			}
			if got := readArticleModel(t, e, art.Slug); !strings.Contains(got.Body, "Text.") {
				t.Errorf("the article's body changed to %.60q", got.Body)
			}
		})
	}
}

// bodyHTML is read as stored: a read never renders, whatever the body. Rows from before
// the read model (or from an older renderer) are rendered by the migration step, once,
// by whichever instance gets to them; a stored body beyond today's bounds is escaped.
func TestArticleReadModelStoredAndBackfilled(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Stored")
	ctx := context.Background()

	if _, err := e.DB.ExecContext(ctx, `UPDATE articles SET body_html = '<p>as stored</p>' WHERE slug = $1`, art.Slug); err != nil {
		t.Fatal(err)
	}
	if got := readArticleModel(t, e, art.Slug); got.BodyHTML != "<p>as stored</p>" {
		t.Fatalf("bodyHTML = %q, want the stored HTML", got.BodyHTML)
	}

	// Rows as an older version left them: no read model yet.
	if _, err := e.DB.ExecContext(ctx, `INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
		SELECT 'old-' || i, 'Old ' || i, '', '## Part ' || i || E'\n\nSome *old* text.', author_id, now(), now()
		  FROM generate_series(1, 450) i, (SELECT author_id FROM articles WHERE slug = $1) a`, art.Slug); err != nil {
		t.Fatal(err)
	}
	bomb := strings.Repeat(">", 100_000)
	if _, err := e.DB.ExecContext(ctx, `INSERT INTO articles (slug, title, description, body, author_id, created_at, updated_at)
		SELECT 'old-bomb', 'Old bomb', '', $2, author_id, now(), now() FROM articles WHERE slug = $1`, art.Slug, bomb); err != nil {
		t.Fatal(err)
	}
	// Two instances starting at once both run the step.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = dbmigrate.RenderArticles(ctx, e.DB) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var left int
	if err := e.DB.QueryRowContext(ctx, `SELECT count(*) FROM articles WHERE render_version <> $1`, markdown.Version).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d articles not rendered", left)
	}
	if got := readArticleModel(t, e, "old-7"); got.BodyHTML != "<h2 id=\"user-content-part-7\">Part 7</h2>\n<p>Some <em>old</em> text.</p>\n" ||
		got.WordCount != 5 || len(got.Toc) != 1 || got.Toc[0].Anchor != "user-content-part-7" {
		t.Errorf("backfilled article: %+v", got)
	}
	if got := readArticleModel(t, e, "old-bomb"); got.BodyHTML != "<pre>"+strings.Repeat("&gt;", 100_000)+"</pre>" || len(got.Toc) != 0 {
		t.Errorf("backfilled bomb: bodyHTML %.40q…, toc %v; want its text escaped in a <pre>", got.BodyHTML, got.Toc)
	}
	// The stored HTML of a current row is left alone.
	if got := readArticleModel(t, e, art.Slug); got.BodyHTML != "<p>as stored</p>" {
		t.Errorf("a row of the current version was rendered again: %q", got.BodyHTML)
	}
}
