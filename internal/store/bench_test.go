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
// The events are those of lookout-load's push-10k-groups scenario: 10,000
// services, so that DuckDB's dictionary compression gets no easier a time
// than in the scenario. The CPU figures end with a CHECKPOINT, so that they
// include the compression DuckDB otherwise does later, at an automatic
// checkpoint or at Close, outside the measurement.
func BenchmarkWriteEvents(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), StoreEvents: true, BatchSize: benchBatchSize})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const batch = 1000
	evs := benchEvents(20 * batch)
	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU()
	n := 0
	for n < b.N {
		k := min(batch, b.N-n)
		off := n % len(evs)
		k = min(k, len(evs)-off)
		if err := s.WriteEvents(ctx, evs[off:off+k]); err != nil {
			b.Fatal(err)
		}
		n += k
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		b.Fatal(err)
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	// DuckDB works on threads of its own too, so the process's CPU time per
	// event says more than ns/op about what storing an event costs.
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/event")
	b.ReportMetric(float64(b.N)/(float64(cpu)/1e9), "events/cpu-s")
}

// benchEvents returns n events like the ones lookout-load's push scenarios
// send, after preprocessing: latency_ms became latency in seconds.
func benchEvents(n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		svc := fmt.Sprintf("svc-%05d", i%10000)
		status, lat := 200.0, 10+(i*7919)%490
		if i%100 == 0 {
			status = 503
		}
		raw := fmt.Appendf(nil, `{"ts":%d,"service":%q,"status":%v,"latency_ms":%d,"path":"/v1/orders"}`, 1740000000000+i, svc, status, lat)
		evs[i] = &event.Event{Time: t0.Add(time.Duration(i) * time.Microsecond), Source: "push", Raw: raw,
			Fields: map[string]any{"service": svc, "status": status, "latency": float64(lat) / 1000, "path": "/v1/orders"}}
	}
	return evs
}

// BenchmarkStorageFloor measures what DuckDB alone spends to store rows like
// the events table's, with no Go in the way: each commit is one INSERT …
// SELECT over range() of 10,000 rows made up inside DuckDB (making them up
// costs ~0.1 µs a row, see "generate-only"). It is the floor under any way of
// handing events to DuckDB one row each; see docs/benchmarks.md, "Raw-event
// storage: before and after".
func BenchmarkStorageFloor(b *testing.B) {
	const fields = `('{"latency":' || (i % 490) / 1000 || ',"path":"/v1/orders","service":"svc-' || lpad((i % 10000)::VARCHAR, 5, '0') || '","status":200}')`
	const raw = `('{"ts":' || (1740000000000 + i) || ',"service":"svc-' || lpad((i % 10000)::VARCHAR, 5, '0') || '","status":200,"latency_ms":' || (i % 490) || ',"path":"/v1/orders"}')`
	const ts = `?::TIMESTAMPTZ + to_microseconds(i)`
	for _, bc := range []struct{ name, table, query string }{
		{"generate-only", "", `SELECT count(*) FROM (SELECT ` + ts + `, ` + fields + `, ` + raw + ` FROM range(?) t(i))`},
		{"ts", "ts TIMESTAMPTZ", `INSERT INTO floor SELECT ` + ts + ` FROM range(?) t(i)`},
		{"ts-source", "ts TIMESTAMPTZ, source VARCHAR", `INSERT INTO floor SELECT ` + ts + `, 'push' FROM range(?) t(i)`},
		{"fields-varchar", "f VARCHAR", `INSERT INTO floor SELECT ` + fields + ` || (? IS NULL)::INT FROM range(?) t(i)`},
		{"events-table", "", `INSERT INTO events_rows SELECT ` + ts + `, 'push', ` + fields + `::JSON, '', ` + raw + ` FROM range(?) t(i)`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), StoreEvents: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if bc.table != "" {
				if _, err := s.db.ExecContext(ctx, "CREATE TABLE floor ("+bc.table+")"); err != nil {
					b.Fatal(err)
				}
			}
			const commit = 10000
			cpu0 := processCPU()
			for n := 0; n < b.N; n += commit {
				if _, err := s.db.ExecContext(ctx, bc.query, t0, min(commit, b.N-n)); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/row")
		})
	}
}

// BenchmarkScanEvents: what a query over the events view costs, reading
// its segment files: 1,000,000 stored events (the benchmark's 5-field
// events) are counted and averaged per op.
func BenchmarkScanEvents(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), StoreEvents: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 1_000_000
	evs := benchEvents(10000)
	for i := 0; i < n; i += len(evs) {
		if err := s.WriteEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := s.Query(ctx, `SELECT count(*), avg((fields->>'latency')::DOUBLE) FROM events WHERE source = 'push'`)
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Rows[0][0]; got != int64(n) {
			b.Fatalf("count = %v, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
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
			100, 0, NULL
		FROM range(?) t(m), range(?) u(sv)
		ORDER BY m, sv`, start, start, minutes, services); err != nil {
		b.Fatal(err)
	}
	// Into events_rows, which the events view reads too: writing 10 M
	// segment lines through the writer would take longer than the rest.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO events_rows
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
