package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
)

// TestOverload measures what the server completes with shedding set low, then offers
// twice that, open loop (requests arrive on schedule whether or not earlier ones are
// answered, as real clients do). The server must shed the excess with 503 OVERLOADED
// at once, answer no 500s, and keep the latency of the requests it admits bounded.
func TestOverload(t *testing.T) {
	const (
		maxInFlight = 8
		queueWait   = 100 * time.Millisecond
		measureFor  = 2 * time.Second
		overloadFor = 4 * time.Second
	)
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
		c.MaxInFlight = maxInFlight
		c.QueueWait = queueWait
	}))
	for i, name := range []string{"ada", "grace", "linus"} {
		u := e.SignUp(t, name)
		for j := range 4 {
			e.CreateArticle(t, u, fmt.Sprintf("Article %d by %s", j, name), "go", fmt.Sprintf("tag%d", i))
		}
	}
	body, err := json.Marshal(map[string]any{"query": `{ articles(first: 10) { edges { node {
		slug title favoritesCount author { username } tags { name } } } } }`})
	if err != nil {
		t.Fatal(err)
	}
	targeter := vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodPost, URL: e.URL + "/graphql", Body: body,
		Header: http.Header{"Content-Type": {"application/json"}},
	})

	// Capacity: as many closed-loop clients as the server admits at once, so none waits.
	closed := vegeta.NewAttacker(vegeta.Workers(maxInFlight), vegeta.MaxWorkers(maxInFlight),
		vegeta.Connections(maxInFlight), vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second))
	var unloaded []time.Duration
	start := time.Now()
	for r := range closed.Attack(targeter, vegeta.Rate{}, measureFor, "capacity") {
		if r.Error != "" || r.Code != http.StatusOK {
			t.Fatalf("capacity run: HTTP %d %s: %.300s", r.Code, r.Error, r.Body)
		}
		unloaded = append(unloaded, r.Latency)
	}
	capacity := float64(len(unloaded)) / time.Since(start).Seconds()
	if len(unloaded) < 10 {
		t.Fatalf("only %d requests in %v: no capacity to overload", len(unloaded), measureFor)
	}
	// On a machine busy with other work every latency stretches, so the bounds scale
	// with what this server took at full admitted concurrency (but never exceed 1s
	// for less). An unbounded queue would fail them: at twice the capacity it grows by
	// a second of work every second, so requests would wait seconds by the end.
	unloadedP99 := percentile(unloaded, 99)
	admittedBound := max(time.Second, 3*unloadedP99)
	shedBound := queueWait + max(time.Second, 2*unloadedP99)

	// Overload: twice that, open loop, with as many connections as it takes.
	offered := int(2 * capacity)
	open := vegeta.NewAttacker(vegeta.MaxWorkers(4096), vegeta.Connections(4096), vegeta.KeepAlive(true),
		vegeta.Timeout(10*time.Second))
	var (
		admitted []time.Duration
		shed     []time.Duration
		other    = map[string]int{}
	)
	for r := range open.Attack(targeter, vegeta.Rate{Freq: offered, Per: time.Second}, overloadFor, "overload") {
		// vegeta reports a status other than 2xx as an error too; only a request that got
		// no status at all failed in transport.
		switch {
		case r.Code == 0:
			other["transport: "+r.Error]++
		case r.Code == http.StatusOK && !bytes.Contains(r.Body, []byte(`"errors"`)):
			admitted = append(admitted, r.Latency)
		case r.Code == http.StatusServiceUnavailable && bytes.Contains(r.Body, []byte(`"OVERLOADED"`)) &&
			r.Headers.Get("Retry-After") == "1":
			shed = append(shed, r.Latency)
		default:
			other[fmt.Sprintf("HTTP %d %.200s", r.Code, r.Body)]++
		}
	}
	p50, p99 := percentile(admitted, 50), percentile(admitted, 99)
	t.Logf("capacity %.0f req/s (closed loop, %d clients, %v, p99 %v); offered %d req/s for %v: "+
		"admitted %d (p50 %v, p99 %v), shed %d (p99 %v), other %d",
		capacity, maxInFlight, measureFor, unloadedP99.Round(time.Millisecond), offered, overloadFor,
		len(admitted), p50.Round(time.Millisecond), p99.Round(time.Millisecond),
		len(shed), percentile(shed, 99).Round(time.Millisecond), len(other))

	if len(other) > 0 {
		t.Errorf("answers other than 200 and 503 OVERLOADED (no 500s allowed): %v", other)
	}
	if len(shed) == 0 {
		t.Error("nothing shed at twice the capacity")
	}
	if len(admitted) == 0 {
		t.Fatal("nothing admitted: shedding everything is not serving")
	}
	if p99 > admittedBound {
		t.Errorf("p99 of admitted requests %v, want under %v", p99, admittedBound)
	}
	// A shed request is refused after the queue wait, not after queueing.
	if p := percentile(shed, 99); p > shedBound {
		t.Errorf("p99 of shed requests %v, want under %v (the %v queue wait and scheduling)", p, shedBound, queueWait)
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
