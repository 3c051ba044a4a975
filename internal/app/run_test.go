package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ourGoroutines returns the stacks of the goroutines running or started by
// lookout's code, by goroutine id; the test's own are left out.
func ourGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	id := regexp.MustCompile(`^goroutine (\d+) `)
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		m := id.FindStringSubmatch(g)
		if m == nil || !strings.Contains(g, "github.com/lookout-dev/lookout/") || strings.Contains(g, "testing.tRunner") {
			continue
		}
		out[m[1]] = g
	}
	return out
}

// Every goroutine lookout starts — sources, the bus, the dispatcher, SQL
// rules, pruning, the dead-man's switch, GC tuning, the HTTP server — has
// stopped when Run returns: nothing of lookout runs on after it, writing to
// a closed store or resetting the GC.
func TestRunJoinsEveryGoroutine(t *testing.T) {
	before := ourGoroutines()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "lookout.yaml")
	if err := os.WriteFile(cfgPath, []byte(`
sources: [{name: push, type: push}]
pipelines:
  - {name: api, from: [push], group_by: [service], window: 10s, aggregates: {n: count()}}
rules:
  - {name: Busy, pipeline: api, when: n > 100, notify: [log]}
  - name: Recent
    sql: SELECT 1 AS x WHERE false
    every: 1s
    notify: [log]
notifiers: [{name: log, type: log}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", Stderr: &stderr})
	}()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(stderr.String(), "lookout started"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("lookout did not start:\n%s", stderr.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for id, g := range ourGoroutines() {
		if _, ok := before[id]; !ok {
			t.Errorf("still running after Run returned:\n%s", g)
		}
	}
}
