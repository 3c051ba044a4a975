package store

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// BenchmarkWriteEvents measures events per second through WriteEvents and the
// writer, up to their commit, in batches the size a busy source hands over.
func BenchmarkWriteEvents(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), StoreEvents: true, BatchSize: benchBatchSize})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const batch = 500
	evs := make([]*event.Event, batch)
	for i := range evs {
		raw := fmt.Appendf(nil, `{"ts":%d,"service":"api-%d","status":200,"latency_ms":%d,"path":"/v1/orders"}`, i, i%8, i%300)
		evs[i] = &event.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Source: "push", Raw: raw,
			Fields: map[string]any{"service": fmt.Sprintf("api-%d", i%8), "status": 200.0, "latency": float64(i%300) / 1000, "path": "/v1/orders"}}
	}
	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU()
	n := 0
	for n < b.N {
		k := min(batch, b.N-n)
		if err := s.WriteEvents(ctx, evs[:k]); err != nil {
			b.Fatal(err)
		}
		n += k
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	// DuckDB works on threads of its own too, so the process's CPU time per
	// event says more than ns/op about what storing an event costs.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/event")
}

var benchBatchSize = 0

// processCPU returns the CPU time (user + system) the process has used, in
// nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// bigStore builds, once per benchmark function (b.Loop runs it once), a store
// with 10 M events and 1 M window rows (100 services × 10,000 one-minute
// windows, about a week) through a test-only write path: DuckDB's own
// range() INSERT on a read connection, which is far faster than the writer
// for bulk data. It returns the store and the newest window end.
func bigStore(b *testing.B) (*Store, time.Time) {
	b.Helper()
	s, err := Open(Options{Dir: b.TempDir(), StoreEvents: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	end := time.Date(2025, 3, 8, 0, 0, 0, 0, time.UTC)
	const services, minutes = 100, 10000
	start := end.Add(-minutes * time.Minute)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO windows
		SELECT 'api', ?::TIMESTAMPTZ + to_minutes(m), ?::TIMESTAMPTZ + to_minutes(m + 1),
			json_object('service', 'svc-' || sv),
			json_object('requests', 100 + (m * 7 + sv) % 13, 'errors', (m * 31 + sv) % 5, 'latency_p99', 0.2 + ((m + sv) % 10) / 100),
			100, 0
		FROM range(?) t(m), range(?) u(sv)
		ORDER BY m, sv`, start, start, minutes, services); err != nil {
		b.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO events
		SELECT ?::TIMESTAMPTZ + to_milliseconds(i * 60), 'push',
			json_object('service', 'svc-' || (i % 100), 'status', CASE WHEN i % 50 = 0 THEN 503 ELSE 200 END, 'latency', (i % 300) / 1000),
			'', '{"service":"svc-' || (i % 100) || '"}'
		FROM range(10000000) t(i)`, start); err != nil {
		b.Fatal(err)
	}
	return s, end
}

// errorsUpVsYesterday is the SQL of examples/sql/errors_up_vs_yesterday.yaml.
const errorsUpVsYesterday = `SELECT grp->>'service' AS service, now AS value, before AS yesterday, ratio
	FROM compare('api', 'errors', INTERVAL 5 MINUTE, INTERVAL 1 DAY)
	WHERE now >= 3 * before AND now >= 10`

// BenchmarkCompareRule runs the 5-minute comparison rule's query through
// Query over 10 M events and 1 M window rows.
func BenchmarkCompareRule(b *testing.B) {
	s, _ := bigStore(b)
	ctx := context.Background()
	// The data is what the benchmark says it is.
	res, err := s.Query(ctx, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM windows)`)
	if err != nil || fmt.Sprint(res.Rows) != "[[10000000 1000000]]" {
		b.Fatalf("rows %v, err %v", res, err)
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := s.Query(ctx, errorsUpVsYesterday); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(n), "ms/op")
}

// BenchmarkIngestWithSQLRules measures WriteEvents throughput into the big
// store alone, while the comparison query runs every 10 s (the rule's
// schedule), and while it runs back to back (the worst case).
func BenchmarkIngestWithSQLRules(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration // 0: no queries; <0: back to back
	}{
		{"alone", 0},
		{"sql-every-10s", 10 * time.Second},
		{"sql-back-to-back", -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := bigStore(b)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			queries := 0
			go func() {
				defer close(done)
				if bc.every == 0 {
					return
				}
				for {
					if _, err := s.Query(ctx, errorsUpVsYesterday); err != nil && ctx.Err() == nil {
						b.Error(err)
						return
					}
					queries++
					wait := bc.every
					if wait < 0 {
						wait = 0
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				}
			}()
			const batch = 500
			evs := make([]*event.Event, batch)
			for i := range evs {
				evs[i] = &event.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Source: "push",
					Raw:    fmt.Appendf(nil, `{"service":"svc-%d","status":200}`, i%100),
					Fields: map[string]any{"service": fmt.Sprintf("svc-%d", i%100), "status": 200.0}}
			}
			start := time.Now()
			n := 0
			for b.Loop() {
				if err := s.WriteEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
				n += batch
			}
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
			cancel()
			<-done
			b.ReportMetric(float64(queries), "queries")
		})
	}
}
