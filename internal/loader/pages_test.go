package loader

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/comment"
	"inkwell/ent/favorite"
	"inkwell/ent/follow"
	_ "inkwell/ent/runtime" // the schema's defaults, hooks and privacy policies
	"inkwell/internal/auth"
	"inkwell/internal/dbstats"
	"inkwell/internal/paging"
	"inkwell/internal/pgtest"
	"inkwell/internal/policy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newClient(t *testing.T) *ent.Client {
	t.Helper()
	db, err := sql.Open("postgres", pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return ent.NewClient(ent.Driver(dbstats.Wrap(entsql.OpenDB(dialect.Postgres, db))))
}

func newUser(t *testing.T, c *ent.Client, name string) *ent.User {
	t.Helper()
	// Fixtures are written as the system: no viewer would be allowed all of them.
	return c.User.Create().SetUsername(name).SetUsernameKey(name).SetEmail(name + "@example.com").SaveX(policy.System(context.Background()))
}

// pageSeed is eight users writing, favoriting, commenting and following, with times
// drawn from only three values so that ids must break ties, and rows inserted out of
// time order.
func pageSeed(t *testing.T, c *ent.Client) (users, articles []int) {
	t.Helper()
	ctx := policy.System(context.Background())
	base := time.Now().UTC().Truncate(time.Microsecond)
	at := func(n int) time.Time { return base.Add(-time.Duration((n*5)%3) * time.Minute) }
	for i := range 8 {
		users = append(users, newUser(t, c, fmt.Sprintf("u%d", i)).ID)
	}
	for n := range 40 {
		author := users[(n*3)%7] // u7 writes nothing
		// Lists are by publication, which differs from creation here; some are drafts,
		// which no list shows.
		create := c.Article.Create().SetSlug(fmt.Sprintf("a%d", n)).SetTitle("A").SetBody("b").
			SetAuthorID(author).SetCreatedAt(at(n))
		if n%9 == 4 {
			create.SetStatus(article.StatusDraft)
		} else {
			create.SetPublishedAt(at(n + 1))
		}
		a := create.SaveX(ctx)
		articles = append(articles, a.ID)
		for k := range n % 7 {
			c.Comment.Create().SetArticleID(a.ID).SetAuthorID(users[(n+k)%8]).SetBody("c").
				SetCreatedAt(at(n + k)).ExecX(ctx)
		}
	}
	for i, u := range users {
		for n, a := range articles {
			if (i+n)%3 == 0 && i != 6 { // u6 favorites nothing
				c.Favorite.Create().SetUserID(u).SetArticleID(a).ExecX(ctx)
			}
		}
		for j, v := range users {
			if i != j && (i*3+j)%4 != 1 {
				c.Follow.Create().SetFollowerID(u).SetFolloweeID(v).SetCreatedAt(at(i + j)).ExecX(ctx)
			}
		}
	}
	return users, articles
}

// pageList is one of the page loaders with the whole of each parent's list, read the
// plain way.
type pageList struct {
	name    string
	desc    bool
	parents []int
	load    func(*Loaders) pageLoader
	all     func(ctx context.Context, parent int) ([]int, []paging.Key)
}

// gotPage is a page of any loader, items by id.
type gotPage struct {
	IDs        []int
	Keys       []paging.Key
	Next, Prev bool
}

// pageLoader is one of the page loaders of a set, with its item type hidden.
type pageLoader struct {
	load    func(context.Context, PageKey) (gotPage, error)
	preload func(context.Context, []PageKey)
}

func loadWith[T any](pick func(*Loaders) *Loader[PageKey, paging.Page[T]], id func(T) int) func(*Loaders) pageLoader {
	return func(l *Loaders) pageLoader {
		return pageLoader{
			load: func(ctx context.Context, k PageKey) (gotPage, error) {
				p, err := pick(l).Load(ctx, k)()
				g := gotPage{Keys: p.Keys, Next: p.HasNextPage, Prev: p.HasPreviousPage}
				for _, it := range p.Items {
					g.IDs = append(g.IDs, id(it))
				}
				return g, err
			},
			preload: func(ctx context.Context, keys []PageKey) { pick(l).Preload(ctx, keys) },
		}
	}
}

func articleID(a *ent.Article) int { return a.ID }
func userID(u *ent.User) int       { return u.ID }

