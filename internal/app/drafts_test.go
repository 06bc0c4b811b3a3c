package app_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"inkwell/internal/apptest"
)

const (
	dCreate = `mutation($in: CreateArticleInput!) { createArticle(input: $in) {
		article { id slug status publishedAt publishAt } } }`
	dPublish = `mutation($s: String!, $at: DateTime) { publishArticle(input: {slug: $s, at: $at}) {
		article { slug status publishedAt publishAt } } }`
	dUnpublish = `mutation($s: String!) { unpublishArticle(input: {slug: $s}) {
		article { slug status publishedAt publishAt } } }`
)

type dArticle struct {
	ID, Slug, Status       string
	PublishedAt, PublishAt *string
}

// write creates an article as u: a draft unless publish.
func write(t *testing.T, e *apptest.Env, u *apptest.User, title string, publish bool, tags ...string) dArticle {
	t.Helper()
	var out struct{ CreateArticle struct{ Article dArticle } }
	e.MustQuery(t, u.Token, dCreate, map[string]any{"in": map[string]any{
		"title": title, "description": "about " + title, "body": "Text of " + title, "tags": tags, "publish": publish,
	}}, &out)
	return out.CreateArticle.Article
}

func publish(t *testing.T, e *apptest.Env, u *apptest.User, slug string, at *time.Time) dArticle {
	t.Helper()
	vars := map[string]any{"s": slug}
	if at != nil {
		vars["at"] = at.UTC().Format(time.RFC3339Nano)
	}
	var out struct{ PublishArticle struct{ Article dArticle } }
	e.MustQuery(t, u.Token, dPublish, vars, &out)
	return out.PublishArticle.Article
}

// seen is what a reader finds of ada's articles through every way of finding them.
type seen struct {
	bySlug, byID                    bool
	inArticles, inFeed, inUserList  bool
	tagListed                       bool
	userArticlesCount, draftsListed int
}

func lookAround(t *testing.T, e *apptest.Env, token string, a dArticle, tag string) seen {
	t.Helper()
	var s seen
	var out struct {
		Article  *struct{ Slug string }
		Node     *struct{ ID string }
		Articles struct{ Nodes []struct{ Slug string } }
		Tags     struct{ Nodes []struct{ Name string } }
		User     struct {
			Articles struct {
				TotalCount int
				Nodes      []struct{ Slug string }
			}
			Drafts struct{ TotalCount int }
		}
	}
	e.MustQuery(t, token, `query($s: String!, $id: ID!) {
		article(slug: $s) { slug }
		node(id: $id) { id }
		articles(first: 50) { nodes { slug } }
		tags(first: 50) { nodes { name } }
		user(username: "ada") { articles(first: 50) { totalCount nodes { slug } } drafts(first: 50) { totalCount } }
	}`, map[string]any{"s": a.Slug, "id": a.ID}, &out)
	s.bySlug, s.byID = out.Article != nil, out.Node != nil
	has := func(nodes []struct{ Slug string }) bool {
		return slices.ContainsFunc(nodes, func(n struct{ Slug string }) bool { return n.Slug == a.Slug })
	}
	s.inArticles, s.inUserList = has(out.Articles.Nodes), has(out.User.Articles.Nodes)
	s.tagListed = slices.ContainsFunc(out.Tags.Nodes, func(x struct{ Name string }) bool { return x.Name == tag })
	s.userArticlesCount, s.draftsListed = out.User.Articles.TotalCount, out.User.Drafts.TotalCount
	if token != "" {
		var feed struct {
			Feed struct{ Nodes []struct{ Slug string } }
		}
		e.MustQuery(t, token, `{ feed(first: 50) { nodes { slug } } }`, nil, &feed)
		s.inFeed = has(feed.Feed.Nodes)
	}
	return s
}

