package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
)

// These tests open real WebSockets to real servers over one real database, and write
// through plain HTTP, as a browser tab watching an article would see other users write.

const (
	subCommentAdded = `subscription($s: String!) { commentAdded(articleSlug: $s) {
		id body author { username viewerIsFollowing } article { slug } } }`
	subFavoriteChanged = `subscription($s: String!) { articleFavoriteChanged(slug: $s) {
		slug favoritesCount viewerHasFavorited author { username } tags { name } } }`
	subFeed = `subscription { feedArticleAdded { slug title author { username viewerIsFollowing } tags { name } } }`
)

// quietFor is how long a test listens to conclude that no event comes. An event reaches
// a subscriber on loopback within milliseconds.
const quietFor = 400 * time.Millisecond

type subComment struct {
	CommentAdded struct {
		ID, Body string
		Author   struct {
			Username          string
			ViewerIsFollowing bool
		}
		Article struct{ Slug string }
	}
}

func nextComment(t *testing.T, s *apptest.Socket, id string) subComment {
	t.Helper()
	var out subComment
	s.Next(id).Decode(t, &out)
	return out
}

type subFavorite struct {
	ArticleFavoriteChanged struct {
		Slug               string
		FavoritesCount     int
		ViewerHasFavorited bool
		Author             struct{ Username string }
		Tags               []struct{ Name string }
	}
}

func nextFavorite(t *testing.T, s *apptest.Socket, id string) subFavorite {
	t.Helper()
	var out subFavorite
	s.Next(id).Decode(t, &out)
	return out
}

type subFeedArticle struct {
	FeedArticleAdded struct {
		Slug, Title string
		Author      struct {
			Username          string
			ViewerIsFollowing bool
		}
		Tags []struct{ Name string }
	}
}

func nextFeed(t *testing.T, s *apptest.Socket, id string) subFeedArticle {
	t.Helper()
	var out subFeedArticle
	s.Next(id).Decode(t, &out)
	return out
}

func bearer(u *apptest.User) map[string]any {
	return map[string]any{"authorization": "Bearer " + u.Token}
}

