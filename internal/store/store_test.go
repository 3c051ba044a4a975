package store

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustFlush(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func mustQuery(t *testing.T, s *Store, q string) *Result {
	t.Helper()
	res, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%q): %v", q, err)
	}
	return res
}

func win(pipeline string, start time.Time, group map[string]string, names []string, vals ...float64) *event.Window {
	w := &event.Window{Pipeline: pipeline, Start: start, End: start.Add(10 * time.Second), Names: names, Values: vals, Count: 7, Late: 1}
	for _, k := range sortedKeys(group) {
		w.GroupKeys = append(w.GroupKeys, k)
		w.Group = append(w.Group, group[k])
	}
	return w
}

func TestEventsAndRejectedRoundTrip(t *testing.T) {
	s := openTest(t, Options{StoreEvents: true})
	ctx := context.Background()
	evs := []*event.Event{
		{Time: t0, Source: "push", Raw: []byte(`{"service":"api","status":503}`),
			Fields: map[string]any{"service": "api", "status": 503.0, "cpu": math.NaN()}, Flags: event.FlagOutOfRange | event.FlagLate},
		{Time: t0.Add(time.Second), Source: "push", Raw: []byte(`{"service":"web","status":200}`),
			Fields: map[string]any{"service": "web", "status": 200.0}},
	}
	if err := s.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRejected(ctx, []event.Rejected{{Time: t0, Source: "push", Raw: []byte("not json \xff"), Reason: "invalid character 'o'"}}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	if got := s.Backlog(); got != 0 {
		t.Errorf("Backlog after Flush = %d, want 0", got)
	}

	res := mustQuery(t, s, `SELECT ts, source, json_extract_string(fields, '$.service') AS service,
		CAST(json_extract(fields, '$.status') AS DOUBLE) AS status, json_extract(fields, '$.cpu') AS cpu, flags, raw
		FROM events ORDER BY ts`)
	want := [][]any{
		{"2025-03-01T12:00:00.000Z", "push", "api", 503.0, nil, "out_of_range,late", `{"service":"api","status":503}`},
		{"2025-03-01T12:00:01.000Z", "push", "web", 200.0, nil, "", `{"service":"web","status":200}`},
	}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("events rows\n got %#v\nwant %#v", res.Rows, want)
	}
	if !reflect.DeepEqual(res.Columns, []string{"ts", "source", "service", "status", "cpu", "flags", "raw"}) {
		t.Errorf("columns = %v", res.Columns)
	}

	res = mustQuery(t, s, `SELECT source, raw, reason FROM rejected`)
	want = [][]any{{"push", "not json \uFFFD", "invalid character 'o'"}}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("rejected rows = %#v, want %#v", res.Rows, want)
	}
}

