package app_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"inkwell/internal/apptest"
)

const (
	acsFavorite   = `mutation($s: String!) { favoriteArticle(input: {slug: $s}) { article { slug favoritesCount viewerHasFavorited } } }`
	acsUnfavorite = `mutation($s: String!) { unfavoriteArticle(input: {slug: $s}) { article { slug favoritesCount viewerHasFavorited } } }`
	acsFollow     = `mutation($u: String!) { followUser(input: {username: $u}) { user { username viewerIsFollowing followersCount followingCount } } }`
	acsUnfollow   = `mutation($u: String!) { unfollowUser(input: {username: $u}) { user { username viewerIsFollowing followersCount followingCount } } }`
)

type acsFavorited struct {
	Slug               string
	FavoritesCount     int
	ViewerHasFavorited bool
}

// acsFavoritePayload decodes the article of a favoriteArticle or unfavoriteArticle answer.
func acsFavoritePayload(t testing.TB, res *apptest.Response) acsFavorited {
	t.Helper()
	var out struct {
		FavoriteArticle, UnfavoriteArticle *struct{ Article acsFavorited }
	}
	res.Decode(t, &out)
	if out.FavoriteArticle != nil {
		return out.FavoriteArticle.Article
	}
	return out.UnfavoriteArticle.Article
}

type acsFollowed struct {
	Username                       string
	ViewerIsFollowing              bool
	FollowersCount, FollowingCount int
}

// acsFollowPayload decodes the user of a followUser or unfollowUser answer.
func acsFollowPayload(t testing.TB, res *apptest.Response) acsFollowed {
	t.Helper()
	var out struct {
		FollowUser, UnfollowUser *struct{ User acsFollowed }
	}
	res.Decode(t, &out)
	if out.FollowUser != nil {
		return out.FollowUser.User
	}
	return out.UnfollowUser.User
}

func TestSocialFavorite(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	carol := e.SignUp(t, "carol")
	a := e.CreateArticle(t, alice, "Liked")
	original := acsRead(t, e, "", a.Slug)
	// Runs in order; each step's payload shows the article as the acting user sees it.
	for _, tc := range []struct {
		name      string
		user      *apptest.User
		mutation  string
		count     int
		favorited bool
		rows      int
	}{
		{"first favorite", bob, acsFavorite, 1, true, 1},
		{"favorite twice stores one row", bob, acsFavorite, 1, true, 1},
		{"someone else favorites", carol, acsFavorite, 2, true, 2},
		{"the author favorites", alice, acsFavorite, 3, true, 3},
		{"unfavorite", bob, acsUnfavorite, 2, false, 2},
		{"unfavorite twice", bob, acsUnfavorite, 2, false, 2},
		{"unfavorite never favorited", bob, acsUnfavorite, 2, false, 2},
		{"favorite again", bob, acsFavorite, 3, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := acsFavoritePayload(t, e.Query(t, tc.user.Token, tc.mutation, map[string]any{"s": a.Slug}))
			if want := (acsFavorited{a.Slug, tc.count, tc.favorited}); got != want {
				t.Errorf("payload article = %+v, want %+v", got, want)
			}
			if n := e.Count(t, "favorites"); n != tc.rows {
				t.Errorf("favorites rows = %d, want %d", n, tc.rows)
			}
		})
	}
	// A reader's favorite is no change to the article.
	if got := acsRead(t, e, "", a.Slug).UpdatedAt; got != original.UpdatedAt {
		t.Errorf("updatedAt = %s after favorites, want %s as before", got, original.UpdatedAt)
	}
	// Other viewers see the count but not the flag.
	for _, tc := range []struct {
		name      string
		token     string
		favorited bool
	}{
		{"anonymous", "", false},
		{"a favoriter", carol.Token, true},
		{"no favoriter", e.SignUp(t, "dave").Token, false},
	} {
		t.Run("read by "+tc.name, func(t *testing.T) {
			got := acsRead(t, e, tc.token, a.Slug)
			if got.FavoritesCount != 3 || got.ViewerHasFavorited != tc.favorited {
				t.Errorf("favoritesCount, viewerHasFavorited = %d, %v; want 3, %v", got.FavoritesCount, got.ViewerHasFavorited, tc.favorited)
			}
		})
	}
}

func TestSocialFavoriteErrors(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	a := e.CreateArticle(t, alice, "Liked")
	for _, tc := range []struct {
		name     string
		token    string
		mutation string
		slug     string
		want     string
	}{
		{"favorite anonymously", "", acsFavorite, a.Slug, "UNAUTHENTICATED"},
		{"unfavorite anonymously", "", acsUnfavorite, a.Slug, "UNAUTHENTICATED"},
		{"favorite unknown slug", alice.Token, acsFavorite, "missing", "NOT_FOUND"},
		{"unfavorite unknown slug", alice.Token, acsUnfavorite, "missing", "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			acsWantError(t, e.Query(t, tc.token, tc.mutation, map[string]any{"s": tc.slug}), tc.want)
			acsSameRows(t, e, before)
		})
	}
	if got := acsRead(t, e, "", a.Slug); got.FavoritesCount != 0 {
		t.Errorf("favoritesCount = %d, want 0", got.FavoritesCount)
	}
}