// waitSubscriptions waits until e's hub counts n active subscriptions. A subscribe message
// is answered only by events, so this is how a test knows the server is listening.
func waitSubscriptions(t *testing.T, e *apptest.Env, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.App.Events.Count() != n {
		if time.Now().After(deadline) {
			t.Fatalf("server has %d active subscriptions, want %d", e.App.Events.Count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// afterComplete checks that nothing but a complete of its own comes for an operation the
// client completed.
func afterComplete(t *testing.T, s *apptest.Socket, id string) {
	t.Helper()
	for _, m := range s.Collect(quietFor) {
		if m.ID != id || m.Type != "complete" {
			t.Fatalf("after completing %s got %s %q: %s", id, m.Type, m.ID, m.Payload)
		}
	}
}

func unfollow(t *testing.T, e *apptest.Env, u *apptest.User, username string) {
	t.Helper()
	var out map[string]any
	e.MustQuery(t, u.Token, `mutation($u: String!) { unfollowUser(input: {username: $u}) { user { id } } }`,
		map[string]any{"u": username}, &out)
}

func TestSubscriptionCommentAdded(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob := e.SignUp(t, "alice"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, alice, "Live comments")
	other := e.CreateArticle(t, alice, "Quiet article")

	s := e.Connect(t, nil) // anonymous
	id := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)

	e.AddComment(t, bob, other.Slug, "elsewhere")
	cid := e.AddComment(t, bob, art.Slug, "first!")
	got := nextComment(t, s, id).CommentAdded
	if got.ID != cid || got.Body != "first!" || got.Author.Username != "bob" || got.Article.Slug != art.Slug {
		t.Fatalf("got %+v, want bob's comment %s on %s", got, cid, art.Slug)
	}
	if got.Author.ViewerIsFollowing {
		t.Error("an anonymous viewer follows nobody")
	}
	s.Quiet(quietFor)

	t.Run("unknown article", func(t *testing.T) {
		id := s.Subscribe(subCommentAdded, map[string]any{"s": "no-such-article"})
		r := s.Next(id)
		if r.Code() != "NOT_FOUND" || string(r.Data) != "null" {
			t.Fatalf("got %s, want data null and NOT_FOUND", r.Body)
		}
		s.Expect(id, "complete")
	})

	t.Run("deleting the article completes", func(t *testing.T) {
		var out map[string]any
		e.MustQuery(t, alice.Token, `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`,
			map[string]any{"s": art.Slug}, &out)
		s.Expect(id, "complete")
		waitSubscriptions(t, e, 0)
	})
}

func TestSubscriptionCommitOrder(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob := e.SignUp(t, "alice"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, alice, "Busy thread")
	s := e.Connect(t, bearer(alice))
	id := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)

	const n = 25
	for i := range n {
		u := alice
		if i%2 == 1 {
			u = bob
		}
		e.AddComment(t, u, art.Slug, fmt.Sprintf("comment %02d", i))
	}
	for i := range n {
		if got, want := nextComment(t, s, id).CommentAdded.Body, fmt.Sprintf("comment %02d", i); got != want {
			t.Fatalf("event %d is %q, want %q", i, got, want)
		}
	}
}

func TestSubscriptionRolledBackWriteEmitsNothing(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Strict thread")
	s := e.Connect(t, nil)
	id := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)

	before := e.Snapshot(t)
	for _, tc := range []struct{ slug, body, code string }{
		{art.Slug, "   ", "BAD_USER_INPUT"},
		{art.Slug, strings.Repeat("x", 5001), "BAD_USER_INPUT"},
		{"missing", "hello", "NOT_FOUND"},
	} {
		r := e.Query(t, alice.Token, `mutation($in: AddCommentInput!) { addComment(input: $in) { comment { id } } }`,
			map[string]any{"in": map[string]any{"articleSlug": tc.slug, "body": tc.body}})
		if r.Code() != tc.code {
			t.Fatalf("addComment(%q): got %s, want %s", tc.slug, r.Body, tc.code)
		}
	}
	// Anonymous writes are refused too, and nothing of them is published.
	if r := e.Query(t, "", `mutation { addComment(input: {articleSlug: "`+art.Slug+`", body: "anon"}) { comment { id } } }`, nil); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("anonymous addComment: %s", r.Body)
	}
	if after := e.Snapshot(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("failed writes changed rows: %v -> %v", before, after)
	}
	s.Quiet(quietFor)
	// The first event is the first write that committed.
	e.AddComment(t, alice, art.Slug, "the real one")
	if got := nextComment(t, s, id).CommentAdded.Body; got != "the real one" {
		t.Fatalf("got %q", got)
	}
}

func TestSubscriptionAcrossInstances(t *testing.T) {
	t.Parallel()
	a := apptest.New(t)
	b := a.Peer(t)
	alice, bob := a.SignUp(t, "alice"), a.SignUp(t, "bob")
	art := a.CreateArticle(t, alice, "Replicated")

	onB := b.Connect(t, bearer(bob)) // a token from A works on B: same keys
	idB := onB.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	onA := a.Connect(t, nil)
	idA := onA.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, b, 1)
	waitSubscriptions(t, a, 1)

	// Written through A, heard on B (and on A).
	cid := a.AddComment(t, alice, art.Slug, "from A")
	for _, s := range []struct {
		sock *apptest.Socket
		id   string
	}{{onB, idB}, {onA, idA}} {
		got := nextComment(t, s.sock, s.id).CommentAdded
		if got.ID != cid || got.Author.Username != "alice" {
			t.Fatalf("got %+v, want alice's comment %s", got, cid)
		}
	}
	// And the other way round.
	b.AddComment(t, bob, art.Slug, "from B")
	if got := nextComment(t, onA, idA).CommentAdded; got.Body != "from B" || got.Author.Username != "bob" {
		t.Fatalf("A got %+v", got)
	}
	if got := nextComment(t, onB, idB).CommentAdded.Body; got != "from B" {
		t.Fatalf("B got %q", got)
	}
}

