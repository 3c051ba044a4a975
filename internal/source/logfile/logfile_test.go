package logfile

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

var now = time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC)

func newSource(t *testing.T, c Config) *Source {
	t.Helper()
	cfg := config.Source{Name: "app_log", Type: "logfile", TimeField: "ts", Settings: &c}
	s, err := source.New(cfg, source.Deps{Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func messages(evs []*event.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Fields["message"].(string))
	}
	return out
}

// follower drives one source's tail step by step, so each test decides
// exactly what the file looks like at each poll.
type follower struct {
	t    *testing.T
	s    *Source
	tail *tail
	sink *sourcetest.Sink
	seen int
}

func follow(t *testing.T, s *Source) *follower {
	fl := &follower{t: t, s: s, tail: &tail{split: splitter{max: s.maxLine}, buf: make([]byte, 7)}, sink: &sourcetest.Sink{}}
	if err := s.open(fl.tail, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fl.tail.close)
	return fl
}

// poll polls once (reopening the path first if the last poll saw a
// rotation) and returns the messages of the new events.
func (fl *follower) poll() []string {
	fl.t.Helper()
	if fl.tail.f == nil {
		if err := fl.s.open(fl.tail, false); err != nil {
			fl.t.Fatal(err)
		}
	}
	if err := fl.s.poll(context.Background(), fl.tail, fl.sink); err != nil {
		fl.t.Fatal(err)
	}
	evs := fl.sink.Events()
	out := messages(evs[fl.seen:])
	fl.seen = len(evs)
	return out
}

func TestFollow(t *testing.T) {
	type step struct {
		do   func(t *testing.T, path string)
		want []string
	}
	write := func(data string) func(*testing.T, string) {
		return func(t *testing.T, path string) { appendFile(t, path, data) }
	}
	rotate := func(oldTail, newData string) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			appendFile(t, path, oldTail)
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, newData)
		}
	}
	truncate := func(newData string) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, newData)
		}
	}
	tests := []struct {
		name    string
		initial string
		start   string
		steps   []step
	}{
		{
			name:    "starts at the end by default",
			initial: "before start\n",
			steps: []step{
				{write("one\ntwo\n"), []string{"one", "two"}},
				{write(""), []string{}},
			},
		},
		{
			name:    "start beginning",
			initial: "before start\n",
			start:   "beginning",
			steps:   []step{{write("after\n"), []string{"before start", "after"}}},
		},
		{
			name: "unfinished line waits for its newline, crlf and blank lines",
			steps: []step{
				{write("part"), []string{}},
				{write("ial done\r\n\r\n  \nnext\n"), []string{"partial done", "next"}},
			},
		},
		{
			name: "rotation reads the old file to its end, then the new one from its start",
			steps: []step{
				{write("a\n"), []string{"a"}},
				{rotate("last of old\nunfinished", "first of new\n"), []string{"last of old", "unfinished"}},
				{write("second of new\n"), []string{"first of new", "second of new"}},
			},
		},
		{
			name: "truncation restarts from the start",
			steps: []step{
				{write("x1 long enough\nx2 long enough\n"), []string{"x1 long enough", "x2 long enough"}},
				{truncate("y\n"), []string{"y"}},
				{write("z\n"), []string{"z"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			appendFile(t, path, tt.initial)
			fl := follow(t, newSource(t, Config{Path: path, Start: tt.start}))
			for i, st := range tt.steps {
				st.do(t, path)
				if got := fl.poll(); !reflect.DeepEqual(got, st.want) {
					t.Fatalf("step %d: lines %q, want %q", i, got, st.want)
				}
			}
			if rej := fl.sink.Rejected(); len(rej) != 0 {
				t.Errorf("rejected %+v", rej)
			}
		})
	}
}

func TestEventFields(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		line     string
		want     map[string]any
		wantTime time.Time
		flags    event.Flag
	}{
		{
			name: "text line with matches",
			line: "2024-11-26 ERROR request failed: context deadline exceeded",
			want: map[string]any{
				"message": "2024-11-26 ERROR request failed: context deadline exceeded",
				"path":    "PATH", "error": true, "timeout": true,
			},
			wantTime: now,
		},
		{
			name:     "no match is false, not absent",
			line:     "INFO all good",
			want:     map[string]any{"message": "INFO all good", "path": "PATH", "error": false, "timeout": false},
			wantTime: now,
		},
		{
			name: "json line is decoded and keeps its own time",
			line: `{"ts":"2024-11-26T05:00:00Z","level":"error","http":{"status":503}}`,
			want: map[string]any{
				"ts": "2024-11-26T05:00:00Z", "level": "error", "http.status": 503.0,
				"message": `{"ts":"2024-11-26T05:00:00Z","level":"error","http":{"status":503}}`,
				"path":    "PATH", "error": false, "timeout": false,
			},
			wantTime: now.Add(-time.Hour),
		},
		{
			name: "json line keeps its own message",
			line: `{"message":"panic: boom"}`,
			want: map[string]any{"message": "panic: boom", "path": "PATH", "error": true, "timeout": false},
			// A JSON line without a time field is an event without one.
			wantTime: now, flags: event.FlagNoTimestamp,
		},
		{
			name:     "payload text does not decode json",
			payload:  "text",
			line:     `{"level":"ERROR"}`,
			want:     map[string]any{"message": `{"level":"ERROR"}`, "path": "PATH", "error": true, "timeout": false},
			wantTime: now,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			appendFile(t, path, "")
			s := newSource(t, Config{Path: path, Payload: tt.payload,
				Match: map[string]string{"error": `ERROR|panic`, "timeout": `deadline exceeded$`}})
			fl := follow(t, s)
			appendFile(t, path, tt.line+"\n")
			fl.poll()
			evs := fl.sink.Events()
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1", len(evs))
			}
			e := evs[0]
			tt.want["path"] = path
			if !reflect.DeepEqual(e.Fields, tt.want) {
				t.Errorf("fields\n got %v\nwant %v", e.Fields, tt.want)
			}
			if !e.Time.Equal(tt.wantTime) || e.Flags != tt.flags || e.Source != "app_log" || string(e.Raw) != tt.line {
				t.Errorf("event time %v flags %v source %q raw %q", e.Time, e.Flags, e.Source, e.Raw)
			}
			if raw := s.Raw().Last(10); len(raw) != 1 || string(raw[0].Data) != tt.line {
				t.Errorf("raw ring = %v", raw)
			}
		})
	}
}

