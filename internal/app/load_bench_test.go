package app

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/loadgen"
)

// BenchmarkAppIngest is scenario push-10k-groups of lookout-load in one
// process, so that `go test -cpuprofile` sees the whole hot path: the HTTP
// handler, push decoding, the ingest queue, the windows (10,000 groups, 10 s,
// 5 aggregates incl. p99), window emission, rules and the DuckDB writer.
// Each op is one 1,000-line NDJSON body; the clock stops when every accepted
// event has been folded in. A 429 is waited out and the body sent again, as
// lookout-load does.
func BenchmarkAppIngest(b *testing.B) {
	for _, storeEvents := range []bool{true, false} {
		b.Run(fmt.Sprintf("events=%v", storeEvents), func(b *testing.B) {
			benchAppIngest(b, storeEvents)
		})
	}
}

func benchAppIngest(b *testing.B, storeEvents bool) {
	const groups, batch = 10_000, 1000
	a := runApp(b, fmt.Sprintf(`
storage:
  events: %v
sources:
  - name: push
    type: push
    fields:
      latency_ms: {type: number, unit: ms, to: s, as: latency}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: 10s
    lateness: 2s
    max_groups: 200000
    aggregates:
      requests:    count()
      errors:      count(status >= 500)
      error_rate:  ratio(status >= 500)
      latency_avg: avg(latency)
      latency_p99: quantile(latency, 0.99)
rules:
  - name: HighErrorRate
    pipeline: api
    when: error_rate > 0.2 && requests >= 20
    for: 3
    notify: [stdout]
notifiers:
  - {name: stdout, type: log}
`, storeEvents))
	h := a.Handler()

	p := loadgen.DefaultProfile()
	p.Services = groups
	gen, err := loadgen.NewGenerator(p, 0)
	if err != nil {
		b.Fatal(err)
	}
	// A pool of bodies made with the current time; remade when they would
	// fall behind the windows' lateness.
	var pool [][]byte
	var made time.Time
	refill := func() {
		pool, made = pool[:0], time.Now()
		for range 64 {
			body, _ := gen.Append(nil, made, batch)
			pool = append(pool, body)
		}
	}
	refill()

	start := a.bus.Stats().Events
	var sent int64
	b.SetBytes(int64(len(pool[0])))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if time.Since(made) > time.Second {
			b.StopTimer()
			refill()
			b.StartTimer()
		}
		for {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9470/api/v1/events?source=push", bytes.NewReader(pool[i%len(pool)]))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code == http.StatusOK {
				break
			}
			if rec.Code != http.StatusTooManyRequests {
				b.Fatalf("push: %d %s", rec.Code, rec.Body)
			}
			// The queue is full: let the ingest goroutine catch up.
			time.Sleep(time.Millisecond)
		}
		sent += batch
	}
	for a.bus.Stats().Events-start < sent {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "events/s")
}