func TestSubscriptionFeed(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob, carol := e.SignUp(t, "alice"), e.SignUp(t, "bob"), e.SignUp(t, "carol")
	e.Follow(t, alice, "bob")

	t.Run("anonymous", func(t *testing.T) {
		s := e.Connect(t, nil)
		id := s.Subscribe(subFeed, nil)
		if r := s.Next(id); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("got %s, want UNAUTHENTICATED", r.Body)
		}
		s.Expect(id, "complete")
	})

	s := e.Connect(t, bearer(alice))
	id := s.Subscribe(subFeed, nil)
	waitSubscriptions(t, e, 1)

	e.CreateArticle(t, carol, "Carol one")
	e.CreateArticle(t, alice, "Alice's own")
	e.CreateArticle(t, bob, "Bob one", "go")
	got := nextFeed(t, s, id).FeedArticleAdded
	if got.Title != "Bob one" || got.Author.Username != "bob" || !got.Author.ViewerIsFollowing ||
		len(got.Tags) != 1 || got.Tags[0].Name != "go" {
		t.Fatalf("got %+v, want bob's article with its author and tags", got)
	}
	s.Quiet(quietFor)

	// Who alice follows is checked at each article, not when she subscribed.
	e.Follow(t, alice, "carol")
	e.CreateArticle(t, carol, "Carol two")
	if got := nextFeed(t, s, id).FeedArticleAdded; got.Title != "Carol two" || !got.Author.ViewerIsFollowing {
		t.Fatalf("after following carol got %+v", got)
	}
	unfollow(t, e, alice, "bob")
	e.CreateArticle(t, bob, "Bob two")
	e.CreateArticle(t, carol, "Carol three")
	if got := nextFeed(t, s, id).FeedArticleAdded.Title; got != "Carol three" {
		t.Fatalf("after unfollowing bob got %q, want Carol three", got)
	}
	s.Quiet(quietFor)

	// The feed is each viewer's own: bob follows nobody.
	sb := e.Connect(t, bearer(bob))
	sb.Subscribe(subFeed, nil)
	waitSubscriptions(t, e, 2)
	e.CreateArticle(t, carol, "Carol four")
	if got := nextFeed(t, s, id).FeedArticleAdded.Title; got != "Carol four" {
		t.Fatalf("alice got %q", got)
	}
	sb.Quiet(quietFor)
}

func TestSubscriptionFavoriteChanged(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob, carol := e.SignUp(t, "alice"), e.SignUp(t, "bob"), e.SignUp(t, "carol")
	art := e.CreateArticle(t, alice, "Popular", "news")

	s := e.Connect(t, bearer(carol))
	id := s.Subscribe(subFavoriteChanged, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)

	unfavorite := func(u *apptest.User) {
		t.Helper()
		var out map[string]any
		e.MustQuery(t, u.Token, `mutation($s: String!) { unfavoriteArticle(input: {slug: $s}) { article { id } } }`,
			map[string]any{"s": art.Slug}, &out)
	}
	type want struct {
		count int
		mine  bool // carol's viewerHasFavorited
	}
	for i, step := range []struct {
		write func()
		want  want
	}{
		{func() { e.Favorite(t, bob, art.Slug) }, want{1, false}},
		{func() { e.Favorite(t, carol, art.Slug) }, want{2, true}},
		{func() { unfavorite(bob) }, want{1, true}},
		{func() { unfavorite(carol) }, want{0, false}},
	} {
		step.write()
		got := nextFavorite(t, s, id).ArticleFavoriteChanged
		if got.FavoritesCount != step.want.count || got.ViewerHasFavorited != step.want.mine {
			t.Fatalf("step %d: count %d, viewerHasFavorited %v; want %d, %v",
				i, got.FavoritesCount, got.ViewerHasFavorited, step.want.count, step.want.mine)
		}
		if got.Slug != art.Slug || got.Author.Username != "alice" || len(got.Tags) != 1 {
			t.Fatalf("step %d: nested fields %+v", i, got)
		}
	}
	// What does not change the count is not an event.
	unfavorite(bob)
	s.Quiet(quietFor)
	e.Favorite(t, bob, art.Slug)
	e.Favorite(t, bob, art.Slug)
	if got := nextFavorite(t, s, id).ArticleFavoriteChanged.FavoritesCount; got != 1 {
		t.Fatalf("count %d, want 1", got)
	}
	s.Quiet(quietFor)
}

