package logfile

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

func TestTracker(t *testing.T) {
	errStore := errors.New("store failed")
	type ack struct {
		batch int
		err   error
	}
	tests := []struct {
		name    string
		batches int
		acks    []ack
		want    []int64 // offsets saved, in order
	}{
		{"in order", 3, []ack{{0, nil}, {1, nil}, {2, nil}}, []int64{10, 20, 30}},
		{"out of order waits for the earlier batch", 3, []ack{{2, nil}, {1, nil}, {0, nil}}, []int64{30}},
		{"a gap holds later acks back", 3, []ack{{0, nil}, {2, nil}}, []int64{10}},
		{"an error ack does not advance", 2, []ack{{0, errStore}, {1, nil}}, nil},
		{"an error ack stops what follows", 3, []ack{{0, nil}, {1, errStore}, {2, nil}}, []int64{10}},
		{"an error ack after later successes", 3, []ack{{2, nil}, {0, nil}, {1, errStore}}, []int64{10}},
		{"a second ack of one batch is ignored", 2, []ack{{0, nil}, {0, errStore}, {1, nil}}, []int64{10, 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var saved []int64
			k := &tracker{save: func(p position) { saved = append(saved, p.Offset) }}
			fns := make([]func(error), tt.batches)
			for i := range fns {
				fns[i] = k.add(position{Offset: int64(i+1) * 10})
			}
			for _, a := range tt.acks {
				fns[a.batch](a.err)
			}
			if !reflect.DeepEqual(saved, tt.want) {
				t.Errorf("saved offsets %v, want %v", saved, tt.want)
			}
		})
	}
}

// TestTrackerStart: the start of reading is saved only when nothing read
// before it is still waiting for its ack.
func TestTrackerStart(t *testing.T) {
	var saved []int64
	k := &tracker{save: func(p position) { saved = append(saved, p.Offset) }}
	k.start(position{Offset: 5})
	ack := k.add(position{Offset: 10})
	k.start(position{Offset: 0}) // a rotation while a batch is pending
	ack(nil)
	k.start(position{Offset: 0})
	if want := []int64{5, 10, 0}; !reflect.DeepEqual(saved, want) {
		t.Errorf("saved offsets %v, want %v", saved, want)
	}
}

// restarter runs one source over the same path and the same data directory
// several times, each run a new Source with freshly opened positions, the way
// lookout does across a restart.
type restarter struct {
	t    *testing.T
	dir  string
	path string
	cfg  config.Source
	log  bytes.Buffer
}

func newRestarter(t *testing.T, start string) *restarter {
	dir := t.TempDir()
	cfg := config.Source{Name: "app_log", Type: "logfile", Settings: &Config{Path: filepath.Join(dir, "app.log"), Start: start}, TimeField: "ts"}
	return &restarter{t: t, dir: dir, path: filepath.Join(dir, "app.log"), cfg: cfg}
}

func (r *restarter) positionFile() string {
	return filepath.Join(r.dir, "data", "positions", "app_log.json")
}

