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
	ntList = `query($n: Int, $after: String) { viewer { unreadNotificationsCount notifications(first: $n, after: $after) {
		totalCount pageInfo { hasNextPage endCursor }
		nodes { id kind read actor { username } actors(first: 5) { username } actorsCount article { slug } comment { body } } } } }`
	ntMark  = `mutation($upTo: ID) { markNotificationsRead(input: {upTo: $upTo}) { unreadNotificationsCount viewer { username } } }`
	ntAdded = `subscription($after: ID) { notificationAdded(after: $after) { id kind actor { username } actorsCount article { slug } } }`
	ntReply = `mutation($s: String!, $b: String!, $p: ID) { addComment(input: {articleSlug: $s, body: $b, parentId: $p}) { comment { id } } }`
)

type ntNode struct {
	ID          string
	Kind        string
	Read        bool
	Actor       struct{ Username string }
	Actors      []struct{ Username string }
	ActorsCount int
	Article     *struct{ Slug string }
	Comment     *struct{ Body string }
}

// summary is "KIND actor1,actor2 slug".
func (n ntNode) summary() string {
	var who []string
	for _, a := range n.Actors {
		who = append(who, a.Username)
	}
	s := n.Kind + " " + fmt.Sprint(who)
	if n.Article != nil {
		s += " " + n.Article.Slug
	}
	return s
}

type ntPage struct {
	UnreadNotificationsCount int
	Notifications            struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   *string
		}
		Nodes []ntNode
	}
}

func notificationsOf(t *testing.T, e *apptest.Env, u *apptest.User, n int) ntPage {
	t.Helper()
	var out struct{ Viewer ntPage }
	e.MustQuery(t, u.Token, ntList, map[string]any{"n": n}, &out)
	return out.Viewer
}

func summaries(p ntPage) []string {
	var out []string
	for _, n := range p.Notifications.Nodes {
		out = append(out, n.summary())
	}
	return out
}

func addReply(t *testing.T, e *apptest.Env, u *apptest.User, slug, body string, parent string) string {
	t.Helper()
	var out struct {
		AddComment struct{ Comment struct{ ID string } }
	}
	vars := map[string]any{"s": slug, "b": body}
	if parent != "" {
		vars["p"] = parent
	}
	e.MustQuery(t, u.Token, ntReply, vars, &out)
	return out.AddComment.Comment.ID
}

