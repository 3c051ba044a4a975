package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

const baselineConfig = `
server:
  listen: %s
storage:
  path: %s
  flush_interval: 100ms
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: 1s
    lateness: 200ms
    baseline: 3
    min_baseline: 3
    aggregates:
      latency: avg(latency)
      z: zscore(latency)
`

// TestBaselinesSurviveRestart: zscore needs min_baseline earlier windows of
// the group; after a restart the first window is judged against the
// windows before it, not left without a value as on a first start.
func TestBaselinesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(baselineConfig, addr, dir+"/data"))
	rng := rand.New(rand.NewPCG(5, 5))
	push := func(p *lookouttest.Proc, d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			line := fmt.Sprintf("{\"ts\":%d,\"service\":\"api\",\"latency\":%.3f}\n", time.Now().UnixMilli(), 0.1+rng.Float64()/10)
			if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte(line)); code != 200 {
				t.Fatalf("push: %d %s", code, out)
			}
		}
	}
	windows := func(p *lookouttest.Proc) []windowJSON {
		var res struct {
			Data []windowJSON `json:"data"`
		}
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=api&limit=100"), &res)
		return res.Data
	}

	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	push(p, 5*time.Second)
	lookouttest.WaitFor(t, 10*time.Second, "a window judged against its baseline", func() bool {
		for _, w := range windows(p) {
			if w.Values["z"] != nil {
				return true
			}
		}
		return false
	})
	p.Stop() // SIGTERM: the histories are saved on the way out
	restart := time.Now().Truncate(time.Second)

	p = lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	if !strings.Contains(p.Output(), "restored baseline histories") {
		t.Errorf("the restart did not restore the baselines:\n%s", p.Output())
	}
	push(p, 2500*time.Millisecond)
	// Each window after the restart has a z: without the three earlier
	// windows restored, the first three would have none.
	var after []windowJSON
	lookouttest.WaitFor(t, 10*time.Second, "two windows after the restart", func() bool {
		after = after[:0]
		for _, w := range windows(p) {
			if s, _ := time.Parse(time.RFC3339Nano, w.Start); !s.Before(restart) {
				after = append(after, w)
			}
		}
		return len(after) >= 2
	})
	for _, w := range after {
		if w.Values["z"] == nil {
			t.Errorf("window %s after the restart has no zscore: its baseline was lost", w.Start)
		}
	}
}