// TestBrokenJSONLineRejected: in a json log, a line that starts like a JSON
// object and does not parse goes to the rejected table with the reason, as
// with the broker sources; a line that is not JSON at all stays a plain line.
func TestBrokenJSONLineRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, "")
	s := newSource(t, Config{Path: path})
	fl := follow(t, s)
	appendFile(t, path, "{\"level\":\nplain banner\n")
	fl.poll()
	if evs := fl.sink.Events(); len(evs) != 1 || evs[0].Fields["message"] != "plain banner" {
		t.Fatalf("events %v, want the plain line only", evs)
	}
	rej := fl.sink.Rejected()
	if len(rej) != 1 || string(rej[0].Raw) != `{"level":` || !strings.Contains(rej[0].Reason, "decoding a JSON line") {
		t.Fatalf("rejected %+v, want the broken line with its reason", rej)
	}
	if h := s.Health().Snapshot(); h.Rejected != 1 || h.Events != 1 {
		t.Errorf("health = %+v", h)
	}
}

func TestOversizeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, "")
	s := newSource(t, Config{Path: path, MaxLineBytes: 16})
	fl := follow(t, s)
	long := strings.Repeat("x", 40)
	appendFile(t, path, "short\n"+long+"\nexactly 16 bytes\r\n")
	got := fl.poll()
	// The long line arrives over several 7-byte reads; it is cut once.
	appendFile(t, path, "AAAAAAAAAAAAAAAAAAAAAAAA")
	got = append(got, fl.poll()...)
	appendFile(t, path, "AAAAAAAA\nafter\n")
	got = append(got, fl.poll()...)
	if want := []string{"short", "exactly 16 bytes", "after"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	rej := fl.sink.Rejected()
	wantRaw := []string{long[:16], strings.Repeat("A", 16)}
	if len(rej) != len(wantRaw) {
		t.Fatalf("rejected %+v, want %d", rej, len(wantRaw))
	}
	for i, r := range rej {
		if string(r.Raw) != wantRaw[i] || r.Source != "app_log" || !strings.Contains(r.Reason, "max_line_bytes (16 bytes)") || !r.Time.Equal(now) {
			t.Errorf("rejected[%d] = %+v", i, r)
		}
	}
	if h := s.Health().Snapshot(); h.Rejected != 2 || h.Events != 3 {
		t.Errorf("health = %+v", h)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("follows a real file in real time")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	var logs syncBuffer
	src, err := source.New(config.Source{Name: "app_log", Type: "logfile", TimeField: "ts", Settings: &Config{Path: path,
		Interval: config.Duration(5 * time.Millisecond), Match: map[string]string{"error": "ERROR"}}},
		source.Deps{Clock: clock.Real{}, Log: slog.New(slog.NewTextHandler(&logs, nil))}) // real: LastErrorAt tells the retries apart
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	sink := &sourcetest.Sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sink) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	}()

	// The file does not exist yet: the source says so, in its health and
	// once in the log, and keeps trying.
	waitFor(t, "the missing file to be reported", func() bool {
		h := s.Health().Snapshot().LastError
		return strings.Contains(h, "no such file") && strings.Contains(h, path)
	})
	before := s.Health().Snapshot().LastErrorAt
	waitFor(t, "another retry", func() bool { return s.Health().Snapshot().LastErrorAt != before })
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "path="+path) {
		t.Errorf("log after retries, want one warning with the path:\n%s", logs.String())
	}
	// A file that appears later is new: it is read from its start.
	appendFile(t, path, "1 ERROR a\n2 ok\n")
	want := []string{"1 ERROR a", "2 ok"}
	check := func() {
		t.Helper()
		waitFor(t, strings.Join(want, ", "), func() bool { return len(sink.Events()) >= len(want) })
		if got := messages(sink.Events()); !reflect.DeepEqual(got, want) {
			t.Fatalf("lines %q, want %q", got, want)
		}
	}
	check()
	if !s.Health().Snapshot().Up {
		t.Error("source not up while following the file")
	}

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", "3 written to the old file after the rename\n")
	appendFile(t, path, "4 ERROR new file\n")
	want = append(want, "3 written to the old file after the rename", "4 ERROR new file")
	check()

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "5\n")
	want = append(want, "5")
	check()

	var errs int
	for _, e := range sink.Events() {
		if e.Fields["error"] == true {
			errs++
		}
	}
	if errs != 2 {
		t.Errorf("%d events with error: true, want 2", errs)
	}
}