// Every kind of event, grouped as documented, never about one's own actions, repeats
// or drafts.
func TestNotifications(t *testing.T) {
	t.Parallel()
	eachCache(t, func(t *testing.T, e *apptest.Env) {
		ada, bob, cy := e.SignUp(t, "ada"), e.SignUp(t, "bob"), e.SignUp(t, "cy")
		art := e.CreateArticle(t, ada, "Notable")
		e.Follow(t, bob, "ada")
		e.Follow(t, bob, "ada") // again: nothing new
		e.Follow(t, cy, "ada")
		e.Favorite(t, bob, art.Slug)
		e.Favorite(t, cy, art.Slug)
		e.Favorite(t, ada, art.Slug) // her own: nothing
		c := addReply(t, e, bob, art.Slug, "Nice", "")
		addReply(t, e, ada, art.Slug, "Thanks", c) // ada replies to bob
		addReply(t, e, ada, art.Slug, "Own", "")   // on her own article: nothing
		var draft map[string]any
		e.MustQuery(t, ada.Token, dCreate, map[string]any{"in": map[string]any{
			"title": "Draft", "description": "", "body": "b", "publish": false}}, &draft) // nothing: a draft
		next := e.CreateArticle(t, ada, "Next") // bob and cy follow ada

		got := notificationsOf(t, e, ada, 20)
		want := []string{
			"COMMENTED [bob] " + art.Slug,
			"FAVORITED [cy bob] " + art.Slug,
			"FOLLOWED [cy bob]",
		}
		if !slices.Equal(summaries(got), want) || got.UnreadNotificationsCount != 3 || got.Notifications.TotalCount != 3 {
			t.Fatalf("ada's notifications %q (unread %d, total %d), want %q", summaries(got), got.UnreadNotificationsCount,
				got.Notifications.TotalCount, want)
		}
		if n := got.Notifications.Nodes[1]; n.ActorsCount != 2 || n.Actor.Username != "cy" || n.Read {
			t.Errorf("favorites group %+v", n)
		}
		if n := got.Notifications.Nodes[0]; n.Comment == nil || n.Comment.Body != "Nice" {
			t.Errorf("comment notification %+v", n)
		}
		if got := summaries(notificationsOf(t, e, bob, 20)); !slices.Equal(got, []string{
			"PUBLISHED [ada] " + next.Slug, "REPLIED [ada] " + art.Slug}) {
			t.Errorf("bob's notifications %q", got)
		}
		// Nobody else reads them.
		var other struct {
			User struct {
				UnreadNotificationsCount int
				Notifications            struct{ TotalCount int }
			}
		}
		e.MustQuery(t, bob.Token, `{ user(username: "ada") { unreadNotificationsCount notifications { totalCount } } }`, nil, &other)
		if other.User.UnreadNotificationsCount != 0 || other.User.Notifications.TotalCount != 0 {
			t.Errorf("bob sees ada's: %+v", other.User)
		}

		// An article taken back to drafts takes its notifications with it.
		var out map[string]any
		e.MustQuery(t, ada.Token, `mutation($s: String!) { unpublishArticle(input: {slug: $s}) { article { slug } } }`,
			map[string]any{"s": next.Slug}, &out)
		if got := summaries(notificationsOf(t, e, bob, 20)); !slices.Equal(got, []string{"REPLIED [ada] " + art.Slug}) {
			t.Errorf("bob's after unpublishing: %q", got)
		}
	})
}

// Reading: up to a notification, then all; a read group is not joined again.
func TestMarkNotificationsRead(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob, cy, dee := e.SignUp(t, "ada"), e.SignUp(t, "bob"), e.SignUp(t, "cy"), e.SignUp(t, "dee")
	art := e.CreateArticle(t, ada, "Notable")
	e.Follow(t, bob, "ada")
	e.Favorite(t, bob, art.Slug)
	hi := addReply(t, e, cy, art.Slug, "Hi", "")
	p := notificationsOf(t, e, ada, 20) // COMMENTED, FAVORITED, FOLLOWED
	if p.UnreadNotificationsCount != 3 {
		t.Fatalf("unread %d", p.UnreadNotificationsCount)
	}

	// Refused, changing nothing: someone else's, and not a notification id.
	before := e.Snapshot(t)
	if r := e.Query(t, bob.Token, ntMark, map[string]any{"upTo": p.Notifications.Nodes[0].ID}); r.Code() != "NOT_FOUND" {
		t.Errorf("marking ada's as bob: %s", r.Body)
	}
	if r := e.Query(t, ada.Token, ntMark, map[string]any{"upTo": art.ID}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("marking an article id: %s", r.Body)
	}
	if r := e.Query(t, "", ntMark, nil); r.Code() != "UNAUTHENTICATED" {
		t.Errorf("anonymous: %s", r.Body)
	}
	if after := e.Snapshot(t); !maps.Equal(before, after) || notificationsOf(t, e, ada, 20).UnreadNotificationsCount != 3 {
		t.Errorf("refusals changed something: %v -> %v", before, after)
	}

	var out struct {
		MarkNotificationsRead struct{ UnreadNotificationsCount int }
	}
	e.MustQuery(t, ada.Token, ntMark, map[string]any{"upTo": p.Notifications.Nodes[1].ID}, &out) // FAVORITED and older
	if out.MarkNotificationsRead.UnreadNotificationsCount != 1 {
		t.Errorf("unread after marking up to the second: %d", out.MarkNotificationsRead.UnreadNotificationsCount)
	}
	reads := func() []bool {
		var r []bool
		for _, n := range notificationsOf(t, e, ada, 20).Notifications.Nodes {
			r = append(r, n.Read)
		}
		return r
	}
	if got := reads(); !slices.Equal(got, []bool{false, true, true}) {
		t.Errorf("read flags %v", got)
	}
	// A favorite after the group was read starts a group of its own.
	e.Favorite(t, dee, art.Slug)
	if got := summaries(notificationsOf(t, e, ada, 20)); got[0] != "FAVORITED [dee] "+art.Slug || len(got) != 4 {
		t.Errorf("after reading, a new favorite: %q", got)
	}
	e.MustQuery(t, ada.Token, ntMark, nil, &out)
	if out.MarkNotificationsRead.UnreadNotificationsCount != 0 || slices.Contains(reads(), false) {
		t.Errorf("after marking all: unread %d, %v", out.MarkNotificationsRead.UnreadNotificationsCount, reads())
	}
	// A deleted comment leaves its notification, without the comment.
	var del map[string]any
	e.MustQuery(t, cy.Token, `mutation($id: ID!) { deleteComment(input: {id: $id}) { removedCommentIds } }`, map[string]any{"id": hi}, &del)
	got := notificationsOf(t, e, ada, 20).Notifications.Nodes
	if len(got) != 4 || got[1].Kind != "COMMENTED" || got[1].Comment != nil || got[1].Actor.Username != "cy" {
		t.Errorf("after deleting the comment: %+v", got)
	}
}

