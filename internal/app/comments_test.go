package app_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/globalid"
)

const (
	acsCommentFields = `id body createdAt updatedAt author { id username } article { id slug }`
	acsAddComment    = `mutation($in: AddCommentInput!) { addComment(input: $in) { comment { ` + acsCommentFields + ` } } }`
	acsDeleteComment = `mutation($id: ID!) { deleteComment(input: {id: $id}) { deletedCommentId } }`
	acsReadComments  = `query($s: String!, $first: Int, $last: Int, $after: String) { article(slug: $s) {
		comments(first: $first, last: $last, after: $after) {
			nodes { id body author { username } }
			pageInfo { hasNextPage hasPreviousPage endCursor }
			totalCount } } }`
)

type acsComment struct {
	ID, Body, CreatedAt, UpdatedAt string
	Author                         struct{ ID, Username string }
	Article                        struct{ ID, Slug string }
}

type acsCommentPage struct {
	Nodes []struct {
		ID, Body string
		Author   struct{ Username string }
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		EndCursor                    string
	}
	TotalCount int
}

func (p acsCommentPage) bodies() []string {
	out := []string{}
	for _, n := range p.Nodes {
		out = append(out, n.Body)
	}
	return out
}

// acsComments reads a page of an article's comments; vars holds first, last or after.
func acsComments(t testing.TB, e *apptest.Env, slug string, vars map[string]any) acsCommentPage {
	t.Helper()
	all := map[string]any{"s": slug}
	for k, v := range vars {
		all[k] = v
	}
	var out struct {
		Article struct{ Comments acsCommentPage }
	}
	e.MustQuery(t, "", acsReadComments, all, &out)
	return out.Article.Comments
}

func TestCommentAdd(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	a := e.CreateArticle(t, alice, "Discussed")
	before := time.Now().Add(-time.Minute)

	var out struct{ AddComment struct{ Comment acsComment } }
	e.MustQuery(t, bob.Token, acsAddComment,
		map[string]any{"in": map[string]any{"articleSlug": a.Slug, "body": "  Nice <b>post</b>!\n"}}, &out)
	c := out.AddComment.Comment

	if c.Body != "Nice <b>post</b>!" {
		t.Errorf("body = %q, want it trimmed and otherwise as sent", c.Body)
	}
	if c.Author.ID != bob.ID || c.Author.Username != "bob" {
		t.Errorf("author = %+v, want bob (%s)", c.Author, bob.ID)
	}
	if c.Article.ID != a.ID || c.Article.Slug != a.Slug {
		t.Errorf("article = %+v, want %s (%s)", c.Article, a.ID, a.Slug)
	}
	if created := acsTime(t, c.CreatedAt); created.Before(before) || created.After(time.Now().Add(time.Minute)) {
		t.Errorf("createdAt = %s, want about now", c.CreatedAt)
	}
	if c.UpdatedAt != c.CreatedAt {
		t.Errorf("updatedAt = %s, want createdAt %s", c.UpdatedAt, c.CreatedAt)
	}
	if typ, _, ok := globalid.Decode(c.ID); !ok || typ != globalid.TypeComment {
		t.Errorf("id = %q, want a Comment global id", c.ID)
	}
	if n := e.Count(t, "comments"); n != 1 {
		t.Errorf("comments rows = %d, want 1", n)
	}

	// A later read sees exactly what the mutation answered.
	var read struct{ Node *acsComment }
	e.MustQuery(t, "", `query($id: ID!) { node(id: $id) { ... on Comment { `+acsCommentFields+` } } }`,
		map[string]any{"id": c.ID}, &read)
	if !reflect.DeepEqual(read.Node, &c) {
		t.Errorf("node = %+v, want %+v", read.Node, c)
	}
}

func TestCommentAddErrors(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	a := e.CreateArticle(t, alice, "Discussed")
	for _, tc := range []struct {
		name, token, slug, body string
		want                    string
		fields                  []string
	}{
		{"blank body", alice.Token, a.Slug, "", "BAD_USER_INPUT", []string{"body"}},
		{"body of spaces", alice.Token, a.Slug, " \n\t ", "BAD_USER_INPUT", []string{"body"}},
		{"body over 5000 characters", alice.Token, a.Slug, strings.Repeat("x", 5001), "BAD_USER_INPUT", []string{"body"}},
		{"unknown article", alice.Token, "missing", "hello", "NOT_FOUND", nil},
		{"anonymous", "", a.Slug, "hello", "UNAUTHENTICATED", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			res := e.Query(t, tc.token, acsAddComment, map[string]any{"in": map[string]any{"articleSlug": tc.slug, "body": tc.body}})
			acsWantError(t, res, tc.want, tc.fields...)
			acsSameRows(t, e, before)
		})
	}
	t.Run("body of 5000 characters", func(t *testing.T) {
		e.AddComment(t, alice, a.Slug, strings.Repeat("x", 5000))
	})
}