// A draft is as if it did not exist for anyone but its author: no lookup, list, feed or
// count shows it, and every write to it is NOT_FOUND and changes nothing.
func TestDraftsAreSeenByTheirAuthorAlone(t *testing.T) {
	t.Parallel()
	e := cached(t) // the caches on: nothing kept may show a draft either
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	e.Follow(t, bob, "ada")
	write(t, e, ada, "Public", true, "open")
	draft := write(t, e, ada, "Secret plan", false, "hush")
	if draft.Status != "DRAFT" || draft.PublishedAt != nil || draft.PublishAt != nil {
		t.Fatalf("new draft: %+v", draft)
	}
	hidden := seen{userArticlesCount: 1}
	for _, tc := range []struct {
		name  string
		token string
	}{{"another user", bob.Token}, {"anonymous", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second time from the caches
				if got := lookAround(t, e, tc.token, draft, "hush"); got != hidden {
					t.Fatalf("sees %+v", got)
				}
			}
		})
	}
	t.Run("its author", func(t *testing.T) {
		want := seen{bySlug: true, byID: true, userArticlesCount: 1, draftsListed: 1}
		if got := lookAround(t, e, ada.Token, draft, "hush"); got != want {
			t.Fatalf("sees %+v, want %+v", got, want)
		}
		for _, w := range []struct{ name, query string }{
			{"favorite", `mutation($s: String!) { favoriteArticle(input: {slug: $s}) { article { id } } }`},
			{"comment", `mutation($s: String!) { addComment(input: {articleSlug: $s, body: "hi"}) { comment { id } } }`},
		} {
			if r := e.Query(t, ada.Token, w.query, map[string]any{"s": draft.Slug}); r.Code() != "FORBIDDEN" {
				t.Errorf("%s on one's own draft: %s", w.name, r.Body)
			}
		}
	})
	t.Run("writes by another user", func(t *testing.T) {
		before := e.Snapshot(t)
		for _, w := range []struct{ name, query string }{
			{"favorite", `mutation($s: String!) { favoriteArticle(input: {slug: $s}) { article { id } } }`},
			{"comment", `mutation($s: String!) { addComment(input: {articleSlug: $s, body: "hi"}) { comment { id } } }`},
			{"update", `mutation($s: String!) { updateArticle(input: {slug: $s, title: "Mine"}) { article { id } } }`},
			{"delete", `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`},
			{"publish", `mutation($s: String!) { publishArticle(input: {slug: $s}) { article { id } } }`},
			{"unpublish", `mutation($s: String!) { unpublishArticle(input: {slug: $s}) { article { id } } }`},
		} {
			if r := e.Query(t, bob.Token, w.query, map[string]any{"s": draft.Slug}); r.Code() != "NOT_FOUND" {
				t.Errorf("%s: %s", w.name, r.Body)
			}
		}
		if after := e.Snapshot(t); !maps.Equal(before, after) {
			t.Errorf("refused writes changed rows: %v -> %v", before, after)
		}
	})
	t.Run("a subscription to it", func(t *testing.T) {
		s := e.Connect(t, bearer(bob))
		id := s.Subscribe(subCommentAdded, map[string]any{"s": draft.Slug})
		if r := s.Next(id); r.Code() != "NOT_FOUND" || string(r.Data) != "null" {
			t.Errorf("commentAdded on a draft: %s; want what an unknown article gets", r.Body)
		}
	})
}

