package segment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/lookout-dev/lookout/internal/event"
)

func segEvent(i int, ts time.Time) *event.Event {
	return &event.Event{Time: ts, Source: "push", Raw: fmt.Appendf(nil, `{"i":%d}`, i),
		Fields: map[string]any{"i": float64(i), "svc": "api"}}
}

// stored is an event as a reader of a segment line sees it.
type stored struct {
	TS     int64          `json:"ts"`
	Source string         `json:"source"`
	Fields map[string]any `json:"fields"`
	Raw    string         `json:"raw"`
}

// readAll reads every event of the files Files names, in time order, the
// way the events view does: blank lines skipped, the raw message after the
// mark or in the JSON.
func readAll(t *testing.T, l *Log) []stored {
	t.Helper()
	f := l.Files()
	paths := []string{f.Open}
	for _, c := range f.Closed {
		paths = append(paths, c.Path)
	}
	var evs []stored
	for _, p := range paths {
		b, err := readSegmentFile(p, strings.HasSuffix(p, zstExt))
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(b) {
			if line[0] == '\n' {
				continue
			}
			js, raw, plain := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte{RawMark})
			var e stored
			if err := json.Unmarshal(js, &e); err != nil {
				t.Fatalf("%s: line %q: %v", p, line, err)
			}
			if plain {
				e.Raw = string(raw)
			}
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b stored) int { return int(a.TS - b.TS) })
	return evs
}

// is returns the events' i fields and raw messages.
func is(evs []stored) (ids []any, raws []string) {
	for _, e := range evs {
		ids, raws = append(ids, e.Fields["i"]), append(raws, e.Raw)
	}
	return ids, raws
}

func testOptions() Options {
	return Options{MaxSize: DefaultMaxSize, MaxAge: DefaultMaxAge, ViewEvery: DefaultViewEvery}
}

// TestSegmentLeftOpenByACrash: a segment without a sidecar and with a torn
// last line (a crash mid-write) is repaired at Open: its complete lines are
// events, the torn one is cut off, and it is pruned like any other. What a
// crash left of pruned segments, of a compression and of a rewrite is
// deleted.
func TestSegmentLeftOpenByACrash(t *testing.T) {
	dir := t.TempDir()
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
	path := filepath.Join(dir, "seg-000000000099"+segExt)
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	// A rewrite the crash interrupted before its rename.
	leftover := filepath.Join(dir, "seg-000000000100"+segExt+".tmp123")
	if err := os.WriteFile(leftover, text[:10], 0o644); err != nil {
		t.Fatal(err)
	}

	// A segment Prune had marked gone, its files still waiting out the
	// grace of queries; and one compressed whose plain file was still
	// there (the compressed copy is renamed into place whole).
	gone := filepath.Join(dir, "seg-000000000097")
	if err := os.WriteFile(gone+segExt, text[:torn], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gone+goneExt, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "seg-000000000098")
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
	late := filepath.Join(dir, "seg-000000000096")
	e9 := segEvent(9, t0)
	line9, _ := appendEventLine(nil, e9.Time.UnixMicro(), e9, nil)
	if err := os.WriteFile(late+segExt+zstExt, enc.EncodeAll(line9, nil), 0o644); err != nil {
		t.Fatal(err)
	}

	// Plain segments: with a grace of 0 the compressor could replace the
	// repaired segment and delete its plain file between Files naming it
	// and the reads below, a race only a zero grace opens. What a crash
	// left compressed is still Open's to sort out, whatever the setting;
	// compression after a reopen is TestRotateCompressAndReopen's.
	opts := testOptions()
	opts.Compress = false
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ids, _ := is(readAll(t, l))
	if want := []any{0.0, 1.0, 2.0, 3.0}; !reflect.DeepEqual(ids, want) {
		t.Errorf("events = %v, want %v", ids, want)
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
	// cutoff at t0+1h30m keeps the last two: the first segment is
	// rewritten.
	n, more, err := l.Prune(t0.Add(90*time.Minute), nil)
	if err != nil || n != 2 || more {
		t.Errorf("Prune = %d, %v, %v; want 2, no more", n, more, err)
	}
	ids, raws := is(readAll(t, l))
	if want := []any{2.0, 3.0}; !reflect.DeepEqual(ids, want) || !reflect.DeepEqual(raws, []string{`{"i":2}`, `{"i":3}`}) {
		t.Errorf("after prune: %v %q, want %v", ids, raws, want)
	}
	// The old file outlives the Files that named it by the grace (none
	// here), then it and its mark are deleted.
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, strings.TrimSuffix(path, segExt) + goneExt} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after its grace: %v", p, err)
		}
	}
}

// TestRotateCompressAndReopen: events spread over several segments (closed
// by size) are all in Files, once each, in order; closed segments are
// compressed, Files names the compressed files and their plain ones are
// deleted after the grace; and a reopened log has them all.
func TestRotateCompressAndReopen(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.Compress, opts.MaxSize, opts.ViewEvery = true, 2000, 0 // a few dozen lines a segment
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var want []any
	for i := range n {
		if err := l.Append(segEvent(i, t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
		want = append(want, float64(i))
		if i%20 == 19 {
			if err := l.Commit(); err != nil { // a commit may close the segment
				t.Fatal(err)
			}
		}
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	plain := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "seg-*"+segExt))
		return m
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := l.Maintain(); err != nil {
			t.Fatal(err)
		}
		f := l.Files()
		if len(f.Closed) >= 10 && !slices.ContainsFunc(f.Closed, func(c File) bool { return !strings.HasSuffix(c.Path, zstExt) }) &&
			len(plain()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("closed segments %v, plain files %v; want ≥ 10, all compressed, only the open one plain", f.Closed, plain())
		}
	}
	if got, _ := is(readAll(t, l)); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v, want 0…%d", got, n-1)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, _ := is(readAll(t, l)); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopening: %d events, want %d", len(got), n)
	}
}
