package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

const restartConfig = `
server:
  listen: %s
storage:
  path: %s
  flush_interval: %s
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: 10s
    lateness: 1s
    aggregates:
      requests: count()
`

// TestKillDuringWindowLosesNothing: kill -9 in the middle of a 10 s window,
// start again on the same data dir, keep sending: the window counts every
// event sent in it exactly once — the open window is refilled from the store.
func TestKillDuringWindowLosesNothing(t *testing.T) {
	killMidWindow(t, "200ms", "", 600*time.Millisecond) // past the store's flush interval
}

// TestWaitStoredSurvivesKill: with ?wait=stored a 200 means the events are
// in the store, so a kill -9 right after the last answer loses none of them,
// however long the store's flush interval (without wait=stored the last 1 s
// of events would be lost from the window here).
func TestWaitStoredSurvivesKill(t *testing.T) {
	killMidWindow(t, "1s", "&wait=stored", 0)
}

func killMidWindow(t *testing.T, flush, query string, settle time.Duration) {
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(restartConfig, addr, dir+"/data", flush))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)

	// Start right after a window boundary so the whole test fits in one window.
	for time.Now().UnixMilli()%10_000 > 300 {
		time.Sleep(20 * time.Millisecond)
	}
	sent := map[int64]int{} // window start (unix s) → events
	push := func(p *lookouttest.Proc, n int) {
		now := time.Now()
		var b strings.Builder
		for range n {
			fmt.Fprintf(&b, "{\"ts\":%d,\"service\":\"api\"}\n", now.UnixMilli())
		}
		if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"+query), "application/x-ndjson", []byte(b.String())); code != 200 {
			t.Fatalf("push: %d %s", code, out)
		}
		sent[now.Unix()-now.Unix()%10] += n
	}
	for range 10 {
		push(p, 7)
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(settle)
	p.Kill()
	p = lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	for range 10 {
		push(p, 5)
		time.Sleep(100 * time.Millisecond)
	}
	var res struct {
		Data []windowJSON `json:"data"`
	}
	lookouttest.WaitFor(t, 15*time.Second, "the window to close", func() bool {
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=api"), &res)
		return len(res.Data) > 0
	})
	for _, w := range res.Data {
		start, _ := time.Parse(time.RFC3339Nano, w.Start)
		if got, want := *w.Values["requests"], float64(sent[start.Unix()]); got != want {
			t.Errorf("window %s counted %v events, want %v (every event sent in it, once)", w.Start, got, want)
		}
	}
	if !strings.Contains(p.Output(), "refilled open windows from the store") {
		t.Errorf("the restart did not say it refilled the open window:\n%s", p.Output())
	}
}
