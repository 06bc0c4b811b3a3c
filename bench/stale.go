package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// staleResult is the -stale phase: one client edits an article's title through instance
// A, one edit after another, while readers read it, half through A and half through a
// second instance B over the same database. A read is stale when it was sent after an
// edit was acknowledged and still shows an older title; its age is how long before the
// read was sent the first newer edit was acknowledged.
type staleResult struct {
	Seconds float64 `json:"seconds"`
	Edits   int     `json:"edits"`
	Readers int     `json:"readers"`
	// By where the readers read: "same instance" (A) and "other instance" (B).
	Reads map[string]staleReads `json:"reads"`
}

type staleReads struct {
	Reads      int     `json:"reads"`
	Stale      int     `json:"stale"`
	MaxStaleMs float64 `json:"max_stale_ms"`
}

func (r staleResult) String() string {
	var parts []string
	for _, where := range []string{"same instance", "other instance"} {
		x := r.Reads[where]
		parts = append(parts, fmt.Sprintf("%s: %d reads, %d stale (oldest %.1f ms)", where, x.Reads, x.Stale, x.MaxStaleMs))
	}
	return fmt.Sprintf("%d readers read an article while one client edited it %d times in %.0fs; %s",
		r.Readers, r.Edits, r.Seconds, strings.Join(parts, "; "))
}

const (
	staleEdit = `mutation StaleEdit($slug: String!, $title: String!) { updateArticle(input: {slug: $slug, title: $title}) { article { title } } }`
	staleRead = `query StaleRead($slug: String!) { article(slug: $slug) { title } }`
)

// stale runs the phase for dur against a (Inkwell) and a second instance it starts.
func stale(ctx context.Context, st *stack, work string, a *target, db *sql.DB, ds *dataset, readers int, dur time.Duration) (staleResult, error) {
	res := staleResult{Readers: readers, Reads: map[string]staleReads{}}
	b, err := startInkwell(ctx, st, work, "inkwell-b", a.env)
	if err != nil {
		return res, err
	}
	var slug string
	var author int
	if err := db.QueryRowContext(ctx, `SELECT slug, author_id FROM articles ORDER BY id LIMIT 1`).Scan(&slug, &author); err != nil {
		return res, err
	}
	token := ds.tokens[author-1]
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(url, token, query string, vars map[string]any) (string, error) {
		body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		var out struct {
			Data   map[string]struct{ Title string }
			Errors []json.RawMessage
		}
		if err := json.Unmarshal(b, &out); err != nil || len(out.Errors) > 0 || resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, b)
		}
		for _, v := range out.Data {
			return v.Title, nil
		}
		return "", fmt.Errorf("no data: %.300s", b)
	}
	edition := func(title string) int {
		n, err := strconv.Atoi(strings.TrimPrefix(title, "stale probe "))
		if err != nil {
			return 0 // the seeded title: before the first edit
		}
		return n
	}

	var (
		mu    sync.Mutex
		acked = []time.Time{{}} // acked[n]: when edit n was answered; edit 0 is the seed
	)
	// newestBefore is the newest edit answered before t, and when its successor was.
	newestBefore := func(t time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n, _ := slices.BinarySearchFunc(acked[1:], t, func(a, t time.Time) int { return a.Compare(t) })
		return n
	}
	ackedAt := func(n int) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return acked[n]
	}

	phase, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	wg.Go(func() {
		for n := 1; phase.Err() == nil; n++ {
			if _, err := post(a.url, token, staleEdit, map[string]any{"slug": slug, "title": fmt.Sprintf("stale probe %d", n)}); err != nil {
				if phase.Err() == nil {
					fail(fmt.Errorf("edit %d: %w", n, err))
				}
				return
			}
			mu.Lock()
			acked = append(acked, time.Now())
			mu.Unlock()
		}
	})
	var rmu sync.Mutex
	for i := range readers {
		where, url := "same instance", a.url
		if i%2 == 1 {
			where, url = "other instance", b.url
		}
		wg.Go(func() {
			var got staleReads
			for phase.Err() == nil {
				sent := time.Now()
				title, err := post(url, "", staleRead, map[string]any{"slug": slug})
				if err != nil {
					if phase.Err() == nil {
						fail(fmt.Errorf("read on the %s: %w", where, err))
					}
					break
				}
				got.Reads++
				if seen, newest := edition(title), newestBefore(sent); seen < newest {
					got.Stale++
					age := sent.Sub(ackedAt(seen + 1))
					got.MaxStaleMs = max(got.MaxStaleMs, float64(age.Microseconds())/1000)
				}
			}
			rmu.Lock()
			x := res.Reads[where]
			x.Reads, x.Stale, x.MaxStaleMs = x.Reads+got.Reads, x.Stale+got.Stale, max(x.MaxStaleMs, got.MaxStaleMs)
			res.Reads[where] = x
			rmu.Unlock()
		})
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Edits = len(acked) - 1
	if firstErr != nil {
		return res, firstErr
	}
	return res, ctx.Err()
}