func TestCommentDelete(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	carol := e.SignUp(t, "carol")
	a := e.CreateArticle(t, alice, "Discussed")
	kept := e.AddComment(t, alice, a.Slug, "first")
	id := e.AddComment(t, bob, a.Slug, "second")
	// Runs in order: the refusals first, then the author's delete and a repeat of it.
	for _, tc := range []struct {
		name, token, id string
		want            string
		fields          []string
	}{
		{"anonymous", "", id, "UNAUTHENTICATED", nil},
		{"someone else", carol.Token, id, "FORBIDDEN", nil},
		{"the article's author", alice.Token, id, "FORBIDDEN", nil},
		{"malformed id", bob.Token, "not-an-id", "BAD_USER_INPUT", []string{"id"}},
		{"an article's id", alice.Token, a.ID, "BAD_USER_INPUT", []string{"id"}},
		{"unknown comment", bob.Token, globalid.Encode(globalid.TypeComment, 999999), "NOT_FOUND", nil},
		{"the comment's author", bob.Token, id, "", nil},
		{"the comment's author again", bob.Token, id, "NOT_FOUND", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			res := e.Query(t, tc.token, acsDeleteComment, map[string]any{"id": tc.id})
			if tc.want == "" {
				var out struct {
					DeleteComment struct{ DeletedCommentID string }
				}
				res.Decode(t, &out)
				if out.DeleteComment.DeletedCommentID != id {
					t.Errorf("deletedCommentId = %q, want %q", out.DeleteComment.DeletedCommentID, id)
				}
				if n := e.Count(t, "comments"); n != before["comments"]-1 {
					t.Errorf("comments rows = %d, want %d", n, before["comments"]-1)
				}
				return
			}
			acsWantError(t, res, tc.want, tc.fields...)
			acsSameRows(t, e, before)
		})
	}
	page := acsComments(t, e, a.Slug, nil)
	if len(page.Nodes) != 1 || page.Nodes[0].ID != kept || page.TotalCount != 1 {
		t.Errorf("comments = %+v, want only %s", page, kept)
	}
}

func TestCommentList(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	a := e.CreateArticle(t, alice, "Discussed")
	other := e.CreateArticle(t, alice, "Quiet")
	e.AddComment(t, bob, a.Slug, "one")
	two := e.AddComment(t, alice, a.Slug, "two")
	e.AddComment(t, bob, a.Slug, "three")
	e.AddComment(t, bob, other.Slug, "elsewhere")

	page1 := acsComments(t, e, a.Slug, map[string]any{"first": 2})
	for _, tc := range []struct {
		name     string
		vars     map[string]any
		bodies   []string
		next     bool
		previous bool
	}{
		{"all, oldest first", nil, []string{"one", "two", "three"}, false, false},
		{"first 2", map[string]any{"first": 2}, []string{"one", "two"}, true, false},
		{"after the first page", map[string]any{"first": 2, "after": page1.PageInfo.EndCursor}, []string{"three"}, false, false},
		{"last 1", map[string]any{"last": 1}, []string{"three"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := acsComments(t, e, a.Slug, tc.vars)
			if !slices.Equal(got.bodies(), tc.bodies) || got.PageInfo.HasNextPage != tc.next || got.PageInfo.HasPreviousPage != tc.previous {
				t.Errorf("comments = %v (next %v, previous %v), want %v (next %v, previous %v)",
					got.bodies(), got.PageInfo.HasNextPage, got.PageInfo.HasPreviousPage, tc.bodies, tc.next, tc.previous)
			}
			if got.TotalCount != 3 {
				t.Errorf("totalCount = %d, want 3", got.TotalCount)
			}
		})
	}
	t.Run("after a delete", func(t *testing.T) {
		var out any
		e.MustQuery(t, alice.Token, acsDeleteComment, map[string]any{"id": two}, &out)
		got := acsComments(t, e, a.Slug, nil)
		if !slices.Equal(got.bodies(), []string{"one", "three"}) || got.TotalCount != 2 {
			t.Errorf("comments = %v (total %d), want [one three] (total 2)", got.bodies(), got.TotalCount)
		}
	})
	t.Run("no comments", func(t *testing.T) {
		third := e.CreateArticle(t, alice, "Silent")
		if got := acsComments(t, e, third.Slug, nil); len(got.Nodes) != 0 || got.TotalCount != 0 || got.PageInfo.HasNextPage {
			t.Errorf("comments = %+v, want an empty page", got)
		}
	})
}

func TestCommentNode(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	a := e.CreateArticle(t, alice, "Discussed")
	id := e.AddComment(t, alice, a.Slug, "hello")
	type node struct {
		Typename string `json:"__typename"`
		ID, Body string
		Article  struct{ Slug string }
	}
	const query = `query($id: ID!) { node(id: $id) { __typename id ... on Comment { body article { slug } } } }`

	var out struct{ Node *node }
	e.MustQuery(t, "", query, map[string]any{"id": id}, &out)
	if n := out.Node; n == nil || n.Typename != "Comment" || n.ID != id || n.Body != "hello" || n.Article.Slug != a.Slug {
		t.Errorf("node = %+v, want Comment %s on %s", n, id, a.Slug)
	}

	var del any
	e.MustQuery(t, alice.Token, acsDeleteComment, map[string]any{"id": id}, &del)
	for _, gid := range []string{id, "garbage", globalid.Encode(globalid.TypeComment, 424242)} {
		var out struct{ Node *node }
		e.MustQuery(t, "", query, map[string]any{"id": gid}, &out)
		if out.Node != nil {
			t.Errorf("node(id: %q) = %+v, want null", gid, out.Node)
		}
	}
}