func TestBackoff(t *testing.T) {
	s := newSource(t, Config{Path: "x", Interval: config.Duration(100 * time.Millisecond)})
	s.Rand = func(n int64) int64 { return n - 1 } // the most jitter
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{20, maxBackoff},
	}
	for _, tt := range tests {
		if got := s.backoff(tt.failures); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
	s.Rand = func(int64) int64 { return 0 }
	if got := s.backoff(1); got != 50*time.Millisecond {
		t.Errorf("backoff(1) with no jitter = %v, want half the interval", got)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no path", Config{}, "path is required"},
		{"bad start", Config{Path: "x", Start: "middle"}, `unknown start "middle"`},
		{"bad match", Config{Path: "x", Match: map[string]string{"e": "("}}, "compiling match e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := source.New(config.Source{Name: "l", Type: "logfile", Settings: &tt.cfg}, source.Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want %q", err, tt.want)
			}
		})
	}
}

// splitAll runs data through a splitter in the chunks cuts describes and
// returns what it emitted, oversize lines marked with a leading "!".
func splitAll(max int, data []byte, cuts []int) []string {
	s := splitter{max: max}
	var out []string
	emit := func(line []byte, oversize bool) {
		if oversize {
			out = append(out, "!"+string(line))
			return
		}
		out = append(out, string(line))
	}
	prev := 0
	for _, c := range cuts {
		if c > prev && c <= len(data) {
			s.feed(data[prev:c], emit)
			prev = c
		}
	}
	s.feed(data[prev:], emit)
	s.flush(emit)
	return out
}

func FuzzSplitter(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, max uint8, cut1, cut2 uint16) {
		m := int(max%64) + 1
		whole := splitAll(m, data, nil)
		c1, c2 := int(cut1)%(len(data)+1), int(cut2)%(len(data)+1)
		if c1 > c2 {
			c1, c2 = c2, c1
		}
		chunked := splitAll(m, data, []int{c1, c2})
		if !reflect.DeepEqual(whole, chunked) {
			t.Fatalf("max %d: whole %q, in chunks at %d,%d %q", m, whole, c1, c2, chunked)
		}
		// Without oversize lines the lines are exactly the non-blank lines
		// of the input.
		var want []string
		oversize := false
		for _, l := range bytes.Split(data, []byte{'\n'}) {
			l = bytes.TrimSuffix(l, []byte{'\r'})
			if len(l) > m {
				oversize = true
			}
			if len(bytes.TrimSpace(l)) > 0 {
				want = append(want, string(l))
			}
		}
		for _, l := range whole {
			if strings.HasPrefix(l, "!") {
				l = l[1:]
			}
			if len(l) > m || strings.Contains(l, "\n") {
				t.Fatalf("line %q longer than %d or holding a newline", l, m)
			}
		}
		if !oversize && !reflect.DeepEqual(whole, want) {
			t.Fatalf("lines %q, want %q", whole, want)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the source's goroutine to log into
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