// Publishing makes a draft everyone's, with what a new article does (feeds, counts, the
// feed subscription); unpublishing takes it back. Lists are by publication.
func TestPublishAndUnpublish(t *testing.T) {
	t.Parallel()
	e := cached(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	e.Follow(t, bob, "ada")
	s := e.Connect(t, bearer(bob))
	sub := s.Subscribe(subFeed, nil)
	waitSubscriptions(t, e, 1)

	// The draft's creation announces nothing: the next event is the published article's.
	draft := write(t, e, ada, "Written first", false, "hush")
	other := write(t, e, ada, "Published first", true, "open")
	if ev := nextFeed(t, s, sub); ev.FeedArticleAdded.Slug != other.Slug {
		t.Fatalf("feed subscription got %+v, want %s", ev, other.Slug)
	}

	got := publish(t, e, ada, draft.Slug, nil)
	if got.Status != "PUBLISHED" || got.PublishedAt == nil || got.PublishAt != nil {
		t.Fatalf("published: %+v", got)
	}
	if ev := nextFeed(t, s, sub); ev.FeedArticleAdded.Slug != draft.Slug {
		t.Errorf("feed subscription got %+v", ev)
	}
	want := seen{bySlug: true, byID: true, inArticles: true, inFeed: true, inUserList: true, tagListed: true, userArticlesCount: 2}
	if seenBy := lookAround(t, e, bob.Token, draft, "hush"); seenBy != want {
		t.Errorf("after publishing, bob sees %+v, want %+v", seenBy, want)
	}
	// Published last, so first in the lists, although written first.
	var list struct {
		Articles struct{ Nodes []struct{ Slug string } }
	}
	e.MustQuery(t, "", `{ articles(first: 5) { nodes { slug } } }`, nil, &list)
	if len(list.Articles.Nodes) != 2 || list.Articles.Nodes[0].Slug != draft.Slug {
		t.Errorf("articles: %+v; want the newly published first", list.Articles.Nodes)
	}
	// Publishing again changes nothing.
	if again := publish(t, e, ada, draft.Slug, nil); *again.PublishedAt != *got.PublishedAt {
		t.Errorf("publishing again moved publishedAt: %v -> %v", *got.PublishedAt, *again.PublishedAt)
	}

	var back struct{ UnpublishArticle struct{ Article dArticle } }
	e.MustQuery(t, ada.Token, dUnpublish, map[string]any{"s": draft.Slug}, &back)
	if a := back.UnpublishArticle.Article; a.Status != "DRAFT" || a.PublishedAt != nil {
		t.Fatalf("unpublished: %+v", a)
	}
	if seenBy := lookAround(t, e, bob.Token, draft, "hush"); seenBy != (seen{userArticlesCount: 1}) {
		t.Errorf("after unpublishing, bob sees %+v", seenBy)
	}
	s.Complete(sub)
}

// A scheduled article is published by the server at its time, once, with two instances
// running the schedule; until then it is hidden like a draft.
func TestScheduledArticlesArePublishedOnce(t *testing.T) {
	t.Parallel()
	a := cached(t)
	b := a.Peer(t)
	ada, bob := a.SignUp(t, "ada"), a.SignUp(t, "bob")
	a.Follow(t, bob, "ada")
	draft := write(t, a, ada, "Later", false, "soon")

	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"more than a year ahead", time.Now().Add(366 * 24 * time.Hour)},
		{"in the past", time.Now().Add(-time.Hour)},
	} {
		r := a.Query(t, ada.Token, dPublish, map[string]any{"s": draft.Slug, "at": tc.at.UTC().Format(time.RFC3339)})
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(string(r.Body), `"at"`) {
			t.Errorf("%s: %s", tc.name, r.Body)
		}
	}

	s := b.Connect(t, bearer(bob))
	sub := s.Subscribe(subFeed, nil)
	waitSubscriptions(t, b, 1)

	at := time.Now().Add(2 * time.Second)
	got := publish(t, a, ada, draft.Slug, &at)
	if got.Status != "SCHEDULED" || got.PublishAt == nil || got.PublishedAt != nil {
		t.Fatalf("scheduled: %+v", got)
	}
	if seenBy := lookAround(t, a, bob.Token, draft, "soon"); seenBy.bySlug || seenBy.inFeed || seenBy.tagListed {
		t.Errorf("a scheduled article is seen before its time: %+v", seenBy)
	}

	ev := nextFeed(t, s, sub) // within the socket's wait, several seconds
	published := time.Now()
	if ev.FeedArticleAdded.Slug != draft.Slug {
		t.Fatalf("feed subscription got %+v", ev)
	}
	// Reported, not asserted (a busy machine may delay it): the schedule is looked at
	// every second, so this is about a second when the machine is not overloaded.
	t.Logf("the event came %v after the scheduled time", published.Sub(at))
	var now struct{ Article *dArticle }
	a.MustQuery(t, bob.Token, `query($s: String!) { article(slug: $s) { id slug status publishedAt publishAt } }`,
		map[string]any{"s": draft.Slug}, &now)
	if now.Article == nil || now.Article.Status != "PUBLISHED" || now.Article.PublishedAt == nil ||
		*now.Article.PublishedAt != *got.PublishAt {
		t.Errorf("after its time: %+v, scheduled for %v", now.Article, *got.PublishAt)
	}
	// Both instances run the schedule, every second: it was published, and announced, once.
	for _, m := range s.Collect(2500 * time.Millisecond) {
		t.Errorf("after the publication: %s %q: %s", m.Type, m.ID, m.Payload)
	}
}