// Concurrent events for one user group into one listed notification, none lost.
func TestNotificationsConcurrent(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	art := e.CreateArticle(t, ada, "Popular")
	var users []*apptest.User
	for i := range 8 {
		users = append(users, e.SignUp(t, fmt.Sprintf("fan%d", i)))
	}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Favorite(t, u, art.Slug)
		}()
	}
	wg.Wait()
	p := notificationsOf(t, e, ada, 20)
	if len(p.Notifications.Nodes) != 1 || p.Notifications.Nodes[0].ActorsCount != len(users) || p.UnreadNotificationsCount != 1 {
		t.Errorf("notifications %q (actors %d), want one group of %d", summaries(p), p.Notifications.Nodes[0].ActorsCount, len(users))
	}
	if n := e.Count(t, "notifications"); n != len(users) {
		t.Errorf("%d rows, want one per event (%d)", n, len(users))
	}
}

type ntAddedMsg struct {
	NotificationAdded struct {
		ID          string
		Kind        string
		Actor       struct{ Username string }
		ActorsCount int
	}
}

// notificationAdded resumes: what was missed while disconnected, then live, each once.
func TestNotificationAddedResumes(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	art := e.CreateArticle(t, ada, "Talked about")
	var fans []*apptest.User
	for i := range 50 {
		fans = append(fans, e.SignUp(t, fmt.Sprintf("fan%02d", i)))
	}

	s := e.Connect(t, bearer(ada))
	id := s.Subscribe(ntAdded, nil)
	waitSubscriptions(t, e, 1)
	e.Follow(t, fans[0], "ada")
	var first ntAddedMsg
	s.Next(id).Decode(t, &first)
	if first.NotificationAdded.Kind != "FOLLOWED" || first.NotificationAdded.Actor.Username != "fan00" {
		t.Fatalf("live: %+v", first)
	}
	s.Close()
	waitSubscriptions(t, e, 0)

	// 50 events while away: comments, not grouped with the follow.
	for _, f := range fans {
		addReply(t, e, f, art.Slug, "hello from "+f.Username, "")
	}
	s = e.Connect(t, bearer(ada))
	id = s.Subscribe(ntAdded, map[string]any{"after": first.NotificationAdded.ID})
	var got []string
	for range fans {
		var m ntAddedMsg
		s.Next(id).Decode(t, &m)
		got = append(got, m.NotificationAdded.Actor.Username)
	}
	var want []string
	for _, f := range fans {
		want = append(want, f.Username)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	s.Quiet(quietFor)
	// Then live.
	e.Follow(t, fans[1], "ada")
	var live ntAddedMsg
	s.Next(id).Decode(t, &live)
	if live.NotificationAdded.Actor.Username != "fan01" || live.NotificationAdded.ActorsCount != 2 {
		t.Errorf("live after replay: %+v", live)
	}
	s.Quiet(quietFor)

	// A bad cursor is refused.
	id = s.Subscribe(ntAdded, map[string]any{"after": art.ID})
	if r := s.Next(id); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("after an article id: %s", r.Body)
	}
}