// want is w's page of a list whose whole is ids and keys, in list order.
func want(ids []int, keys []paging.Key, w paging.Window, desc bool) gotPage {
	less := func(a, b paging.Key) bool {
		if desc {
			a, b = b, a
		}
		return a.Time.Before(b.Time) || (a.Time.Equal(b.Time) && a.ID < b.ID)
	}
	var g gotPage
	for i, k := range keys {
		if (w.After == nil || less(*w.After, k)) && (w.Before == nil || less(k, *w.Before)) {
			g.IDs, g.Keys = append(g.IDs, ids[i]), append(g.Keys, k)
		}
	}
	more := len(g.IDs) > w.Limit
	if w.Backward {
		g.IDs, g.Keys, g.Prev = g.IDs[max(0, len(g.IDs)-w.Limit):], g.Keys[max(0, len(g.Keys)-w.Limit):], more
	} else {
		g.IDs, g.Keys, g.Next = g.IDs[:min(w.Limit, len(g.IDs))], g.Keys[:min(w.Limit, len(g.Keys))], more
	}
	return g
}

func equalPages(a, b gotPage) bool {
	return slices.Equal(a.IDs, b.IDs) && a.Next == b.Next && a.Prev == b.Prev &&
		slices.EqualFunc(a.Keys, b.Keys, func(x, y paging.Key) bool { return x.ID == y.ID && x.Time.Equal(y.Time) })
}

// Every page loader, for every kind of window, answers what the list read the plain way
// says, and many parents' pages of one window cost one statement.
func TestPagesMatchThePlainList(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	users, articles := pageSeed(t, c)
	desc := func(f string) func(*entsql.Selector) { return entsql.OrderByField(f, entsql.OrderDesc()).ToFunc() }
	asc := func(f string) func(*entsql.Selector) { return entsql.OrderByField(f, entsql.OrderAsc()).ToFunc() }
	articleKeys := func(as []*ent.Article) ([]int, []paging.Key) {
		var ids []int
		var keys []paging.Key
		for _, a := range as {
			ids, keys = append(ids, a.ID), append(keys, paging.Key{Time: *a.PublishedAt, ID: a.ID})
		}
		return ids, keys
	}
	follows := func(fs []*ent.Follow, other func(*ent.Follow) int) ([]int, []paging.Key) {
		var ids []int
		var keys []paging.Key
		for _, f := range fs {
			ids, keys = append(ids, other(f)), append(keys, paging.Key{Time: f.CreatedAt, ID: f.ID})
		}
		return ids, keys
	}
	lists := []pageList{
		{
			name: "comments", parents: articles,
			load: loadWith(func(l *Loaders) *Loader[PageKey, paging.Page[*ent.Comment]] { return l.Comments },
				func(c *ent.Comment) int { return c.ID }),
			all: func(ctx context.Context, p int) ([]int, []paging.Key) {
				cs := c.Comment.Query().Where(comment.ArticleID(p)).Order(asc("created_at"), asc("id")).AllX(ctx)
				var ids []int
				var keys []paging.Key
				for _, x := range cs {
					ids, keys = append(ids, x.ID), append(keys, paging.Key{Time: x.CreatedAt, ID: x.ID})
				}
				return ids, keys
			},
		},
		{
			name: "articles", desc: true, parents: users,
			load: loadWith(func(l *Loaders) *Loader[PageKey, paging.Page[*ent.Article]] { return l.Articles }, articleID),
			all: func(ctx context.Context, p int) ([]int, []paging.Key) {
				return articleKeys(c.Article.Query().Where(article.AuthorID(p), article.StatusEQ(article.StatusPublished)).
					Order(desc("published_at"), desc("id")).AllX(ctx))
			},
		},
		{
			name: "favorite articles", desc: true, parents: users,
			load: loadWith(func(l *Loaders) *Loader[PageKey, paging.Page[*ent.Article]] { return l.FavoriteArticles }, articleID),
			all: func(ctx context.Context, p int) ([]int, []paging.Key) {
				return articleKeys(c.Article.Query().Where(article.HasFavoritesWith(favorite.UserID(p)),
					article.StatusEQ(article.StatusPublished)).Order(desc("published_at"), desc("id")).AllX(ctx))
			},
		},
		{
			name: "followers", desc: true, parents: users,
			load: loadWith(func(l *Loaders) *Loader[PageKey, paging.Page[*ent.User]] { return l.Followers }, userID),
			all: func(ctx context.Context, p int) ([]int, []paging.Key) {
				return follows(c.Follow.Query().Where(follow.FolloweeID(p)).Order(desc("created_at"), desc("id")).AllX(ctx),
					func(f *ent.Follow) int { return f.FollowerID })
			},
		},
		{
			name: "following", desc: true, parents: users,
			load: loadWith(func(l *Loaders) *Loader[PageKey, paging.Page[*ent.User]] { return l.Following }, userID),
			all: func(ctx context.Context, p int) ([]int, []paging.Key) {
				return follows(c.Follow.Query().Where(follow.FollowerID(p)).Order(desc("created_at"), desc("id")).AllX(ctx),
					func(f *ent.Follow) int { return f.FolloweeID })
			},
		},
	}
	for _, pl := range lists {
		t.Run(pl.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			wholes := map[int]gotPage{}
			var longest gotPage
			for _, p := range pl.parents {
				ids, keys := pl.all(ctx, p)
				wholes[p] = gotPage{IDs: ids, Keys: keys}
				if len(keys) > len(longest.Keys) {
					longest = wholes[p]
				}
			}
			if n := len(longest.Keys); n < 5 {
				t.Fatalf("seed: the longest list has %d rows", n)
			}
			k1, k2 := longest.Keys[1], longest.Keys[len(longest.Keys)-2]
			for _, w := range []paging.Window{
				{Limit: 2},
				{Limit: 0},
				{Limit: 100},
				{Limit: 2, After: &k1},
				{Limit: 2, After: &k1, Before: &k2},
				{Limit: 2, Backward: true},
				{Limit: 3, Backward: true, Before: &k2},
				{Limit: 1, Backward: true, After: &k1},
			} {
				l := pl.load(New(c, auth.Viewer{}, nil))
				cctx, counter := dbstats.WithCounter(ctx)
				var keys []PageKey
				for _, p := range pl.parents {
					keys = append(keys, NewPageKey(p, w))
				}
				l.preload(cctx, keys)
				thunks := map[int]func() (gotPage, error){}
				for _, p := range pl.parents {
					key := NewPageKey(p, w)
					thunks[p] = func() (gotPage, error) { return l.load(cctx, key) }
				}
				for _, p := range pl.parents {
					got, err := thunks[p]()
					if err != nil {
						t.Fatalf("%+v: parent %d: %v", w, p, err)
					}
					whole := wholes[p]
					if exp := want(whole.IDs, whole.Keys, w, pl.desc); !equalPages(got, exp) {
						t.Errorf("window %+v, parent %d:\n got %+v\nwant %+v", w, p, got, exp)
					}
				}
				// Preloaded, the parents' pages cost one statement, and loading them
				// one after the other none more.
				if counter.Count() != 1 {
					t.Errorf("window %+v: %d statements for %d parents, want 1", w, counter.Count(), len(pl.parents))
				}
			}
		})
	}
}

