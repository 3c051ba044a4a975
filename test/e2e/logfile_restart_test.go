package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

const logfileRestartConfig = `
server:
  listen: %s
storage:
  path: %s
  flush_interval: 200ms
sources:
  - name: app_log
    type: logfile
    path: %s
    interval: 50ms
pipelines:
  - name: lines
    from: [app_log]
    group_by: [service]
    window: 10s
    lateness: 1s
    aggregates:
      lines: count()
`

// logWriter appends JSON lines stamped with the wall clock to a log file
// until stopped, and counts the lines per 10 s window and per phase of the
// test (before the kill, while lookout is down, after the restart).
type logWriter struct {
	f     *os.File
	mu    sync.Mutex
	sent  map[int64]int            // window start (unix s) → lines
	by    map[string]map[int64]int // phase → window start → lines
	phase string
	stop  chan struct{}
	done  chan struct{}
}

func (w *logWriter) run(t *testing.T) {
	defer close(w.done)
	n := 0
	for {
		select {
		case <-w.stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		now := time.Now()
		var b strings.Builder
		for range 3 {
			n++
			fmt.Fprintf(&b, "{\"ts\":%d,\"service\":\"api\",\"n\":%d}\n", now.UnixMilli(), n)
		}
		if _, err := w.f.WriteString(b.String()); err != nil {
			t.Errorf("writing the log: %v", err)
			return
		}
		win := now.Unix() - now.Unix()%10
		w.mu.Lock()
		w.sent[win] += 3
		w.by[w.phase][win] += 3
		w.mu.Unlock()
	}
}

func (w *logWriter) setPhase(p string) {
	w.mu.Lock()
	w.phase = p
	w.by[p] = map[int64]int{}
	w.mu.Unlock()
}

// TestLogfileKillMidWindowCountsEachLineOnce: a log file followed through a
// kill -9 in the middle of a 10 s window, with lines written while lookout is
// down: the restarted lookout resumes at its saved position, so the window
// that was open counts the lines read before the kill, those written while
// it was down and those after, each once; and the window closed before the
// kill is not emitted again.
func TestLogfileKillMidWindowCountsEachLineOnce(t *testing.T) {
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	logPath := filepath.Join(dir, "app.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Lines before the first start are skipped (start: end, no position yet).
	if _, err := f.WriteString("{\"ts\":1,\"service\":\"api\"}\n"); err != nil {
		t.Fatal(err)
	}
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(logfileRestartConfig, addr, dir+"/data", logPath))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)

	// Begin right after a window boundary: window A is written whole before
	// the kill, window B around it.
	for time.Now().UnixMilli()%10_000 > 300 {
		time.Sleep(20 * time.Millisecond)
	}
	winA := time.Now().Unix() - time.Now().Unix()%10
	winB := winA + 10
	w := &logWriter{f: f, sent: map[int64]int{}, by: map[string]map[int64]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	w.setPhase("before the kill")
	go w.run(t)
	stopWriter := sync.OnceFunc(func() { close(w.stop); <-w.done })
	defer stopWriter()

	windows := func(p *lookouttest.Proc) map[int64][]float64 {
		var res struct {
			Data []windowJSON `json:"data"`
		}
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=lines"), &res)
		out := map[int64][]float64{}
		for _, win := range res.Data {
			s, err := time.Parse(time.RFC3339Nano, win.Start)
			if err != nil {
				t.Fatalf("window start %q: %v", win.Start, err)
			}
			out[s.Unix()] = append(out[s.Unix()], *win.Values["lines"])
		}
		return out
	}
	lookouttest.WaitFor(t, 20*time.Second, "window A to close", func() bool { return len(windows(p)[winA]) > 0 })
	// A's lines are acknowledged once A is stored, and their position is
	// written within a second: give it that, then crash in the middle of B.
	time.Sleep(2 * time.Second)
	if now := time.Now().Unix(); now >= winB+7 {
		t.Fatalf("too slow to kill in the middle of window B (now %ds into it)", now-winB)
	}
	p.Kill()
	w.setPhase("while down")
	time.Sleep(time.Second)
	w.setPhase("after the restart") // from here on the new lookout may be up
	p = lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	// Keep writing into B, then stop before it ends so B is the last window.
	for time.Now().Unix() < winB+9 {
		time.Sleep(50 * time.Millisecond)
	}
	stopWriter()

	lookouttest.WaitFor(t, 20*time.Second, "window B to close", func() bool { return len(windows(p)[winB]) > 0 })
	got := windows(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, phase := range []string{"before the kill", "while down"} {
		if w.by[phase][winB] == 0 {
			t.Fatalf("no lines of window B written %s: the test did not exercise the restart (%v)", phase, w.by)
		}
	}
	for _, win := range []int64{winA, winB} {
		name := time.Unix(win, 0).UTC().Format(time.TimeOnly)
		if len(got[win]) != 1 {
			t.Errorf("window %s emitted %d times %v, want once", name, len(got[win]), got[win])
			continue
		}
		if c, want := got[win][0], float64(w.sent[win]); c != want {
			t.Errorf("window %s counted %v lines, want %v (each line written in it, once; written per phase: %v)",
				name, c, want, w.by)
		}
	}
	if !strings.Contains(p.Output(), "resuming log file at its saved position") {
		t.Errorf("the restart did not resume at the saved position:\n%s", p.Output())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "positions", "app_log.json")); err != nil {
		t.Errorf("no saved position: %v", err)
	}
}