// run is one lifetime of the source, from start to a clean stop. It opens
// the file as Run does at start; then for each step it calls the step (which
// may write to the file), reopens the path if the last poll followed a
// rotation, and polls once. The sink acknowledges as the test set it up.
// It returns the lines read.
func (r *restarter) run(sink *sourcetest.AckSink, steps ...func()) []string {
	t := r.t
	t.Helper()
	pos, err := source.OpenPositions(filepath.Join(r.dir, "data", "positions"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := pos.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	log := slog.New(slog.NewTextHandler(&r.log, nil))
	s, err := New(r.cfg, source.Deps{Clock: clock.NewFake(now), Log: log, Positions: pos})
	if err != nil {
		t.Fatal(err)
	}
	// A 7-byte read buffer, so lines end in the middle of reads.
	tl := &tail{split: splitter{max: s.maxLine}, buf: make([]byte, 7),
		resume: s.loadPosition(), track: &tracker{save: s.savePosition}}
	defer tl.close()
	for i, step := range steps {
		if tl.f == nil {
			if err := s.open(tl, i == 0); err != nil {
				t.Fatal(err)
			}
		}
		step()
		if err := s.poll(context.Background(), tl, sink); err != nil {
			t.Fatal(err)
		}
	}
	return messages(sink.Events())
}

func TestRestart(t *testing.T) {
	errStore := errors.New("store failed")
	nothing := func() {}
	tests := []struct {
		name  string
		start string
		// first runs the first lifetime; down changes things while lookout
		// is down; second runs the next lifetime and returns its lines.
		first  func(r *restarter)
		down   func(r *restarter)
		second func(r *restarter) []string
		want   []string
		warn   string // in the log of the second run
	}{
		{
			name:  "start end: resumes after the acked lines and reads what was written while down",
			start: "end",
			first: func(r *restarter) {
				appendFile(t, r.path, "before the first start\n")
				r.run(sourcetest.NewAckSink(), func() { appendFile(t, r.path, "a\nb\nunfinis") })
			},
			down:   func(r *restarter) { appendFile(t, r.path, "hed\nc\n") },
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing) },
			want:   []string{"unfinished", "c"},
		},
		{
			name:  "start beginning does not read the acked lines again",
			start: "beginning",
			first: func(r *restarter) {
				appendFile(t, r.path, "a\nb\n")
				r.run(sourcetest.NewAckSink(), nothing)
			},
			down:   func(r *restarter) { appendFile(t, r.path, "c\n") },
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing) },
			want:   []string{"c"},
		},
		{
			name:  "lines never acked are read again",
			start: "beginning",
			first: func(r *restarter) {
				appendFile(t, r.path, "a\n")
				sink := sourcetest.NewAckSink()
				r.run(sink, nothing, func() { sink.Set(true, nil); appendFile(t, r.path, "b\n") })
			},
			down:   func(r *restarter) { appendFile(t, r.path, "c\n") },
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing) },
			want:   []string{"b", "c"},
		},
		{
			name:  "lines acked with an error are read again, and so is everything after them",
			start: "beginning",
			first: func(r *restarter) {
				appendFile(t, r.path, "a\n")
				sink := sourcetest.NewAckSink()
				r.run(sink, nothing,
					func() { sink.Set(false, errStore); appendFile(t, r.path, "b\n") },
					func() { sink.Set(false, nil); appendFile(t, r.path, "c\n") })
			},
			down:   func(r *restarter) {},
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing) },
			want:   []string{"b", "c"},
		},
		{
			name:  "rotated while down: the rest of the old file next to it, then the new one",
			start: "end",
			first: func(r *restarter) {
				appendFile(t, r.path, "")
				r.run(sourcetest.NewAckSink(), func() { appendFile(t, r.path, "a\n") })
			},
			down: func(r *restarter) {
				appendFile(t, r.path, "b, written before the rotation\n")
				rename(t, r.path, r.path+".1")
				appendFile(t, r.path, "c, in the new file\n")
			},
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing, nothing) },
			want:   []string{"b, written before the rotation", "c, in the new file"},
		},
		{
			name:  "rotated while down and the old file moved away: the new file from its start",
			start: "end",
			first: func(r *restarter) {
				appendFile(t, r.path, "")
				r.run(sourcetest.NewAckSink(), func() { appendFile(t, r.path, "a\n") })
			},
			down: func(r *restarter) {
				appendFile(t, r.path, "lost with the old file\n")
				// Moved, not deleted: a new file could get the freed inode.
				rename(t, r.path, filepath.Join(r.dir, "archived"))
				appendFile(t, r.path, "c\n")
			},
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing) },
			want:   []string{"c"},
		},
		{
			name:  "truncated while down: from the start",
			start: "end",
			first: func(r *restarter) {
				appendFile(t, r.path, "")
				r.run(sourcetest.NewAckSink(), func() { appendFile(t, r.path, "a long first line\n") })
			},
			down: func(r *restarter) {
				if err := os.Truncate(r.path, 0); err != nil {
					t.Fatal(err)
				}
				appendFile(t, r.path, "short\n")
			},
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing) },
			want:   []string{"short"},
		},
		{
			name:  "truncated and written past the position while down (copytruncate): from the start",
			start: "end",
			first: func(r *restarter) {
				appendFile(t, r.path, "")
				r.run(sourcetest.NewAckSink(), func() { appendFile(t, r.path, "a\n") })
			},
			down: func(r *restarter) {
				writeFile(t, r.path, "bb\ncc\n") // the same inode, truncated and longer again
			},
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing) },
			want:   []string{"bb", "cc"},
		},
		{
			name:  "missing position file: start end applies",
			start: "end",
			first: func(r *restarter) {
				appendFile(t, r.path, "a\n")
				r.run(sourcetest.NewAckSink(), nothing)
			},
			down: func(r *restarter) {
				remove(t, r.positionFile())
				appendFile(t, r.path, "b, written while down\n")
			},
			second: func(r *restarter) []string {
				return r.run(sourcetest.NewAckSink(), func() { appendFile(t, r.path, "c\n") })
			},
			want: []string{"c"},
		},
		{
			name:  "corrupt position file: a warning, and start beginning applies",
			start: "beginning",
			first: func(r *restarter) {
				appendFile(t, r.path, "a\n")
				r.run(sourcetest.NewAckSink(), nothing)
			},
			down: func(r *restarter) {
				writeFile(t, r.positionFile(), `{"path": "cut off`)
				appendFile(t, r.path, "b\n")
			},
			second: func(r *restarter) []string { return r.run(sourcetest.NewAckSink(), nothing) },
			want:   []string{"a", "b"},
			warn:   "is not JSON",
		},
		{
			name:  "position without a file identity: a warning, and start end applies",
			start: "end",
			first: func(r *restarter) {
				appendFile(t, r.path, "a\n")
				r.run(sourcetest.NewAckSink(), nothing)
			},
			down: func(r *restarter) {
				writeFile(t, r.positionFile(), `{"offset": 0}`)
				appendFile(t, r.path, "b\n")
			},
			second: func(r *restarter) []string {
				return r.run(sourcetest.NewAckSink(), func() { appendFile(t, r.path, "c\n") })
			},
			want: []string{"c"},
			warn: "no file identity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRestarter(t, tt.start)
			tt.first(r)
			tt.down(r)
			r.log.Reset()
			if got := tt.second(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("second run read %q, want %q", got, tt.want)
			}
			logged := r.log.String()
			if tt.warn == "" && strings.Contains(logged, "level=WARN") {
				t.Errorf("unexpected warning:\n%s", logged)
			}
			if tt.warn != "" && (!strings.Contains(logged, "level=WARN") || !strings.Contains(logged, tt.warn)) {
				t.Errorf("log does not warn %q:\n%s", tt.warn, logged)
			}
			// A third run finds nothing new: the second saved how far it got.
			if got := r.run(sourcetest.NewAckSink(), nothing); len(got) != 0 {
				t.Errorf("third run read %q, want nothing", got)
			}
		})
	}
}

