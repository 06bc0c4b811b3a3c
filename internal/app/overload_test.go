package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
)

// TestOverload fills every slot with requests that PostgreSQL provably holds (they wait
// on a table lock the test owns), then sends more. Each extra request must be refused
// with 503 OVERLOADED while the slots are still held, that is without queueing behind
// them; once the lock is released every held request must complete normally and the
// server must admit again. Nothing here depends on how fast the machine is: the open-loop
// measurement of shedding under real load lives in the benchmark (go run ./bench -overload).
func TestOverload(t *testing.T) {
	const (
		maxInFlight = 8
		queueWait   = 100 * time.Millisecond
		extra       = 2 * maxInFlight
	)
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
		c.MaxInFlight = maxInFlight
		c.QueueWait = queueWait
	}))
	u := e.SignUp(t, "ada")
	e.CreateArticle(t, u, "Held article", "go")
	body, err := json.Marshal(map[string]any{"query": `{ articles(first: 10) { edges { node { slug title } } } }`})
	if err != nil {
		t.Fatal(err)
	}
	post := func() (int, http.Header, []byte, error) {
		res, err := http.Post(e.URL+"/graphql", "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, nil, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b, err
	}

	ctx := context.Background()
	lock, err := e.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	tx, err := lock.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `LOCK TABLE articles IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	type answer struct {
		code int
		body string
		err  error
	}
	held := make(chan answer, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range maxInFlight {
		wg.Go(func() {
			code, _, b, err := post()
			held <- answer{code, string(b), err}
		})
	}
	// The slots are provably full once every held request waits on the lock in PostgreSQL.
	waitLocked(t, e, maxInFlight)

	var shedWG sync.WaitGroup
	refused := make(chan answer, extra)
	for range extra {
		shedWG.Go(func() {
			start := time.Now()
			code, h, b, err := post()
			switch {
			case err != nil:
				refused <- answer{err: err}
			case code != http.StatusServiceUnavailable || !bytes.Contains(b, []byte(`"OVERLOADED"`)) || h.Get("Retry-After") != "1":
				refused <- answer{code: code, body: string(b)}
			case time.Since(start) < queueWait*9/10:
				refused <- answer{code: code, body: fmt.Sprintf("refused after %v, before the %v queue wait", time.Since(start), queueWait)}
			default:
				refused <- answer{code: code}
			}
		})
	}
	// Every extra request is answered while the lock is still held: none was queued
	// behind the held ones.
	shedWG.Wait()
	close(refused)
	for a := range refused {
		if a.err != nil || a.body != "" {
			t.Errorf("extra request: HTTP %d %v %.300s, want 503 OVERLOADED with Retry-After: 1 after the queue wait", a.code, a.err, a.body)
		}
	}

	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for range maxInFlight {
		a := <-held
		if a.err != nil || a.code != http.StatusOK || !bytes.Contains([]byte(a.body), []byte(`"Held article"`)) {
			t.Errorf("held request: HTTP %d %v %.300s, want 200 with the article", a.code, a.err, a.body)
		}
	}
	// The slots are free again.
	if code, _, b, err := post(); err != nil || code != http.StatusOK {
		t.Errorf("after the overload: HTTP %d %v %.300s, want 200", code, err, b)
	}
}