func TestSubscriptionComplete(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Leaving soon")
	s := e.Connect(t, bearer(alice))
	keep := s.Subscribe(subFavoriteChanged, map[string]any{"s": art.Slug})
	id := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 2)
	e.AddComment(t, alice, art.Slug, "one")
	nextComment(t, s, id)

	s.Complete(id)
	waitSubscriptions(t, e, 1)
	e.AddComment(t, alice, art.Slug, "two")
	afterComplete(t, s, id)
	// The connection and its other subscription go on.
	e.Favorite(t, alice, art.Slug)
	if got := nextFavorite(t, s, keep).ArticleFavoriteChanged.FavoritesCount; got != 1 {
		t.Fatalf("count %d", got)
	}
	// Closing the socket ends what is left.
	s.Close()
	waitSubscriptions(t, e, 0)
}

func TestSubscriptionLimitPerConnection(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.MaxSubscriptionsPerConnection = 2 }))
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Limited")
	vars := map[string]any{"s": art.Slug}

	s := e.Connect(t, bearer(alice))
	first := s.Subscribe(subCommentAdded, vars)
	s.Subscribe(subFeed, nil)
	waitSubscriptions(t, e, 2)
	over := s.Subscribe(subFavoriteChanged, vars)
	if r := s.Next(over); r.Code() != "TOO_MANY_SUBSCRIPTIONS" {
		t.Fatalf("third subscription: got %s, want TOO_MANY_SUBSCRIPTIONS", r.Body)
	}
	s.Expect(over, "complete")

	// Queries and mutations on the socket are not subscriptions and still run.
	q := s.Subscribe(`{ article(slug: "`+art.Slug+`") { title } }`, nil)
	if r := s.Next(q); r.Code() != "" {
		t.Fatalf("query on a full connection: %s", r.Body)
	}
	s.Expect(q, "complete")

	// The limit is per connection.
	other := e.Connect(t, nil)
	other.Subscribe(subFavoriteChanged, vars)
	waitSubscriptions(t, e, 3)

	// Ending one frees its slot.
	s.Complete(first)
	waitSubscriptions(t, e, 2)
	afterComplete(t, s, first)
	again := s.Subscribe(subFavoriteChanged, vars)
	waitSubscriptions(t, e, 3)
	e.Favorite(t, alice, art.Slug)
	if got := nextFavorite(t, s, again).ArticleFavoriteChanged.FavoritesCount; got != 1 {
		t.Fatalf("count %d", got)
	}
}

func TestSubscriptionAuth(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")

	for _, tc := range []struct {
		name    string
		payload map[string]any
	}{
		{"forged token", map[string]any{"authorization": "Bearer " + alice.Token[:len(alice.Token)-4] + "AAAA"}},
		{"garbage", map[string]any{"authorization": "Bearer not-a-jwt"}},
		{"refresh token as access token", map[string]any{"authorization": "Bearer " + alice.RefreshToken}},
		{"wrong scheme", map[string]any{"authorization": "Basic " + alice.Token}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.Dial(t, nil)
			s.Init(tc.payload)
			if code, reason := s.Closed(5 * time.Second); code != 4403 {
				t.Fatalf("close code %d (%q), want 4403", code, reason)
			}
		})
	}

	t.Run("valid token", func(t *testing.T) {
		for _, payload := range []map[string]any{
			{"authorization": "Bearer " + alice.Token},
			{"Authorization": "Bearer " + alice.Token},
			{"authorization": alice.Token},
		} {
			s := e.Connect(t, payload)
			id := s.Subscribe(`{ viewer { username } }`, nil)
			var out struct{ Viewer struct{ Username string } }
			s.Next(id).Decode(t, &out)
			if out.Viewer.Username != "alice" {
				t.Fatalf("viewer %q with %v", out.Viewer.Username, payload)
			}
		}
	})
}

func TestSubscriptionTokenExpiry(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	e := apptest.New(t, apptest.WithAccessTTL(ttl))
	alice := e.SignUp(t, "alice")
	issued := time.Now()
	art := e.CreateArticle(t, alice, "Short lived")

	s := e.Connect(t, bearer(alice))
	id := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)
	e.AddComment(t, e.SignUp(t, "bob"), art.Slug, "in time")
	nextComment(t, s, id)

	code, reason := s.Closed(ttl + 5*time.Second)
	if code != 4403 || !strings.Contains(reason, "expired") {
		t.Fatalf("close %d %q, want 4403 for the expired token", code, reason)
	}
	// exp has whole seconds, so the token ends up to a second before the TTL is up.
	if lived := time.Since(issued); lived < ttl-time.Second {
		t.Fatalf("closed %s after the token was issued, before it expired", lived)
	}
	waitSubscriptions(t, e, 0)

	// An expired token is refused at once.
	late := e.Dial(t, nil)
	late.Init(bearer(alice))
	if code, _ := late.Closed(5 * time.Second); code != 4403 {
		t.Fatalf("expired token at init: close code %d, want 4403", code)
	}
}

