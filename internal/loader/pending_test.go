package loader

import (
	"context"
	"sync"
	"testing"

	"inkwell/internal/auth"
	"inkwell/internal/change"
)

// A request's set is built on its first use, once, however many goroutines ask at
// once; a write applied before that has nothing to forget and builds nothing.
func TestPerRequestBuildsTheSetOnFirstUse(t *testing.T) {
	ctx := auth.WithViewer(context.Background(), auth.Viewer{UserID: 7})
	ctx = PerRequest(nil, nil)(ctx)
	p, ok := ctx.Value(ctxKey{}).(*pending)
	if !ok {
		t.Fatalf("PerRequest installed %T, want a pending set", ctx.Value(ctxKey{}))
	}
	Apply(ctx, change.Set{Users: []int{1}, Articles: []int{2}, AllComments: true})
	if p.l.Load() != nil {
		t.Fatal("Apply built the set")
	}
	var wg sync.WaitGroup
	got := make([]*Loaders, 8)
	for i := range got {
		wg.Go(func() { got[i] = For(ctx) })
	}
	wg.Wait()
	for i, l := range got {
		if l == nil || l != got[0] {
			t.Fatalf("For #%d returned %p, want the one set %p", i, l, got[0])
		}
	}
	if got[0].b.viewer.UserID != 7 {
		t.Errorf("the set reads for viewer %d, want 7", got[0].b.viewer.UserID)
	}
	Apply(ctx, change.Set{Users: []int{1}}) // now built: it forgets, and must not panic
}

// A loader is built on its first use; clearing one never used is harmless.
func TestLoaderIsBuiltOnFirstUse(t *testing.T) {
	l := New(nil, auth.Viewer{}, nil)
	if l.UserByID.dl.Load() != nil {
		t.Fatal("UserByID was built before its first use")
	}
	l.UserByID.Prime(context.Background(), 3, nil)
	if l.UserByID.dl.Load() == nil {
		t.Fatal("Prime did not build UserByID")
	}
	if _, ok := l.UserByID.cached(context.Background(), 3); !ok {
		t.Error("the primed key is not cached")
	}
	l.ArticleByID.ClearAll()
	l.ArticleByID.Clear(context.Background(), 1)
}
