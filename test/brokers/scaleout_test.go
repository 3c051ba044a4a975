package brokers

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestScaleOutRebalanceEmitsEachWindowOnce: two lookouts in one consumer
// group over a six-partition topic whose producer keys each message by its
// group_by value (service). A steady real-time stream runs; the second
// lookout joins while windows are open, so the group moves partitions —
// and their open windows — from the first to the second. Between them the
// two stores must then hold every (group, window) exactly once, with the
// count the producer sent: the first lookout forgets the moved groups' open
// windows instead of emitting them partial, and the second re-reads their
// events from the last committed offset.
func TestScaleOutRebalanceEmitsEachWindowOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: two lookout processes and an in-process Kafka cluster")
	}
	const (
		partitions = 6
		services   = 12
		// The second lookout starts once the first has committed, i.e.
		// after its first window closed; the windows it then takes over
		// close a window size later, so the handover (process start,
		// group join, re-reading) must fit in one window: 4 s leaves room
		// on a loaded machine, 2 s did not.
		window = 4 * time.Second
	)
	c, cl := kafkaCluster(t, partitions) // keyed by service: one service, one partition

	config := func(name string) (cfg, addr string) {
		dir := filepath.Join(t.TempDir(), name)
		addr = freeAddr(t)
		cfg = filepath.Join(dir, "lookout.yaml")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Event times are the wall clock's (a live stream). lateness
		// covers the handover as docs/operations.md asks: the moved
		// partitions' events of the window still open reach the new
		// owner only after the rebalance, and must not be late there.
		if err := os.WriteFile(cfg, fmt.Appendf(nil, `server: {listen: %s}
storage: {path: %s, flush_interval: 100ms}
sources:
  - {name: src, type: kafka, brokers: [%s], topics: [orders], group: lookout, session_timeout: 2s}
pipelines:
  - name: p
    from: [src]
    group_by: [service]
    window: %s
    lateness: 3s
    aggregates: {n: count()}
`, addr, filepath.Join(dir, "data"), strings.Join(c.ListenAddrs(), ", "), window), 0o644); err != nil {
			t.Fatal(err)
		}
		return cfg, addr
	}

	// The producer: every 50ms one event per service, counted by the
	// window its time falls into.
	type key struct {
		service string
		start   int64 // Unix ms
	}
	var mu sync.Mutex
	sent := map[key]int{}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			now := time.Now()
			var rs []*kgo.Record
			for s := range services {
				svc := fmt.Sprintf("svc%02d", s)
				rs = append(rs, &kgo.Record{Key: []byte(svc),
					Value: fmt.Appendf(nil, `{"service":%q,"ts":%d}`, svc, now.UnixMilli())})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.ProduceSync(ctx, rs...).FirstErr()
			cancel()
			if err != nil {
				t.Errorf("producing: %v", err)
				return
			}
			start := now.UnixMilli() - now.UnixMilli()%window.Milliseconds()
			mu.Lock()
			for s := range services {
				sent[key{fmt.Sprintf("svc%02d", s), start}]++
			}
			mu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-stopped
	}()

	cfgA, addrA := config("a")
	a := start(t, addrA, cfgA)
	waitFor(t, 30*time.Second, "the first lookout's first closed windows", func() bool { return len(windowsOf(t, a)) > 0 })
	// Wait for commits, so the move starts from a committed offset rather
	// than the start of the topic.
	waitFor(t, 30*time.Second, "committed offsets", func() bool {
		gi := c.GroupInfo("lookout")
		return gi != nil && len(gi.Commits["orders"]) > 0
	})

	cfgB, addrB := config("b")
	b := start(t, addrB, cfgB)
	waitFor(t, 30*time.Second, "both lookouts assigned partitions", func() bool {
		gi := c.GroupInfo("lookout")
		if gi == nil || len(gi.Members) != 2 {
			return false
		}
		for _, m := range gi.Members {
			if m.NumAssigned() == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * window) // the stream goes on across a few windows after the move
	close(stop)
	<-stopped
	if t.Failed() {
		return
	}

	// By wall clock every window closes at its end plus lateness; then
	// neither lookout holds an open window and both stores are flushed.
	mu.Lock()
	want := sent
	mu.Unlock()
	waitFor(t, 60*time.Second, "every window closed and stored", func() bool {
		for _, p := range []*proc{a, b} {
			if metric(t, p, `lookout_pipeline_open_windows{pipeline="p"}`) != 0 ||
				metric(t, p, "lookout_store_backlog_rows") != 0 {
				return false
			}
		}
		return true
	})

	got := map[key][]float64{}
	for _, p := range []*proc{a, b} {
		for _, w := range windowsOf(t, p) {
			k := key{w.Group["service"], w.Start.UnixMilli()}
			got[k] = append(got[k], w.Values["n"])
		}
	}
	for k, n := range want {
		switch vs := got[k]; {
		case len(vs) == 0:
			t.Errorf("%s window %s: missing", k.service, time.UnixMilli(k.start).Format(time.TimeOnly))
		case len(vs) > 1:
			t.Errorf("%s window %s: emitted %d times with counts %v, want once with %d",
				k.service, time.UnixMilli(k.start).Format(time.TimeOnly), len(vs), vs, n)
		case vs[0] != float64(n):
			t.Errorf("%s window %s: count %v, want %d", k.service, time.UnixMilli(k.start).Format(time.TimeOnly), vs[0], n)
		}
	}
	for k, vs := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s window %s: emitted %v but nothing was sent in it", k.service, time.UnixMilli(k.start).Format(time.TimeOnly), vs)
		}
	}
	forgotten := metric(t, a, `lookout_rebalance_groups_forgotten_total{source="src"}`)
	if forgotten <= 0 {
		t.Errorf("the first lookout forgot %v groups at the rebalance: no open window moved", forgotten)
	}
	t.Logf("%d windows of %d services; the first lookout forgot the open windows of %v groups; late at the second: %v",
		len(want), services, forgotten, metric(t, b, `lookout_pipeline_late_events_total{pipeline="p"}`))
}

type storedWindow struct {
	Start  time.Time          `json:"start"`
	Group  map[string]string  `json:"group"`
	Values map[string]float64 `json:"values"`
}

// windowsOf returns the closed windows of pipeline p that lookout stored.
func windowsOf(t *testing.T, p *proc) []storedWindow {
	var resp struct {
		Data []storedWindow `json:"data"`
	}
	if err := p.getJSON("/api/v1/windows?pipeline=p&limit=100000", &resp); err != nil {
		t.Logf("reading windows: %v", err)
		return nil
	}
	return resp.Data
}

// metric returns the value of one series in lookout's /metrics, -1 when it
// is absent or unreadable.
func metric(t *testing.T, p *proc, series string) float64 {
	r, err := http.Get(p.URL("/metrics"))
	if err != nil {
		t.Logf("reading metrics: %v", err)
		return -1
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return f
		}
	}
	return -1
}
