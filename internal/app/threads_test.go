package app_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"inkwell/internal/apptest"
)

const (
	tReply = `mutation($in: AddCommentInput!) { addComment(input: $in) {
		comment { id body deleted repliesCount parent { id } article { slug } } } }`
	tThread = `query($s: String!) { article(slug: $s) { comments(first: 10) { totalCount nodes {
		id body deleted edited viewerCanEdit viewerCanDelete repliesCount parent { id }
		replies(first: 5) { totalCount nodes { id body deleted repliesCount parent { id }
			replies(first: 3) { totalCount nodes { id body parent { id } replies(first: 1) { totalCount } } } } } } } } }`
	tDelete = `mutation($id: ID!) { deleteComment(input: {id: $id}) {
		deletedCommentId removedCommentIds placeholder { id body deleted author { username } } } }`
)

type tComment struct {
	ID, Body        string
	Deleted, Edited bool
	ViewerCanEdit   bool
	ViewerCanDelete bool
	RepliesCount    int
	Parent          *struct{ ID string }
	Replies         tComments
}

type tComments struct {
	TotalCount int
	Nodes      []tComment
}

// reply adds u's comment on slug, a reply to parent unless it is "".
func reply(t *testing.T, e *apptest.Env, u *apptest.User, slug, parent, body string) *apptest.Response {
	t.Helper()
	in := map[string]any{"articleSlug": slug, "body": body}
	if parent != "" {
		in["parentId"] = parent
	}
	return e.Query(t, u.Token, tReply, map[string]any{"in": in})
}

func mustReply(t *testing.T, e *apptest.Env, u *apptest.User, slug, parent, body string) string {
	t.Helper()
	r := reply(t, e, u, slug, parent, body)
	var out struct {
		AddComment struct{ Comment struct{ ID string } }
	}
	r.Decode(t, &out)
	if len(r.Errors) > 0 || out.AddComment.Comment.ID == "" {
		t.Fatalf("reply %q: %s", body, r.Body)
	}
	return out.AddComment.Comment.ID
}

func thread(t *testing.T, e *apptest.Env, token, slug string) tComments {
	t.Helper()
	var out struct{ Article struct{ Comments tComments } }
	e.MustQuery(t, token, tThread, map[string]any{"s": slug}, &out)
	return out.Article.Comments
}

// shape is a thread as text: each comment's body and its replies', depth first.
func shape(cs tComments) []string {
	var out []string
	var walk func(prefix string, cs tComments)
	walk = func(prefix string, cs tComments) {
		for _, c := range cs.Nodes {
			out = append(out, fmt.Sprintf("%s%s (%d)", prefix, c.Body, c.RepliesCount))
			walk(prefix+"  ", c.Replies)
		}
	}
	walk("", cs)
	return out
}

