package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

const exemplarsConfig = `
server:
  listen: %s
  trace_url: 'https://jaeger.example.com/trace/{trace_id}'
storage:
  path: %s
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: 1s
    lateness: 200ms
    aggregates:
      requests:    count()
      latency_max: max(latency)
      latency_p90: quantile(latency, 0.9)
`

// TestExemplarsEndToEnd: events that carry a
// trace_id or a W3C traceparent reach /api/v1/windows as exemplars of the
// max and the quantile, linked through server.trace_url.
func TestExemplarsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	p := lookouttest.Start(t, binary, addr, "run", "-config", lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(exemplarsConfig, addr, dir+"/data")))

	// One body, one timestamp: every event falls into the same window. The
	// slowest request carries a traceparent, the others a bare trace_id;
	// one carries nothing.
	traceOf := map[string]float64{} // trace id → latency
	now := time.Now().UnixMilli()
	var body strings.Builder
	for i := 1; i <= 9; i++ {
		id := fmt.Sprintf("%032x", 0xabc000+i)
		lat := float64(10 * i)
		switch {
		case i == 9:
			fmt.Fprintf(&body, `{"ts":%d,"service":"web","latency":%g,"traceparent":"00-%s-00f067aa0ba902b7-01"}`+"\n", now, lat, id)
		case i == 5:
			fmt.Fprintf(&body, `{"ts":%d,"service":"web","latency":%g}`+"\n", now, lat)
			continue
		default:
			fmt.Fprintf(&body, `{"ts":%d,"service":"web","latency":%g,"trace_id":%q}`+"\n", now, lat, id)
		}
		traceOf[id] = lat
	}
	if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte(body.String())); code != 200 {
		t.Fatalf("push: %d %s", code, out)
	}

	type exemplar struct {
		Aggregate string  `json:"aggregate"`
		Value     float64 `json:"value"`
		TraceID   string  `json:"trace_id"`
		TS        string  `json:"ts"`
		URL       string  `json:"url"`
	}
	var res struct {
		Data []struct {
			Values    map[string]*float64 `json:"values"`
			Exemplars []exemplar          `json:"exemplars"`
		} `json:"data"`
	}
	lookouttest.WaitFor(t, 10*time.Second, "the window in the store", func() bool {
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=api"), &res)
		return len(res.Data) >= 1
	})
	if len(res.Data) != 1 {
		t.Fatalf("%d windows, want 1", len(res.Data))
	}
	w := res.Data[0]
	byAgg := map[string]exemplar{}
	for _, x := range w.Exemplars {
		byAgg[x.Aggregate] = x
	}
	if len(byAgg) != 2 {
		t.Fatalf("exemplars %+v, want one for latency_max and one for latency_p90", w.Exemplars)
	}
	wantTS := time.UnixMilli(now).UTC()
	for _, name := range []string{"latency_max", "latency_p90"} {
		t.Run(name, func(t *testing.T) {
			x := byAgg[name]
			lat, ok := traceOf[x.TraceID]
			if !ok || lat != x.Value {
				t.Errorf("exemplar %+v: not a sent trace with its latency", x)
			}
			if want := "https://jaeger.example.com/trace/" + x.TraceID; x.URL != want {
				t.Errorf("url %q, want %q", x.URL, want)
			}
			if ts, err := time.Parse(time.RFC3339Nano, x.TS); err != nil || !ts.Equal(wantTS) {
				t.Errorf("ts %q, want %v", x.TS, wantTS)
			}
		})
	}
	// The max is the traceparent's request.
	if x := byAgg["latency_max"]; x.TraceID != fmt.Sprintf("%032x", 0xabc009) || x.Value != 90 {
		t.Errorf("latency_max exemplar %+v, want the 90 ms request's trace from its traceparent", x)
	}
	// The p90 exemplar is the traced request nearest the estimate.
	if est := w.Values["latency_p90"]; est != nil {
		x := byAgg["latency_p90"]
		for id, lat := range traceOf {
			if abs(lat-*est) < abs(x.Value-*est) {
				t.Errorf("latency_p90 = %v: exemplar %v, but %s with %v is nearer", *est, x.Value, id, lat)
			}
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
