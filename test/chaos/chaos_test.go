package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lookout-dev/lookout/internal/testserver"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// The chaos stream: services keyed to partitions, perWindow events per service
// in each one-second window, on a timeline an hour ahead of the wall clock so
// only event time closes windows and a slow machine changes nothing.
//
// One partition per instance: an instance that replays a backlog of several
// partitions reads them one after the other, and the first one's events move
// the pipeline's watermark past the others' (the watermark is per source, not
// per partition), which counts their events late. docs/operations.md says so.
const (
	partitions = 3
	services   = 6
	perWindow  = 20
)

// badWindows are the windows in which a service fails (every event a 500):
// each run fires its service's alert once and resolves it once.
var badWindows = map[string][2]int{"svc1": {5, 8}, "svc4": {21, 24}}

// TestChaos runs three lookouts in one Kafka consumer group sharing alert
// state in Redis, kills one with SIGKILL, restarts it, restarts Redis (which
// loses everything), and checks that every window of every service is in
// exactly one instance's results with the count produced for it, and that
// each alert was notified once firing and once resolved.
//
// Membership changes happen while the stream is paused and every instance has
// read everything (see docs/operations.md, "Scaling out with Kafka"): a
// partition that changes owner is then replayed from its committed offset by
// an owner whose watermark is where the old owner's was.
func TestChaos(t *testing.T) {
	rds := testserver.Redis(t)
	recv := newReceiver(t)
	kc := testserver.Kafka(t, "events", partitions)
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)

	cfg := filepath.Join(t.TempDir(), "lookout.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `storage: {flush_interval: 100ms}
state:
  backend: redis
  redis: {addr: %s}
sources:
  - {name: bus, type: kafka, brokers: [%s], topics: [events], group: lookout, session_timeout: 10s}
pipelines:
  - name: svc
    from: [bus]
    group_by: [service]
    window: 1s
    lateness: 300ms
    max_future: 2h # the events are stamped an hour ahead: only event time closes their windows
    aggregates: {n: count(), errors: count(status >= 500)}
rules:
  - name: Failing
    pipeline: svc
    when: errors >= 10
    for: 2
    repeat: 1h
    notify: [ops]
notifiers:
  - {name: ops, type: webhook, url: %s}
`, rds.Addr, strings.Join(kc.ListenAddrs(), ", "), recv.url()), 0o644); err != nil {
		t.Fatal(err)
	}

	base := time.Now().Add(time.Hour).Truncate(time.Second)
	names := make([]string, services)
	for i := range names {
		names[i] = fmt.Sprintf("svc%d", i)
	}
	// produce sends windows [from, to): per tick one event of every service
	// at the same time, keyed by service, so every instance's watermark
	// moves alike.
	produce := func(from, to int) {
		for w := from; w < to; w++ {
			var rs []*kgo.Record
			for j := range perWindow {
				ts := base.Add(time.Duration(w)*time.Second + time.Duration(j)*time.Second/perWindow)
				for i, s := range names {
					status := 200
					if b, ok := badWindows[s]; ok && w >= b[0] && w <= b[1] {
						status = 500
					}
					rs = append(rs, &kgo.Record{Key: []byte(s), Partition: int32(i % partitions),
						Value: fmt.Appendf(nil, `{"service":%q,"status":%d,"ts":%q}`, s, status, ts.Format(time.RFC3339Nano))})
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatalf("producing: %v", err)
			}
			cancel()
			time.Sleep(20 * time.Millisecond) // a stream, not one burst
		}
	}
	settled := func(members int) {
		t.Helper()
		lookouttest.WaitFor(t, 60*time.Second, fmt.Sprintf("the group to settle with %d members", members), func() bool {
			gi := kc.GroupInfo("lookout")
			return gi != nil && gi.State == "Stable" && len(gi.Members) == members && gi.NumAssigned() == partitions
		})
	}
	var procs []*proc
	// closedThrough waits until window last of every service is in some
	// instance's results: everything before has been read and stored.
	closedThrough := func(last int) {
		t.Helper()
		lookouttest.WaitFor(t, 60*time.Second, fmt.Sprintf("window %d of every service", last), func() bool {
			u := union(t, procs, base)
			for _, s := range names {
				if len(u[key{s, last}]) == 0 {
					return false
				}
			}
			return true
		})
	}

	for i := range 3 {
		procs = append(procs, start(t, fmt.Sprintf("lookout%d", i), cfg))
	}
	settled(3)
	produce(0, 12)
	closedThrough(10)

	procs[0].Kill()
	produce(12, 16) // the others go on; lookout0's partitions wait
	procs[0].run()  // same data directory, well within session_timeout
	settled(3)
	produce(16, 20)
	closedThrough(18)
	produce(20, 26)
	closedThrough(24)

	rds.Restart() // empty: no persistence
	produce(26, 32)
	closedThrough(30)
	// One more tick closes window 31.
	produce(32, 33)
	closedThrough(31)

	u := union(t, procs, base)
	for w := range 32 {
		for _, s := range names {
			got := u[key{s, w}]
			if len(got) != 1 || got[0].n != perWindow {
				t.Errorf("%s window %d: %v; want exactly one result with n=%d", s, w, got, perWindow)
			}
		}
	}
	if extra := len(u) - 32*services; extra > 0 {
		t.Errorf("%d results beyond the windows produced", extra)
	}
	lookouttest.WaitFor(t, 30*time.Second, "both alerts resolved at the receiver", func() bool { return recv.total("Failing", "resolved") >= 2 })
	// Only the rule's alerts: the restarted instance replays messages it had
	// already counted (its commit lags its acknowledgements), which it counts
	// as late, and its built-in LookoutLateEvents rule may say so.
	counts := recv.counts("Failing")
	if len(counts) != len(badWindows) {
		t.Errorf("receiver got %d alerts (%v); want %d", len(counts), counts, len(badWindows))
	}
	for fp, c := range counts {
		if c["firing"] != 1 || c["resolved"] != 1 {
			t.Errorf("alert %s: %d firing and %d resolved messages; want one of each", fp, c["firing"], c["resolved"])
		}
	}
}

type key struct {
	service string
	window  int
}

type result struct {
	inst string
	n    float64
}

func (r result) String() string { return fmt.Sprintf("%s:n=%v", r.inst, r.n) }

// union reads every instance's closed windows and returns them by service and
// window number (seconds after base).
func union(t *testing.T, procs []*proc, base time.Time) map[key][]result {
	out := map[key][]result{}
	for _, p := range procs {
		var resp struct {
			Data []struct {
				Start  time.Time          `json:"start"`
				Group  map[string]string  `json:"group"`
				Values map[string]float64 `json:"values"`
			} `json:"data"`
		}
		if err := p.GetJSON("/api/v1/windows?pipeline=svc&limit=100000", &resp); err != nil {
			t.Logf("%s windows: %v", p.name, err)
			continue
		}
		for _, w := range resp.Data {
			k := key{w.Group["service"], int(w.Start.Sub(base) / time.Second)}
			out[k] = append(out[k], result{p.name, w.Values["n"]})
		}
	}
	return out
}