func TestCommentThreads(t *testing.T) {
	t.Parallel()
	eachCache(t, func(t *testing.T, e *apptest.Env) {
		ada, bob, cy := e.SignUp(t, "ada"), e.SignUp(t, "bob"), e.SignUp(t, "cy")
		art := e.CreateArticle(t, ada, "Threads")
		other := e.CreateArticle(t, ada, "Elsewhere")
		_ = thread(t, e, "", art.Slug) // read before the writes, so caches hold the empty thread

		top := mustReply(t, e, bob, art.Slug, "", "top")
		r1 := mustReply(t, e, cy, art.Slug, top, "reply")
		r2 := mustReply(t, e, ada, art.Slug, r1, "reply to reply")
		second := mustReply(t, e, cy, art.Slug, "", "second")

		want := []string{"top (1)", "  reply (1)", "    reply to reply (0)", "second (0)"}
		got := thread(t, e, bob.Token, art.Slug)
		if !slices.Equal(shape(got), want) || got.TotalCount != 2 {
			t.Fatalf("thread %q (totalCount %d), want %q (2)", shape(got), got.TotalCount, want)
		}
		if c := got.Nodes[0]; c.Parent != nil || c.Replies.Nodes[0].Parent == nil || c.Replies.Nodes[0].Parent.ID != top ||
			c.Replies.Nodes[0].Replies.Nodes[0].Parent.ID != r1 || !c.ViewerCanEdit || !c.ViewerCanDelete {
			t.Fatalf("parents or hints wrong: %+v", c)
		}

		// Refused, and nothing written.
		before := e.Snapshot(t)
		otherTop := mustReply(t, e, bob, other.Slug, "", "on the other article")
		before["comments"]++
		for _, tc := range []struct {
			name, parent string
		}{
			{"a reply to a reply's reply", r2},
			{"a reply to a comment on another article", otherTop},
			{"a reply to an article's id", art.ID},
			{"a reply to a comment that does not exist", "not-an-id"},
		} {
			r := reply(t, e, bob, art.Slug, tc.parent, "refused")
			if r.Code() != "BAD_USER_INPUT" || len(r.Errors[0].Extensions.Fields["parentId"]) == 0 {
				t.Errorf("%s: %s", tc.name, r.Body)
			}
		}
		if after := e.Snapshot(t); !maps.Equal(before, after) {
			t.Errorf("refused replies wrote: %v -> %v", before, after)
		}

		// Deleting a comment with replies leaves a placeholder; its last reply takes it along.
		var del struct {
			DeleteComment struct {
				DeletedCommentID  string
				RemovedCommentIds []string
				Placeholder       *struct {
					ID, Body string
					Deleted  bool
					Author   struct{ Username string }
				}
			}
		}
		e.MustQuery(t, cy.Token, tDelete, map[string]any{"id": r1}, &del)
		if d := del.DeleteComment; d.DeletedCommentID != r1 || len(d.RemovedCommentIds) != 0 || d.Placeholder == nil ||
			d.Placeholder.ID != r1 || d.Placeholder.Body != "[deleted]" || !d.Placeholder.Deleted {
			t.Fatalf("delete with replies: %+v", d)
		}
		got = thread(t, e, cy.Token, art.Slug)
		want = []string{"top (1)", "  [deleted] (1)", "    reply to reply (0)", "second (0)"}
		if !slices.Equal(shape(got), want) {
			t.Fatalf("after deleting the reply: %q, want %q", shape(got), want)
		}
		if p := got.Nodes[0].Replies.Nodes[0]; !p.Deleted || p.Edited || p.ViewerCanEdit || p.ViewerCanDelete {
			t.Errorf("placeholder: %+v", p)
		}
		for name, r := range map[string]*apptest.Response{
			"edit":   e.Query(t, cy.Token, `mutation($id: ID!) { updateComment(input: {id: $id, body: "back"}) { comment { id } } }`, map[string]any{"id": r1}),
			"delete": e.Query(t, cy.Token, tDelete, map[string]any{"id": r1}),
		} {
			if r.Code() != "NOT_FOUND" {
				t.Errorf("%s a placeholder: %s", name, r.Body)
			}
		}
		if r := reply(t, e, bob, art.Slug, r1, "to a placeholder"); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("reply to a placeholder: %s", r.Body)
		}

		e.MustQuery(t, ada.Token, tDelete, map[string]any{"id": r2}, &del)
		if d := del.DeleteComment; d.Placeholder != nil || !slices.Equal(d.RemovedCommentIds, []string{r2, r1}) {
			t.Fatalf("deleting the last reply: %+v, want %s and the placeholder %s removed", d, r2, r1)
		}
		got = thread(t, e, "", art.Slug)
		if want := []string{"top (0)", "second (0)"}; !slices.Equal(shape(got), want) {
			t.Fatalf("after deleting the last reply: %q, want %q", shape(got), want)
		}
		e.MustQuery(t, cy.Token, tDelete, map[string]any{"id": second}, &del)
		if d := del.DeleteComment; d.Placeholder != nil || !slices.Equal(d.RemovedCommentIds, []string{second}) {
			t.Fatalf("deleting a comment without replies: %+v", d)
		}
	})
}

// Two last replies of a placeholder deleted at once: whichever commits second sees the
// other gone and takes the placeholder along.
func TestCommentThreadsConcurrentDeletes(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Races")
	for round := range 5 {
		top := mustReply(t, e, ada, art.Slug, "", fmt.Sprintf("top %d", round))
		a := mustReply(t, e, bob, art.Slug, top, "a")
		b := mustReply(t, e, bob, art.Slug, top, "b")
		var out map[string]any
		e.MustQuery(t, ada.Token, tDelete, map[string]any{"id": top}, &out)
		var wg sync.WaitGroup
		for _, id := range []string{a, b} {
			wg.Go(func() {
				if r := e.Query(t, bob.Token, tDelete, map[string]any{"id": id}); len(r.Errors) > 0 {
					t.Errorf("delete %s: %s", id, r.Body)
				}
			})
		}
		wg.Wait()
		if n := e.Count(t, "comments"); n != 0 {
			t.Fatalf("round %d: %d comments left, want none (the placeholder goes with its last reply)", round, n)
		}
	}
}

func TestSubscriptionCommentAddedCarriesReplies(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Live threads")
	top := mustReply(t, e, bob, art.Slug, "", "top")

	s := e.Connect(t, nil)
	id := s.Subscribe(`subscription($s: String!) { commentAdded(articleSlug: $s) { id body parent { id body } } }`,
		map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)
	rid := mustReply(t, e, ada, art.Slug, top, "a reply")
	var got struct {
		CommentAdded struct {
			ID, Body string
			Parent   *struct{ ID, Body string }
		}
	}
	s.Next(id).Decode(t, &got)
	if c := got.CommentAdded; c.ID != rid || c.Body != "a reply" || c.Parent == nil || c.Parent.ID != top || c.Parent.Body != "top" {
		t.Fatalf("got %+v, want the reply %s under %s", c, rid, top)
	}
}
