package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// overloadResult is the open-loop phase of -overload: W1 offered at twice the rate
// Inkwell completed closed loop, whether or not earlier requests were answered, as real
// clients do. The server must shed the excess with 503 OVERLOADED quickly, answer
// nothing else, and keep the latency of what it admits bounded.
type overloadResult struct {
	CapacityRPS float64        `json:"capacity_rps"` // Inkwell's W1 median req/s this run
	OfferedRPS  int            `json:"offered_rps"`
	Seconds     float64        `json:"seconds"`
	Admitted    int            `json:"admitted"`
	AdmittedP50 float64        `json:"admitted_p50_ms"`
	AdmittedP99 float64        `json:"admitted_p99_ms"`
	Shed        int            `json:"shed"`
	ShedP99     float64        `json:"shed_p99_ms"`
	Other       map[string]int `json:"other,omitempty"` // any other answer, by status and body
}

// overload offers w to t open loop at twice capacity for dur.
func overload(ctx context.Context, t *target, w *workload, capacity float64, dur time.Duration) (overloadResult, error) {
	res := overloadResult{CapacityRPS: capacity, OfferedRPS: int(2 * capacity), Other: map[string]int{}}
	if res.OfferedRPS < 1 {
		return res, fmt.Errorf("no capacity measured for %s", w.name)
	}
	atk := vegeta.NewAttacker(vegeta.MaxWorkers(4096), vegeta.Connections(4096), vegeta.KeepAlive(true),
		vegeta.Timeout(30*time.Second), vegeta.HTTP2(false), vegeta.Redirects(0))
	stopAttack := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stopAttack()
	var admitted, shed []time.Duration
	start := time.Now()
	for r := range atk.Attack(t.targeter(w), vegeta.Rate{Freq: res.OfferedRPS, Per: time.Second}, dur, "overload") {
		switch {
		case r.Code == 0:
			res.Other["transport: "+r.Error]++
		case r.Code == http.StatusOK && !bytes.Contains(r.Body, []byte(`"errors"`)):
			admitted = append(admitted, r.Latency)
		case r.Code == http.StatusServiceUnavailable && bytes.Contains(r.Body, []byte(`"OVERLOADED"`)):
			shed = append(shed, r.Latency)
		default:
			res.Other[fmt.Sprintf("HTTP %d %.120s", r.Code, r.Body)]++
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.Admitted, res.Shed = len(admitted), len(shed)
	res.AdmittedP50, res.AdmittedP99 = quantileMs(admitted, 0.50), quantileMs(admitted, 0.99)
	res.ShedP99 = quantileMs(shed, 0.99)
	return res, ctx.Err()
}

func (o overloadResult) String() string {
	return fmt.Sprintf("W1 offered open loop at %d req/s (2 × the %.0f req/s measured) for %.0fs: admitted %d (p50 %.1f ms, p99 %.1f ms), "+
		"shed %d with 503 OVERLOADED (p99 %.1f ms), other answers %d %v",
		o.OfferedRPS, o.CapacityRPS, o.Seconds, o.Admitted, o.AdmittedP50, o.AdmittedP99, o.Shed, o.ShedP99, otherCount(o.Other), o.Other)
}

func otherCount(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// quantileMs is the p quantile of d in milliseconds (0 for none).
func quantileMs(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(max(int(p*float64(len(s))+0.5)-1, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}