func TestStoreEventsOff(t *testing.T) {
	s := openTest(t, Options{StoreEvents: false})
	ctx := context.Background()
	if err := s.WriteEvents(ctx, []*event.Event{{Time: t0, Source: "push", Fields: map[string]any{}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRejected(ctx, []event.Rejected{{Time: t0, Source: "push", Raw: []byte("x"), Reason: "bad"}}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	res := mustQuery(t, s, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM rejected)`)
	if want := [][]any{{int64(0), int64(1)}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("counts = %v, want %v (events off, rejected still stored)", res.Rows, want)
	}
}

func TestWindowsRoundTripAndNaN(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	w := win("api", t0, map[string]string{"service": "api", "region": "eu"}, []string{"requests", "latency_avg", "error_rate", "inf"}, 20, math.NaN(), 0.25, math.Inf(1))
	if err := s.WriteWindow(ctx, w); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)

	got, err := s.Windows(ctx, WindowQuery{Pipeline: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d windows, want 1", len(got))
	}
	g := got[0]
	if !g.Start.Equal(w.Start) || !g.End.Equal(w.End) || g.Pipeline != "api" || g.Count != 7 || g.Late != 1 {
		t.Errorf("window = %+v, want pipeline api, %v..%v, count 7, late 1", g, w.Start, w.End)
	}
	if !reflect.DeepEqual(g.GroupKeys, []string{"region", "service"}) || !reflect.DeepEqual(g.Group, []string{"eu", "api"}) {
		t.Errorf("group = %v %v, want sorted keys [region service] with [eu api]", g.GroupKeys, g.Group)
	}
	if !reflect.DeepEqual(g.Names, w.Names) {
		t.Errorf("names = %v, want %v in written order", g.Names, w.Names)
	}
	if len(g.Values) != 4 || g.Values[0] != 20 || !math.IsNaN(g.Values[1]) || g.Values[2] != 0.25 || !math.IsNaN(g.Values[3]) {
		t.Errorf("values = %v, want [20 NaN 0.25 NaN]", g.Values)
	}

	res := mustQuery(t, s, `SELECT start, "end", grp, vals FROM windows`)
	want := [][]any{{
		"2025-03-01T12:00:00.000Z", "2025-03-01T12:00:10.000Z",
		map[string]any{"region": "eu", "service": "api"},
		map[string]any{"requests": 20.0, "latency_avg": nil, "error_rate": 0.25, "inf": nil},
	}}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("windows via Query\n got %#v\nwant %#v", res.Rows, want)
	}
}

func TestWindowsFilters(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	names := []string{"n"}
	for i := range 5 {
		start := t0.Add(time.Duration(i) * 10 * time.Second)
		for _, w := range []*event.Window{
			win("api", start, map[string]string{"service": "a"}, names, float64(i)),
			win("api", start, map[string]string{"service": "b/~x"}, names, float64(10+i)),
			win("cpu", start, nil, names, float64(100+i)),
		} {
			if err := s.WriteWindow(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustFlush(t, s)

	tests := []struct {
		name string
		q    WindowQuery
		want []float64 // the single value of each window, in order
	}{
		{"pipeline", WindowQuery{Pipeline: "cpu"}, []float64{100, 101, 102, 103, 104}},
		{"group", WindowQuery{Pipeline: "api", Group: map[string]string{"service": "a"}}, []float64{0, 1, 2, 3, 4}},
		{"group key needing escapes", WindowQuery{Pipeline: "api", Group: map[string]string{"service": "b/~x"}}, []float64{10, 11, 12, 13, 14}},
		{"unknown group value", WindowQuery{Pipeline: "api", Group: map[string]string{"service": "zzz"}}, nil},
		{"group key absent", WindowQuery{Pipeline: "cpu", Group: map[string]string{"service": "a"}}, nil},
		{"since", WindowQuery{Pipeline: "cpu", Since: t0.Add(30 * time.Second)}, []float64{103, 104}},
		{"limit keeps newest, oldest first", WindowQuery{Pipeline: "cpu", Limit: 2}, []float64{103, 104}},
		{"all pipelines", WindowQuery{Since: t0.Add(40 * time.Second)}, []float64{4, 14, 104}},
		{"unknown pipeline", WindowQuery{Pipeline: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Windows(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var vals []float64
			for _, w := range got {
				vals = append(vals, w.Values[0])
			}
			if !reflect.DeepEqual(vals, tt.want) {
				t.Errorf("values = %v, want %v", vals, tt.want)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	trs := []event.Transition{
		{Time: t0, Rule: "HighCPU", Fingerprint: "f1", Labels: map[string]string{"host": "a"}, State: event.StatePending, Value: 91},
		{Time: t0.Add(time.Minute), Rule: "HighCPU", Fingerprint: "f1", Labels: map[string]string{"host": "a"}, State: event.StateFiring, Value: 95, Summary: "cpu 95", Decision: "sent"},
		// Same time as the previous one: written later, so newer.
		{Time: t0.Add(time.Minute), Rule: "HighCPU", Fingerprint: "f1", Labels: map[string]string{"host": "a"}, State: event.StateFiring, Value: math.NaN(), Decision: "suppressed: repeat"},
		{Time: t0.Add(2 * time.Minute), Rule: "HighCPU", Fingerprint: "f1", Labels: map[string]string{"host": "a"}, State: event.StateResolved, Value: 10},
	}
	for _, tr := range trs {
		if err := s.WriteTransition(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, s)

	got, err := s.History(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d transitions, want 3", len(got))
	}
	for i, want := range []event.Transition{trs[3], trs[2], trs[1]} {
		g := got[i]
		sameValue := g.Value == want.Value || math.IsNaN(g.Value) && math.IsNaN(want.Value)
		if !g.Time.Equal(want.Time) || g.Rule != want.Rule || g.Fingerprint != want.Fingerprint || g.State != want.State ||
			!sameValue || g.Summary != want.Summary || g.Decision != want.Decision || !reflect.DeepEqual(g.Labels, want.Labels) {
			t.Errorf("history[%d] = %+v, want %+v", i, g, want)
		}
	}

	res := mustQuery(t, s, `SELECT state, value, labels FROM alerts WHERE decision = 'suppressed: repeat'`)
	if want := [][]any{{"firing", nil, map[string]any{"host": "a"}}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("alerts row = %#v, want %#v (NaN value as null)", res.Rows, want)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(Options{Dir: dir, StoreEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteEvents(ctx, []*event.Event{{Time: t0, Source: "host", Fields: map[string]any{"cpu": 5.0}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteWindow(ctx, win("cpu", t0, nil, []string{"mean"}, 5)); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTransition(ctx, event.Transition{Time: t0, Rule: "r", Fingerprint: "f", State: event.StateFiring}); err != nil {
		t.Fatal(err)
	}
	// No Flush: Close must commit what was written.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if err := s.WriteWindow(ctx, win("cpu", t0, nil, nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteWindow after Close = %v, want ErrClosed", err)
	}

	s = openTest(t, Options{Dir: dir})
	res := mustQuery(t, s, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM windows), (SELECT count(*) FROM alerts),
		(SELECT list(version) FROM schema_version)`)
	if want := [][]any{{int64(1), int64(1), int64(1), []any{int32(1), int32(2), int32(3), int32(4)}}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("after reopen = %#v, want %#v", res.Rows, want)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Errorf("database file: %v", err)
	}
	// The alert sequence carries on, so history order survives a restart.
	if err := s.WriteTransition(ctx, event.Transition{Time: t0, Rule: "r", Fingerprint: "f", State: event.StateResolved}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	h, err := s.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].State != event.StateResolved {
		t.Errorf("newest transition after reopen = %+v, want the resolved one", h)
	}
}

func TestBatchSizeCommitsWithoutFlush(t *testing.T) {
	gate := make(chan struct{})
	s, err := open(Options{Dir: t.TempDir(), StoreEvents: true, BatchSize: 3, FlushInterval: time.Hour}, gate)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(gate); s.Close() }()
	ctx := context.Background()
	ev := func(n int) []*event.Event {
		out := make([]*event.Event, n)
		for i := range out {
			out[i] = &event.Event{Time: t0, Source: "push"}
		}
		return out
	}
	if err := s.WriteEvents(ctx, ev(3)); err != nil {
		t.Fatal(err)
	}
	gate <- struct{}{} // the writer takes the 3 rows: a full batch
	if err := s.WriteEvents(ctx, ev(1)); err != nil {
		t.Fatal(err)
	}
	gate <- struct{}{} // the writer is done with the batch once it takes the next request
	res := mustQuery(t, s, `SELECT count(*) FROM events`)
	if want := [][]any{{int64(3)}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("committed rows = %v, want %v", res.Rows, want)
	}
}

func TestWriteBlocksWhenQueueFull(t *testing.T) {
	gate := make(chan struct{})
	s, err := open(Options{Dir: t.TempDir(), QueueSize: 1, WindowBatch: 1}, gate)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w := func(i int) *event.Window {
		return win("p", t0.Add(time.Duration(i)*time.Second), nil, []string{"v"}, float64(i))
	}

	// The writer takes the first window and waits at the gate; the second
	// fills the queue.
	for i := range 2 {
		if err := s.WriteWindow(ctx, w(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Backlog(); got != 2 {
		t.Errorf("Backlog = %d, want 2", got)
	}

	// A third write has nowhere to go: it blocks until its context ends,
	// and says so, rather than dropping the row.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- s.WriteWindow(cctx, w(2)) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("blocked write = %v, want context.Canceled", err)
	}

	// A blocked write that is not given up on goes through once the writer
	// moves on.
	go func() { errc <- s.WriteWindow(ctx, w(3)) }()
	flushed := make(chan error, 1)
	go func() {
		if err := <-errc; err != nil {
			flushed <- err
			return
		}
		flushed <- s.Flush(ctx)
	}()
	for range 4 { // windows 0, 1, 3 and the flush request
		gate <- struct{}{}
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	close(gate)
	defer s.Close()

	got, err := s.Windows(ctx, WindowQuery{Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	var vals []float64
	for _, w := range got {
		vals = append(vals, w.Values[0])
	}
	if want := []float64{0, 1, 3}; !reflect.DeepEqual(vals, want) {
		t.Errorf("stored windows = %v, want %v (the cancelled one not stored, none lost)", vals, want)
	}
	if got := s.Backlog(); got != 0 {
		t.Errorf("Backlog = %d, want 0", got)
	}
}

func TestPrune(t *testing.T) {
	s := openTest(t, Options{StoreEvents: true, Retention: Retention{Events: time.Hour, Windows: 24 * time.Hour}})
	ctx := context.Background()
	now := t0.Add(48 * time.Hour)
	for _, age := range []time.Duration{30 * time.Minute, 2 * time.Hour, 30 * time.Hour} {
		ts := now.Add(-age)
		if err := s.WriteEvents(ctx, []*event.Event{{Time: ts, Source: "s"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteRejected(ctx, []event.Rejected{{Time: ts, Source: "s", Reason: "r"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteWindow(ctx, win("p", ts.Add(-10*time.Second), nil, []string{"v"}, 1)); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteTransition(ctx, event.Transition{Time: ts, Rule: "r", Fingerprint: "f", State: event.StateFiring}); err != nil {
			t.Fatal(err)
		}
	}
	// No Flush: Prune commits first, so it also sees rows still buffered.
	n, err := s.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 { // 2 events, 2 rejected, 1 window; alerts kept forever
		t.Errorf("Prune deleted %d rows, want 5", n)
	}
	res := mustQuery(t, s, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM rejected), (SELECT count(*) FROM windows), (SELECT count(*) FROM alerts)`)
	if want := [][]any{{int64(1), int64(1), int64(2), int64(3)}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("rows left = %v, want %v", res.Rows, want)
	}
}

// TestAfterCommit: the callback runs only once the rows written before it are
// committed and visible, so a broker source can acknowledge after it.
func TestAfterCommit(t *testing.T) {
	s := openTest(t, Options{StoreEvents: true, FlushInterval: time.Hour})
	ctx := context.Background()
	// Nothing buffered: the callback runs at once.
	done := make(chan error, 1)
	if err := s.AfterCommit(ctx, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("AfterCommit with nothing buffered: %v", err)
	}
	evs := []*event.Event{{Time: t0, Source: "kafka", Raw: []byte(`{"a":1}`), Fields: map[string]any{"a": 1.0}}}
	if err := s.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.AfterCommit(ctx, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("callback ran before the commit (err %v)", err)
	case <-time.After(50 * time.Millisecond): // the flush interval is an hour: no commit yet
	}
	mustFlush(t, s)
	if err := <-done; err != nil {
		t.Fatalf("AfterCommit: %v", err)
	}
	if res := mustQuery(t, s, `SELECT count(*) FROM events WHERE source = 'kafka'`); res.Rows[0][0] != int64(1) {
		t.Fatalf("events after the callback = %v, want 1", res.Rows[0][0])
	}
}

func TestWindowFutureCount(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	w := win("api", t0, nil, []string{"n"}, 1)
	w.Future = 3
	if err := s.WriteWindow(ctx, w); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	got, err := s.Windows(ctx, WindowQuery{Pipeline: "api"})
	if err != nil || len(got) != 1 || got[0].Future != 3 {
		t.Fatalf("Windows = %+v, %v; want one window with future 3", got, err)
	}
}

func TestLastWindowEnd(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	if end, err := s.LastWindowEnd(ctx, "api"); err != nil || !end.IsZero() {
		t.Fatalf("empty store: %v, %v; want zero time", end, err)
	}
	for i := range 3 {
		if err := s.WriteWindow(ctx, win("api", t0.Add(time.Duration(i)*10*time.Second), nil, []string{"n"}, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteWindow(ctx, win("other", t0.Add(time.Hour), nil, []string{"n"}, 1)); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	end, err := s.LastWindowEnd(ctx, "api")
	if err != nil || !end.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("LastWindowEnd = %v, %v; want %v", end, err, t0.Add(30*time.Second))
	}
	// A window a bad clock stamped a year ahead is the newest, but not
	// before a limit.
	if err := s.WriteWindow(ctx, win("api", t0.Add(365*24*time.Hour), nil, []string{"n"}, 1)); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	end, err = s.LastWindowEndBefore(ctx, "api", t0.Add(time.Hour))
	if err != nil || !end.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("LastWindowEndBefore = %v, %v; want %v", end, err, t0.Add(30*time.Second))
	}
}