// TestRunSavesPosition follows a file with Run, stops it, writes while it is
// down, and runs it again: the lines are read once across both runs.
func TestRunSavesPosition(t *testing.T) {
	if testing.Short() {
		t.Skip("follows a real file in real time")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "before the first start\n")
	cfg := config.Source{Name: "app_log", Type: "logfile", TimeField: "ts",
		Settings: &Config{Path: path, Interval: config.Duration(5 * time.Millisecond)}}
	lifetime := func(write string, want []string) {
		t.Helper()
		pos, err := source.OpenPositions(filepath.Join(dir, "positions"), nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(cfg, source.Deps{Positions: pos})
		if err != nil {
			t.Fatal(err)
		}
		sink := sourcetest.NewAckSink()
		stop := sourcetest.Run(t, s, sink)
		// Run has opened the file once its health says so.
		waitFor(t, "the file to be opened", func() bool { return s.Health().Snapshot().Up })
		appendFile(t, path, write)
		waitFor(t, strings.Join(want, ", "), func() bool { return len(sink.Events()) >= len(want) })
		stop()
		if err := pos.Close(); err != nil {
			t.Fatal(err)
		}
		if got := messages(sink.Events()); !reflect.DeepEqual(got, want) {
			t.Fatalf("lines %q, want %q", got, want)
		}
	}
	lifetime("a\nb\n", []string{"a", "b"})
	appendFile(t, path, "c, written while down\n")
	lifetime("d\n", []string{"c, written while down", "d"})
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