func TestSocialFavoriteConcurrent(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	a := e.CreateArticle(t, alice, "Popular")
	const n = 20
	users := make([]*apptest.User, n)
	for i := range users {
		users[i] = e.SignUp(t, fmt.Sprintf("fan%d", i))
	}
	// all sends mutation once per user at the same time and checks every answer.
	all := func(t *testing.T, mutation string, favorited bool) {
		t.Helper()
		res := make([]*apptest.Response, n)
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() { res[i] = e.Query(t, u.Token, mutation, map[string]any{"s": a.Slug}) })
		}
		wg.Wait()
		for _, r := range res {
			if got := acsFavoritePayload(t, r); got.ViewerHasFavorited != favorited || got.FavoritesCount < 0 || got.FavoritesCount > n {
				t.Errorf("payload article = %+v, want viewerHasFavorited %v and a count in 0..%d", got, favorited, n)
			}
		}
	}
	check := func(t *testing.T, want int) {
		t.Helper()
		if got := acsRead(t, e, "", a.Slug).FavoritesCount; got != want {
			t.Errorf("favoritesCount = %d, want %d", got, want)
		}
		if got := e.Count(t, "favorites"); got != want {
			t.Errorf("favorites rows = %d, want %d", got, want)
		}
	}

	all(t, acsFavorite, true)
	check(t, n)
	all(t, acsUnfavorite, false)
	check(t, 0)

	// One user's double click, many times over, still stores one row.
	res := make([]*apptest.Response, 10)
	var wg sync.WaitGroup
	for i := range res {
		wg.Go(func() { res[i] = e.Query(t, users[0].Token, acsFavorite, map[string]any{"s": a.Slug}) })
	}
	wg.Wait()
	for _, r := range res {
		if got := acsFavoritePayload(t, r); !got.ViewerHasFavorited || got.FavoritesCount != 1 {
			t.Errorf("payload article = %+v, want favorited once", got)
		}
	}
	check(t, 1)
}

func TestSocialFollow(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	carol := e.SignUp(t, "carol")
	// Runs in order; each payload is alice as the acting user sees her.
	for _, tc := range []struct {
		name      string
		user      *apptest.User
		mutation  string
		username  string
		following bool
		followers int
		rows      int
	}{
		{"follow", bob, acsFollow, "alice", true, 1, 1},
		{"follow twice stores one row", bob, acsFollow, "alice", true, 1, 1},
		{"username in another case", bob, acsFollow, "ALICE", true, 1, 1},
		{"someone else follows", carol, acsFollow, "alice", true, 2, 2},
		{"unfollow", bob, acsUnfollow, "alice", false, 1, 1},
		{"unfollow twice", bob, acsUnfollow, "alice", false, 1, 1},
		{"follow again", bob, acsFollow, "alice", true, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := acsFollowPayload(t, e.Query(t, tc.user.Token, tc.mutation, map[string]any{"u": tc.username}))
			if want := (acsFollowed{"alice", tc.following, tc.followers, 0}); got != want {
				t.Errorf("payload user = %+v, want %+v", got, want)
			}
			if n := e.Count(t, "follows"); n != tc.rows {
				t.Errorf("follows rows = %d, want %d", n, tc.rows)
			}
		})
	}
	// With alice following carol too, each direction is counted apart.
	e.Follow(t, alice, "carol")
	for _, tc := range []struct {
		name, token, username string
		want                  acsFollowed
	}{
		{"bob by anonymous", "", "bob", acsFollowed{"bob", false, 0, 1}},
		{"alice by anonymous", "", "alice", acsFollowed{"alice", false, 2, 1}},
		{"alice by bob", bob.Token, "alice", acsFollowed{"alice", true, 2, 1}},
		{"alice by herself", alice.Token, "alice", acsFollowed{"alice", false, 2, 1}},
		{"carol by alice", alice.Token, "carol", acsFollowed{"carol", true, 1, 1}},
		{"bob by alice", alice.Token, "bob", acsFollowed{"bob", false, 0, 1}},
	} {
		t.Run("read "+tc.name, func(t *testing.T) {
			var out struct{ User acsFollowed }
			e.MustQuery(t, tc.token, `query($u: String!) { user(username: $u) { username viewerIsFollowing followersCount followingCount } }`,
				map[string]any{"u": tc.username}, &out)
			if out.User != tc.want {
				t.Errorf("user = %+v, want %+v", out.User, tc.want)
			}
		})
	}
}

