package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/lookout-dev/lookout/internal/event"
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
				tune: func(g *segments) { g.maxSize, g.grace, g.viewEvery = 2000, 0, 0 }} // a few dozen lines a segment
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
				b, err := readSegmentFile(path, strings.HasSuffix(path, zstExt))
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

// waitUntil polls cond every 10 ms until it holds, failing after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// TestSegmentLeftOpenByACrash: a segment without a sidecar and with a torn
// last line (a crash mid-write) is repaired at Open: its complete lines are
// events, the torn one is cut off, and it is pruned like any other.
func TestSegmentLeftOpenByACrash(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, StoreEvents: true, Retention: Retention{Events: time.Hour}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var text []byte
	var kvs []fieldKV
	for i := range 3 {
		e := segEvent(i, t0.Add(time.Duration(i)*time.Hour))
		text, kvs = appendEventLine(text, e.Time.UnixMicro(), e, kvs)
		if i == 0 { // a block's padding, as a commit leaves it
			text = append(text, "\n\n\n"...)
		}
	}
	torn := len(text)
	text = append(text, `{"ts":1740830400000000,"source":"pu`...)
	path := filepath.Join(dir, segDirName, "seg-000000000099"+segExt)
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	// A rewrite the crash interrupted before its rename.
	leftover := filepath.Join(dir, segDirName, "seg-000000000100"+segExt+".tmp123")
	if err := os.WriteFile(leftover, text[:10], 0o644); err != nil {
		t.Fatal(err)
	}

	// A segment Prune had marked gone, its files still waiting out the
	// grace of queries; and one compressed whose plain file was still
	// there (the compressed copy is renamed into place whole).
	gone := filepath.Join(dir, segDirName, "seg-000000000097")
	if err := os.WriteFile(gone+segExt, text[:torn], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gone+goneExt, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, segDirName, "seg-000000000098")
	e := segEvent(3, t0.Add(3*time.Hour))
	line, _ := appendEventLine(nil, e.Time.UnixMicro(), e, nil)
	enc, _ := zstd.NewWriter(nil)
	if err := os.WriteFile(both+segExt, line, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(both+segExt+zstExt, enc.EncodeAll(line, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeStats(both+statsExt, segStats{Min: e.Time.UnixMicro(), Max: e.Time.UnixMicro(), N: 1}); err != nil {
		t.Fatal(err) // written when it closed, before it was compressed
	}

	// A compressed copy the compressor finished after Prune had removed
	// the segment (its sidecar, mark and plain file all gone).
	late := filepath.Join(dir, segDirName, "seg-000000000096")
	e9 := segEvent(9, t0)
	line9, _ := appendEventLine(nil, e9.Time.UnixMicro(), e9, nil)
	if err := os.WriteFile(late+segExt+zstExt, enc.EncodeAll(line9, nil), 0o644); err != nil {
		t.Fatal(err)
	}

	// Plain segments: with a grace of 0 the compressor could replace the
	// repaired segment and delete its plain file between the view naming it
	// and the query below reading it — a race only a zero grace opens (the
	// real grace outlasts any query). What a crash left compressed is still
	// Open's to sort out, whatever the setting; compression after a crash
	// is TestSegmentsRotateAndReopen's.
	opts := Options{Dir: dir, StoreEvents: true, Retention: Retention{Events: time.Hour}, FlushInterval: 20 * time.Millisecond,
		Compression: CompressionNone, tune: func(g *segments) { g.grace, g.viewEvery = 0, 0 }}
	s = openTest(t, opts)
	got := mustQuery(t, s, `SELECT list(fields->>'i' ORDER BY ts), count(*) FILTER (WHERE source = 'push') FROM events`).Rows
	if want := [][]any{{[]any{"0", "1", "2", "3"}, int64(4)}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(torn) {
		t.Errorf("repaired segment: %v, %v; want %d bytes", fi, err, torn)
	}
	for _, p := range []string{gone + segExt, gone + goneExt, both + segExt, late + segExt + zstExt} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	if _, err := os.Stat(strings.TrimSuffix(path, segExt) + statsExt); err != nil {
		t.Errorf("no sidecar written: %v", err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("the interrupted rewrite's temporary file is still there: %v", err)
	}
	// Events at t0, t0+1h and t0+2h, and t0+3h in the other segment; a
	// retention of 1h at t0+2h30m keeps the last two: the first segment is
	// rewritten.
	n, err := s.Prune(context.Background(), t0.Add(150*time.Minute))
	if err != nil || n != 2 {
		t.Errorf("Prune = %d, %v; want 2", n, err)
	}
	got = mustQuery(t, s, `SELECT list(fields->>'i' ORDER BY ts), list(raw ORDER BY ts) FROM events`).Rows
	if want := [][]any{{[]any{"2", "3"}, []any{`{"i":2}`, `{"i":3}`}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("after prune: %v, want %v", got, want)
	}
	// The old file outlives the view that named it by the grace (none
	// here), then it and its mark are deleted.
	waitUntil(t, 10*time.Second, "the rewritten segment's old file deleted", func() bool {
		_, err1 := os.Stat(path)
		_, err2 := os.Stat(strings.TrimSuffix(path, segExt) + goneExt)
		return os.IsNotExist(err1) && os.IsNotExist(err2)
	})
}

// TestLongEventIsStoredAsARow: an event whose line would be longer than the
// events view reads from a segment is stored in events_rows and reads back
// whole through the same view.
func TestLongEventIsStoredAsARow(t *testing.T) {
	s := openTest(t, Options{StoreEvents: true})
	long := strings.Repeat("x", segMaxLine)
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
	for _, tc := range []struct {
		raw   string
		plain bool
	}{{"abc", true}, {"ab\nc", false}, {"12345678\x1f", false}, {"é\x01", false}, {"\xff", false}, {"12345678é12345678", true}} {
		if got := plainRaw([]byte(tc.raw)); got != tc.plain {
			t.Errorf("plainRaw(%q) = %v, want %v", tc.raw, got, tc.plain)
		}
	}
}

// FuzzPlainRaw checks the word-at-a-time test against its definition: UTF-8
// without a byte below 0x20.
func FuzzPlainRaw(f *testing.F) {
	for _, s := range []string{"", "abc", "12345678\x1f", "é日本語 123456789", "\xff\xfe", "1234567\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := utf8.Valid(raw) && !slices.ContainsFunc(raw, func(c byte) bool { return c < 0x20 })
		if got := plainRaw(raw); got != want {
			t.Errorf("plainRaw(%q) = %v, want %v", raw, got, want)
		}
	})
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
		s.w.segs.maxSize = 1 // the next commit closes the segment
		if h < 4 {
			s.w.segs.viewAt = time.Time{} // and makes the view again
		}
		mustFlush(t, s)
		s.w.segs.maxSize = segMaxSize
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
		tune: func(g *segments) { g.grace = time.Hour }})
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