func TestSubscriptionShutdown(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Going away")
	s := e.Connect(t, nil)
	id := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)

	e.App.Close()
	// The socket closes with "going away" so the client reconnects, and the subscription
	// is not completed first, which would tell the client not to resubscribe.
	rest, code, reason := s.Closing(5 * time.Second)
	if code != 1001 {
		t.Fatalf("close %d %q, want 1001", code, reason)
	}
	for _, m := range rest {
		if m.ID == id {
			t.Fatalf("got %s for the subscription before the close", m.Type)
		}
	}
}

func TestSubscriptionSlowConsumer(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.SubscriptionBuffer = 1 }))
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Flooded")
	s := e.Connect(t, bearer(alice))
	id := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)

	// A burst far faster than a subscriber loads events (one query each), published as
	// writes do, in one transaction.
	if _, err := e.DB.Exec(`SELECT pg_notify('inkwell_events', json_build_object('k', 'comment_added',
		'a', (SELECT id FROM articles WHERE slug = $1), 'c', n)::text) FROM generate_series(1, 300) AS n`, art.Slug); err != nil {
		t.Fatal(err)
	}
	var errs []apptest.Error
	for errs == nil {
		switch m := s.Receive(); {
		case m.ID == id && m.Type == "error":
			if err := json.Unmarshal(m.Payload, &errs); err != nil {
				t.Fatal(err)
			}
		case m.ID == id && m.Type == "next":
		default:
			t.Fatalf("got %s %q: %s", m.Type, m.ID, m.Payload)
		}
	}
	if len(errs) != 1 || errs[0].Extensions.Code != "SLOW_CONSUMER" {
		t.Fatalf("errors %+v, want one SLOW_CONSUMER", errs)
	}
	waitSubscriptions(t, e, 0)
	// The connection survives; the client may subscribe again once the burst is over.
	time.Sleep(quietFor)
	again := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)
	e.AddComment(t, alice, art.Slug, "calm again")
	if got := nextComment(t, s, again).CommentAdded.Body; got != "calm again" {
		t.Fatalf("got %q", got)
	}
}

// A subscriber whose read of an event's rows waits on the database (here a lock; in a
// failover, a pooler's queue) is not ended as slow for the events that queue meanwhile:
// the server held it up, not its client.
func TestSubscriptionHeldByDatabase(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
		c.SubscriptionBuffer = 2
		// Far longer than the test holds the lock.
		c.Limits.StatementTimeout = time.Minute
	}))
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Held")
	s := e.Connect(t, bearer(alice))
	id := s.Subscribe(subCommentAdded, map[string]any{"s": art.Slug})
	waitSubscriptions(t, e, 1)

	ctx := context.Background()
	lock, err := e.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()
	if _, err := lock.Exec(`LOCK TABLE comments IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	notify := func(from, to int) {
		t.Helper()
		if _, err := e.DB.Exec(`SELECT pg_notify('inkwell_events', json_build_object('k', 'comment_added',
			'a', (SELECT id FROM articles WHERE slug = $1), 'c', n)::text) FROM generate_series($2::int, $3::int) AS n`,
			art.Slug, from, to); err != nil {
			t.Fatal(err)
		}
	}
	// The subscriber's read of this one's comment waits for the lock, and once it has
	// waited a while the subscription may fall further behind.
	notify(1_000_001, 1_000_001)
	deadline := time.Now().Add(10 * time.Second)
	for e.App.Events.CatchingUp() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the held subscription is not catching up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Ten times its buffer, while it waits: no comment exists, so none is sent.
	notify(1_000_002, 1_000_021)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	e.AddComment(t, alice, art.Slug, "after the wait")
	if got := nextComment(t, s, id).CommentAdded.Body; got != "after the wait" {
		t.Fatalf("got %q", got)
	}
	if n := e.App.Events.Dropped(); n != 0 {
		t.Fatalf("%d subscriptions dropped", n)
	}
}
