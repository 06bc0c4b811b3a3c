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
	"github.com/graph-gophers/dataloader/v7"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/comment"
	"inkwell/ent/favorite"
	"inkwell/ent/follow"
	"inkwell/internal/auth"
	"inkwell/internal/dbstats"
	"inkwell/internal/paging"
	"inkwell/internal/pgtest"
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
	return c.User.Create().SetUsername(name).SetUsernameKey(name).SetEmail(name + "@example.com").SaveX(context.Background())
}

// pageSeed is eight users writing, favoriting, commenting and following, with times
// drawn from only three values so that ids must break ties, and rows inserted out of
// time order.
func pageSeed(t *testing.T, c *ent.Client) (users, articles []int) {
	t.Helper()
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Microsecond)
	at := func(n int) time.Time { return base.Add(-time.Duration((n*5)%3) * time.Minute) }
	for i := range 8 {
		users = append(users, newUser(t, c, fmt.Sprintf("u%d", i)).ID)
	}
	for n := range 40 {
		author := users[(n*3)%7] // u7 writes nothing
		a := c.Article.Create().SetSlug(fmt.Sprintf("a%d", n)).SetTitle("A").SetBody("b").
			SetAuthorID(author).SetCreatedAt(at(n)).SaveX(ctx)
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
	load    func(*Loaders) func(context.Context, PageKey) (gotPage, error)
	all     func(ctx context.Context, parent int) ([]int, []paging.Key)
}

// gotPage is a page of any loader, items by id.
type gotPage struct {
	IDs        []int
	Keys       []paging.Key
	Next, Prev bool
}

func loadWith[T any](pick func(*Loaders) *dataloader.Loader[PageKey, paging.Page[T]], id func(T) int) func(*Loaders) func(context.Context, PageKey) (gotPage, error) {
	return func(l *Loaders) func(context.Context, PageKey) (gotPage, error) {
		return func(ctx context.Context, k PageKey) (gotPage, error) {
			p, err := pick(l).Load(ctx, k)()
			g := gotPage{Keys: p.Keys, Next: p.HasNextPage, Prev: p.HasPreviousPage}
			for _, it := range p.Items {
				g.IDs = append(g.IDs, id(it))
			}
			return g, err
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
			ids, keys = append(ids, a.ID), append(keys, paging.Key{Time: a.CreatedAt, ID: a.ID})
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
			load: loadWith(func(l *Loaders) *dataloader.Loader[PageKey, paging.Page[*ent.Comment]] { return l.Comments },
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
			load: loadWith(func(l *Loaders) *dataloader.Loader[PageKey, paging.Page[*ent.Article]] { return l.Articles }, articleID),
			all: func(ctx context.Context, p int) ([]int, []paging.Key) {
				return articleKeys(c.Article.Query().Where(article.AuthorID(p)).Order(desc("created_at"), desc("id")).AllX(ctx))
			},
		},
		{
			name: "favorite articles", desc: true, parents: users,
			load: loadWith(func(l *Loaders) *dataloader.Loader[PageKey, paging.Page[*ent.Article]] { return l.FavoriteArticles }, articleID),
			all: func(ctx context.Context, p int) ([]int, []paging.Key) {
				return articleKeys(c.Article.Query().Where(article.HasFavoritesWith(favorite.UserID(p))).
					Order(desc("created_at"), desc("id")).AllX(ctx))
			},
		},
		{
			name: "followers", desc: true, parents: users,
			load: loadWith(func(l *Loaders) *dataloader.Loader[PageKey, paging.Page[*ent.User]] { return l.Followers }, userID),
			all: func(ctx context.Context, p int) ([]int, []paging.Key) {
				return follows(c.Follow.Query().Where(follow.FolloweeID(p)).Order(desc("created_at"), desc("id")).AllX(ctx),
					func(f *ent.Follow) int { return f.FollowerID })
			},
		},
		{
			name: "following", desc: true, parents: users,
			load: loadWith(func(l *Loaders) *dataloader.Loader[PageKey, paging.Page[*ent.User]] { return l.Following }, userID),
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
				l := New(c, auth.Viewer{})
				ListUsers(With(ctx, l), users)
				ListArticles(With(ctx, l), c.Article.Query().Where(article.IDIn(articles...)).AllX(ctx))
				cctx, counter := dbstats.WithCounter(With(ctx, l))
				thunks := map[int]func() (gotPage, error){}
				for _, p := range pl.parents {
					load := pl.load(l)
					key := NewPageKey(p, w)
					thunks[p] = func() (gotPage, error) { return load(cctx, key) }
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
				// Without a cursor the parents' pages are one list's, fetched at once
				// even though asked for one after the other.
				if w.After == nil && w.Before == nil && counter.Count() != 1 {
					t.Errorf("window %+v: %d statements for %d parents, want 1", w, counter.Count(), len(pl.parents))
				}
			}
		})
	}
}

// The rows of the pages of one batch are one list, so their own fields are fetched
// at once: here asked for one at a time, with no chance to meet in a batch.
func TestPagesListTheirRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t)
	a, b := newUser(t, c, "a"), newUser(t, c, "b")
	var readers []int
	for i := range 4 {
		r := newUser(t, c, fmt.Sprintf("r%d", i))
		readers = append(readers, r.ID)
		c.Follow.Create().SetFollowerID(r.ID).SetFolloweeID([]int{a.ID, b.ID}[i%2]).ExecX(ctx)
		c.Article.Create().SetSlug(fmt.Sprintf("s%d", i)).SetTitle("T").SetBody("b").SetAuthorID([]int{a.ID, b.ID}[i/2]).ExecX(ctx)
		c.Follow.Create().SetFollowerID(b.ID).SetFolloweeID(r.ID).ExecX(ctx)
	}
	l := New(c, auth.Viewer{})
	ctx = With(ctx, l)
	ListUsers(ctx, []int{a.ID, b.ID})
	w := paging.Window{Limit: 10}

	var listed []int
	for _, p := range []int{a.ID, b.ID} {
		page, err := l.Followers.Load(ctx, NewPageKey(p, w))()
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Items {
			listed = append(listed, u.ID)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, readers) {
		t.Fatalf("followers of a and b = %v, want %v", listed, readers)
	}
	cctx, counter := dbstats.WithCounter(ctx)
	for _, r := range readers {
		if _, err := l.FollowersCount.Load(cctx, r)(); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.Count(); n != 1 {
		t.Errorf("followersCount of the followers, one at a time: %d statements, want 1", n)
	}

	var arts []int
	for _, p := range []int{a.ID, b.ID} {
		page, err := l.Articles.Load(ctx, NewPageKey(p, w))()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Items {
			arts = append(arts, x.ID)
		}
	}
	if len(arts) != 4 {
		t.Fatalf("a and b wrote %d articles, want 4", len(arts))
	}
	cctx, counter = dbstats.WithCounter(ctx)
	for _, id := range arts {
		if _, err := l.TagsByArticle.Load(cctx, id)(); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.Count(); n != 1 {
		t.Errorf("tags of the articles, one at a time: %d statements, want 1", n)
	}
}