// Preload fetches the keys not loaded yet in one statement, now, and later loads of
// them, one at a time, cost nothing; keys loaded before are not fetched again.
func TestPreload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)
	var ids []int
	for i := range 4 {
		ids = append(ids, newUser(t, c, fmt.Sprintf("u%d", i)).ID)
	}
	l := New(c, auth.Viewer{}, nil)
	if _, err := l.UserByID.Load(ctx, ids[0])(); err != nil {
		t.Fatal(err)
	}
	var fetched []int
	cctx := WithBatchObserver(ctx, func(name string, keys int) {
		if name == "UserByID" {
			fetched = append(fetched, keys)
		}
	})
	cctx, counter := dbstats.WithCounter(cctx)
	l.UserByID.Preload(cctx, append(ids, ids[1], ids[2]))
	if n := counter.Count(); n != 1 || !slices.Equal(fetched, []int{3}) {
		t.Fatalf("preload: %d statements fetching %v keys, want 1 fetching the 3 not loaded", n, fetched)
	}
	us, errs := l.UserByID.LoadAll(cctx, ids)
	if errs != nil {
		t.Fatal(errs)
	}
	for i, u := range us {
		if u.ID != ids[i] {
			t.Errorf("LoadAll[%d] = user %d, want %d", i, u.ID, ids[i])
		}
	}
	if n := counter.Count(); n != 1 {
		t.Errorf("loads after the preload: %d statements in all, want still 1", n)
	}
	// A missing key is not kept: its load reports it.
	l.UserByID.Preload(cctx, []int{1 << 30})
	if _, err := l.UserByID.Load(cctx, 1<<30)(); err == nil {
		t.Error("load of a missing user after its preload: no error")
	}
}