// Writes racing a resume are each delivered once, in order: replay and live meet with
// neither gap nor duplicate.
func TestNotificationAddedRacingWrites(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	art := e.CreateArticle(t, ada, "Busy")
	e.Follow(t, e.SignUp(t, "early"), "ada")
	cursor := notificationsOf(t, e, ada, 1).Notifications.Nodes[0].ID
	var fans []*apptest.User
	for i := range 20 {
		fans = append(fans, e.SignUp(t, fmt.Sprintf("fan%02d", i)))
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, f := range fans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i >= 10 {
				<-start
			}
			addReply(t, e, f, art.Slug, "x", "")
		}()
	}
	// Subscribe from the beginning while half the writes are still coming.
	s := e.Connect(t, bearer(ada))
	close(start)
	id := s.Subscribe(ntAdded, map[string]any{"after": cursor})
	seen := map[string]bool{}
	for range fans {
		var m ntAddedMsg
		s.Next(id).Decode(t, &m)
		if seen[m.NotificationAdded.ID] {
			t.Fatalf("%s sent twice", m.NotificationAdded.ID)
		}
		seen[m.NotificationAdded.ID] = true
	}
	wg.Wait()
	s.Quiet(quietFor)
	if len(seen) != len(fans) {
		t.Errorf("got %d distinct, want %d", len(seen), len(fans))
	}
}

type feedAddedMsg struct {
	FeedArticleAdded struct {
		ID, Slug string
	}
}

// feedArticleAdded resumes from the last article received: followed authors' and
// followed tags' articles published meanwhile, in order, then live.
func TestFeedArticleAddedResumes(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob, cy := e.SignUp(t, "ada"), e.SignUp(t, "bob"), e.SignUp(t, "cy")
	e.Follow(t, ada, "bob")
	e.CreateArticle(t, cy, "Seed", "go")
	tfFollowTag(t, e, ada, "go", true)

	const q = `subscription($after: ID) { feedArticleAdded(after: $after) { id slug } }`
	s := e.Connect(t, bearer(ada))
	id := s.Subscribe(q, nil)
	waitSubscriptions(t, e, 1)
	e.CreateArticle(t, cy, "Not for ada")
	firstArt := e.CreateArticle(t, bob, "First")
	var first feedAddedMsg
	s.Next(id).Decode(t, &first)
	if first.FeedArticleAdded.Slug != firstArt.Slug {
		t.Fatalf("live: %+v", first)
	}
	s.Quiet(quietFor)
	s.Close()
	waitSubscriptions(t, e, 0)

	var want []string
	for i := range 50 {
		switch i % 3 {
		case 0:
			want = append(want, e.CreateArticle(t, bob, fmt.Sprintf("Bob %d", i)).Slug)
		case 1:
			want = append(want, e.CreateArticle(t, cy, fmt.Sprintf("Cy on go %d", i), "go").Slug)
		default:
			e.CreateArticle(t, cy, fmt.Sprintf("Cy elsewhere %d", i), "rust")
		}
	}
	s = e.Connect(t, bearer(ada))
	id = s.Subscribe(q, map[string]any{"after": first.FeedArticleAdded.ID})
	var got []string
	for range want {
		var m feedAddedMsg
		s.Next(id).Decode(t, &m)
		got = append(got, m.FeedArticleAdded.Slug)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	s.Quiet(quietFor)
	live := e.CreateArticle(t, bob, "Live again")
	var m feedAddedMsg
	s.Next(id).Decode(t, &m)
	if m.FeedArticleAdded.Slug != live.Slug {
		t.Errorf("live after replay: %+v", m)
	}
	s.Quiet(quietFor)
}
