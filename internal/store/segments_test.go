package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/store/segment"
)

func segEvent(i int, ts time.Time) *event.Event {
	return &event.Event{Time: ts, Source: "push", Raw: fmt.Appendf(nil, `{"i":%d}`, i),
		Fields: map[string]any{"i": float64(i), "svc": "api"}}
}

// TestSegmentsRotateAndReopen: events spread over several segment files
// (closed by size) and a restart are all read back, once each, in order,
// and every closed segment has its sidecar. With compression, the closed
// segments are read from their .zst files, and the plain ones are deleted
// once the view no longer names them.
func TestSegmentsRotateAndReopen(t *testing.T) {
	for _, comp := range []string{CompressionNone, CompressionZstd} {
		t.Run(comp, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			opts := Options{Dir: dir, StoreEvents: true, Compression: comp, FlushInterval: 20 * time.Millisecond,
				tune: func(o *segment.Options) { o.MaxSize, o.Grace, o.ViewEvery = 2000, 0, 0 }} // a few dozen lines a segment
			s := openTest(t, opts)
			const n = 500
			for i := range n {
				if err := s.WriteEvents(ctx, []*event.Event{segEvent(i, t0.Add(time.Duration(i)*time.Millisecond))}); err != nil {
					t.Fatal(err)
				}
				if i%20 == 19 {
					mustFlush(t, s) // a commit may close the segment
				}
			}
			mustFlush(t, s)
			files := func(ext string) []string {
				m, _ := filepath.Glob(filepath.Join(dir, segDirName, "seg-*"+ext))
				return m
			}
			if comp == CompressionZstd {
				waitUntil(t, 10*time.Second, "every closed segment compressed and its plain file deleted", func() bool {
					return len(files(segExt)) == 1 && len(files(segExt+zstExt)) >= 10 && len(files(segExt+zstExt)) == len(files(statsExt))
				})
			}
			want := [][]any{{int64(n), int64(0), int64(n - 1), int64(n)}}
			q := `SELECT count(*), min((fields->>'i')::BIGINT), max((fields->>'i')::BIGINT), count(DISTINCT raw) FROM events`
			if got := mustQuery(t, s, q).Rows; !reflect.DeepEqual(got, want) {
				t.Errorf("before restart: %v, want %v", got, want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			plain, zst, stats := files(segExt), files(segExt+zstExt), files(statsExt)
			if len(plain)+len(zst) < 10 || len(stats) != len(plain)+len(zst) {
				t.Errorf("after close: %d plain and %d compressed segments, %d sidecars; want ≥ 10 and one sidecar each", len(plain), len(zst), len(stats))
			}
			if comp == CompressionNone && len(zst) > 0 {
				t.Errorf("%d compressed segments with compression none", len(zst))
			}
			for _, path := range append(plain, zst...) { // closed segments keep no padding
				b, err := readSegment(path)
				if err != nil || len(b) == 0 || strings.Contains(string(b), "\n\n") || b[len(b)-1] != '\n' {
					t.Errorf("%s: %d bytes, %v; want lines without blank ones", path, len(b), err)
				}
			}
			s = openTest(t, opts)
			if got := mustQuery(t, s, q).Rows; !reflect.DeepEqual(got, want) {
				t.Errorf("after restart: %v, want %v", got, want)
			}
		})
	}
}

// The segment files' names, which the tests look for.
const (
	segExt   = ".ndjson"
	zstExt   = ".zst"
	statsExt = ".stats"
	goneExt  = ".gone"
)

// readSegment returns a segment file's lines, decompressed.
func readSegment(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(path, zstExt) {
		return b, err
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return dec.DecodeAll(b, nil)
}

// onWriter runs fn on the writer goroutine, between two requests, once
// everything written before is committed: an AfterCommit callback with
// nothing to wait for runs at once.
func onWriter(t *testing.T, s *Store, fn func(*writer) error) {
	t.Helper()
	mustFlush(t, s)
	done := make(chan error, 1)
	if err := s.AfterCommit(context.Background(), func(error) { done <- fn(s.w) }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond every 10 ms until it holds, failing after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// TestLongEventIsStoredAsARow: an event whose line would be longer than the
// events view reads from a segment is stored in events_rows and reads back
// whole through the same view.
func TestLongEventIsStoredAsARow(t *testing.T) {
	s := openTest(t, Options{StoreEvents: true})
	long := strings.Repeat("x", segment.MaxLine)
	evs := []*event.Event{
		segEvent(1, t0),
		{Time: t0.Add(time.Second), Source: "push", Raw: []byte(`{"msg":"` + long + `"}`), Fields: map[string]any{"msg": long}},
		segEvent(3, t0.Add(2*time.Second)),
	}
	if err := s.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	got := mustQuery(t, s, `SELECT list(length(raw) ORDER BY ts), list(length(fields->>'msg') ORDER BY ts), (SELECT count(*) FROM events_rows) FROM events`).Rows
	want := [][]any{{[]any{int64(7), int64(len(long) + 10), int64(7)}, []any{nil, int64(len(long)), nil}, int64(1)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestQueriesWhileWriting: queries of the events view while the writer
// appends (and so may see a line half written) never fail, and never see
// fewer events than a query before them.
func TestQueriesWhileWriting(t *testing.T) {
	s := openTest(t, Options{StoreEvents: true, FlushInterval: time.Millisecond})
	ctx := context.Background()
	const batches, size = 400, 50
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range batches {
			batch := make([]*event.Event, size)
			for j := range batch {
				batch[j] = segEvent(i*size+j, t0.Add(time.Duration(i*size+j)*time.Millisecond))
			}
			if err := s.WriteEvents(ctx, batch); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(100 * time.Microsecond) // spread the writes over the queries
		}
	}()
	last, queries := int64(0), 0
	for writing := true; writing; queries++ {
		select {
		case <-done:
			writing = false
			mustFlush(t, s)
		default:
		}
		res, err := s.Query(ctx, `SELECT count(*) FROM events`)
		if err != nil {
			t.Fatalf("query while writing: %v", err)
		}
		n := res.Rows[0][0].(int64)
		if n < last {
			t.Fatalf("count went from %d to %d", last, n)
		}
		last = n
	}
	t.Logf("%d queries", queries)
	if last != batches*size {
		t.Errorf("the last query saw %d events, want %d", last, batches*size)
	}
}

// TestRawReadsBackExactly: raw messages follow their line's JSON as they
// are when they can and are escaped in it when they cannot; either way the
// events view gives back exactly what was received (invalid UTF-8 aside,
// which becomes U+FFFD as the column is text).
func TestRawReadsBackExactly(t *testing.T) {
	raws := []string{
		`{"service":"api","path":"/v1/orders?x=\"1\"","latency_ms":12}`,
		"multi-byte: é 日本語 🚀 and a tab\there",
		"two\nlines",
		"a carriage\rreturn",
		"the marks \x1f and \x1e",
		"",
		" leading space and trailing \\",
		"123456789012345678901234567890 long enough for eight-byte steps ✓ then ASCII again 0123456789",
	}
	s := openTest(t, Options{StoreEvents: true})
	var evs []*event.Event
	for i, r := range raws {
		evs = append(evs, &event.Event{Time: t0.Add(time.Duration(i) * time.Second), Source: "push", Raw: []byte(r), Fields: map[string]any{"i": float64(i)}})
	}
	evs = append(evs, &event.Event{Time: t0.Add(time.Minute), Source: "push", Raw: []byte("bad \xff utf8")})
	if err := s.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	res := mustQuery(t, s, `SELECT raw, fields->>'i' FROM events ORDER BY ts`)
	for i, r := range append(raws, "bad \uFFFD utf8") {
		if i >= len(res.Rows) {
			t.Fatalf("%d rows, want %d", len(res.Rows), len(raws)+1)
		}
		if res.Rows[i][0] != r {
			t.Errorf("raw %d = %q, want %q", i, res.Rows[i][0], r)
		}
	}
}

// TestTimeRangeQueriesSkipSegments: a query for a time range plans reads of
// only the segments whose events may lie in it (the open one always), and
// still counts every event in range; the view follows rotation and prune.
func TestTimeRangeQueriesSkipSegments(t *testing.T) {
	s := openTest(t, Options{StoreEvents: true, Retention: Retention{Events: 24 * time.Hour}})
	ctx := context.Background()
	// Five hours of events, a segment each, then an open one.
	for h := range 5 {
		var evs []*event.Event
		for i := range 10 {
			evs = append(evs, segEvent(h*10+i, t0.Add(time.Duration(h)*time.Hour+time.Duration(i)*time.Minute)))
		}
		if err := s.WriteEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		mustFlush(t, s)
		onWriter(t, s, func(w *writer) error {
			if err := w.segs.Rotate(); err != nil || h == 4 {
				return err
			}
			return w.refreshView()
		})
	}
	reads := func(where string) int {
		t.Helper()
		var plan strings.Builder
		rows, err := s.db.QueryContext(ctx, "EXPLAIN SELECT count(*) FROM events "+where)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(v)
		}
		return strings.Count(plan.String(), "Function: READ_CSV")
	}
	count := func(where string) any {
		return mustQuery(t, s, "SELECT count(*) FROM events "+where).Rows[0][0]
	}
	// The view has the first four hours' segments in runs; the fifth was
	// closed after it was made, so its tail (the glob) reads it with the
	// open one.
	last := fmt.Sprintf("WHERE ts >= '%s'", t0.Add(3*time.Hour).Format(time.RFC3339))
	if all, recent := reads(""), reads(last); all != 5 || recent != 2 {
		t.Errorf("segments read: %d for all events, %d for the last two hours; want 5 (4 runs, the tail) and 2 (a run, the tail)", all, recent)
	}
	if n := count(last); n != int64(20) {
		t.Errorf("events in the last two hours = %v, want 20", n)
	}
	if n := count(""); n != int64(50) {
		t.Errorf("events = %v, want 50", n)
	}
	// Retention at t0+26h30m drops the first three hours: their segments
	// leave the view before their files go.
	if n, err := s.Prune(ctx, t0.Add(26*time.Hour+30*time.Minute)); err != nil || n != 30 {
		t.Fatalf("Prune = %d, %v; want 30", n, err)
	}
	if all := reads(""); all != 3 {
		t.Errorf("after prune the view reads %d parts, want 3 (2 runs, the tail)", all)
	}
	if n := count(""); n != int64(20) {
		t.Errorf("events after prune = %v, want 20", n)
	}
}

// TestPrunedSegmentOutlivesTheView: a segment Prune deletes leaves the
// events view at once, but its file stays for the grace of queries that
// bound the view before (until Close), marked gone for a crash meanwhile.
func TestPrunedSegmentOutlivesTheView(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, StoreEvents: true, Compression: CompressionNone, Retention: Retention{Events: time.Hour},
		tune: func(o *segment.Options) { o.Grace = time.Hour }})
	ctx := context.Background()
	for i := range 2 {
		if err := s.WriteEvents(ctx, []*event.Event{segEvent(i, t0.Add(time.Duration(i)*2*time.Hour))}); err != nil {
			t.Fatal(err)
		}
		mustFlush(t, s)
	}
	// The first event's segment was closed by the prune of its event.
	if n, err := s.Prune(ctx, t0.Add(150*time.Minute)); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if got := mustQuery(t, s, `SELECT list(fields->>'i') FROM events`).Rows; !reflect.DeepEqual(got, [][]any{{[]any{"1"}}}) {
		t.Errorf("after prune: %v, want only event 1", got)
	}
	marks, _ := filepath.Glob(filepath.Join(dir, segDirName, "seg-*"+goneExt))
	if len(marks) != 1 {
		t.Fatalf("gone marks = %v, want one", marks)
	}
	old := strings.TrimSuffix(marks[0], goneExt) + segExt
	if _, err := os.Stat(old); err != nil {
		t.Errorf("the pruned segment's file was deleted within its grace: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{old, marks[0]} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after Close: %v", p, err)
		}
	}
}