func TestSocialFollowErrors(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	e.SignUp(t, "bob")
	for _, tc := range []struct {
		name     string
		token    string
		mutation string
		username string
		want     string
		fields   []string
	}{
		{"follow yourself", alice.Token, acsFollow, "alice", "BAD_USER_INPUT", []string{"username"}},
		{"follow yourself in another case", alice.Token, acsFollow, " Alice ", "BAD_USER_INPUT", []string{"username"}},
		{"follow unknown user", alice.Token, acsFollow, "nobody", "NOT_FOUND", nil},
		{"unfollow unknown user", alice.Token, acsUnfollow, "nobody", "NOT_FOUND", nil},
		{"follow anonymously", "", acsFollow, "bob", "UNAUTHENTICATED", nil},
		{"unfollow anonymously", "", acsUnfollow, "bob", "UNAUTHENTICATED", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			acsWantError(t, e.Query(t, tc.token, tc.mutation, map[string]any{"u": tc.username}), tc.want, tc.fields...)
			acsSameRows(t, e, before)
		})
	}
}

func TestSocialFollowConcurrent(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	res := make([]*apptest.Response, 10)
	var wg sync.WaitGroup
	for i := range res {
		wg.Go(func() { res[i] = e.Query(t, bob.Token, acsFollow, map[string]any{"u": "alice"}) })
	}
	wg.Wait()
	for _, r := range res {
		if got := acsFollowPayload(t, r); !got.ViewerIsFollowing || got.FollowersCount != 1 {
			t.Errorf("payload user = %+v, want followed once", got)
		}
	}
	if n := e.Count(t, "follows"); n != 1 {
		t.Errorf("follows rows = %d, want 1", n)
	}
}

func TestSocialFollowLists(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	carol := e.SignUp(t, "carol")
	dave := e.SignUp(t, "dave")
	for _, u := range []*apptest.User{bob, carol, dave} {
		e.Follow(t, u, "alice")
	}
	e.Follow(t, alice, "carol")
	e.Follow(t, alice, "bob")

	type conn struct {
		Nodes      []struct{ Username string }
		PageInfo   struct{ HasNextPage bool }
		TotalCount int
	}
	lists := func(t *testing.T, username string, first int) (followers, following conn) {
		t.Helper()
		var out struct {
			User struct{ Followers, Following conn }
		}
		e.MustQuery(t, "", `query($u: String!, $n: Int) { user(username: $u) {
			followers(first: $n) { nodes { username } pageInfo { hasNextPage } totalCount }
			following(first: $n) { nodes { username } pageInfo { hasNextPage } totalCount } } }`,
			map[string]any{"u": username, "n": first}, &out)
		return out.User.Followers, out.User.Following
	}
	names := func(c conn) []string {
		out := []string{}
		for _, n := range c.Nodes {
			out = append(out, n.Username)
		}
		return out
	}
	for _, tc := range []struct {
		name, username                 string
		first                          int
		followers, following           []string
		followersNext, followingNext   bool
		followersTotal, followingTotal int
	}{
		{"alice", "alice", 20, []string{"dave", "carol", "bob"}, []string{"bob", "carol"}, false, false, 3, 2},
		{"alice first 2", "alice", 2, []string{"dave", "carol"}, []string{"bob", "carol"}, true, false, 3, 2},
		{"carol", "carol", 20, []string{"alice"}, []string{"alice"}, false, false, 1, 1},
		{"dave", "dave", 20, []string{}, []string{"alice"}, false, false, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			followers, following := lists(t, tc.username, tc.first)
			if got := names(followers); !slices.Equal(got, tc.followers) || followers.PageInfo.HasNextPage != tc.followersNext || followers.TotalCount != tc.followersTotal {
				t.Errorf("followers = %v (next %v, total %d), want %v (next %v, total %d)",
					got, followers.PageInfo.HasNextPage, followers.TotalCount, tc.followers, tc.followersNext, tc.followersTotal)
			}
			if got := names(following); !slices.Equal(got, tc.following) || following.PageInfo.HasNextPage != tc.followingNext || following.TotalCount != tc.followingTotal {
				t.Errorf("following = %v (next %v, total %d), want %v (next %v, total %d)",
					got, following.PageInfo.HasNextPage, following.TotalCount, tc.following, tc.followingNext, tc.followingTotal)
			}
		})
	}
	t.Run("after unfollow", func(t *testing.T) {
		var out any
		e.MustQuery(t, carol.Token, acsUnfollow, map[string]any{"u": "alice"}, &out)
		followers, _ := lists(t, "alice", 20)
		if got := names(followers); !slices.Equal(got, []string{"dave", "bob"}) || followers.TotalCount != 2 {
			t.Errorf("followers = %v (total %d), want [dave bob] (total 2)", got, followers.TotalCount)
		}
	})
}
