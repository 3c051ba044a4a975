package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"

	"github.com/lookout-dev/lookout/internal/testserver"
)

// decisionClaimed is what an instance records when another sent the
// notification (rule.DecisionSuppressedClaimed).
const decisionClaimed = "suppressed: sent by another instance"

// TestTwoInstancesNotifyOnce: two lookouts with the same config, fed the same
// events through the push API and sharing alert state in one redis-server,
// send one firing and one resolved message between them; each records the
// other's send in its history.
func TestTwoInstancesNotifyOnce(t *testing.T) {
	rds := testserver.Redis(t)
	recv := newReceiver(t)
	cfg := filepath.Join(t.TempDir(), "lookout.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `storage: {flush_interval: 100ms}
state:
  backend: redis
  redis: {addr: %s}
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: 1s
    lateness: 200ms
    max_future: 2h # the events are stamped an hour ahead: only event time closes their windows
    aggregates: {requests: count(), errors: count(status >= 500)}
rules:
  - name: Errors
    pipeline: api
    when: errors >= 5
    for: 2
    repeat: 1h
    summary: '{{ .service }} has {{ .errors }} errors'
    notify: [ops]
notifiers:
  - {name: ops, type: webhook, url: %s}
`, rds.Addr, recv.url()), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := start(t, "a", cfg), start(t, "b", cfg)

	// Event times an hour ahead of the clock: only event time closes the
	// windows, so both instances judge exactly the same windows however
	// slow the machine. Windows 0-2 fail, 3-5 recover; window 7's event
	// closes them all.
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	statuses := []int{500, 500, 500, 200, 200, 200, 200, 200}
	for w, status := range statuses {
		var lines []string
		for i := range 10 {
			ts := base.Add(time.Duration(w)*time.Second + time.Duration(i)*50*time.Millisecond)
			lines = append(lines, fmt.Sprintf(`{"service":"checkout","status":%d,"ts":"%s"}`, status, ts.Format(time.RFC3339Nano)))
		}
		for _, p := range []*proc{a, b} {
			if code, _, err := p.push(lines); err != nil || code != 200 {
				t.Fatalf("push to %s: %d %v", p.name, code, err)
			}
		}
	}

	decided := func(p *proc, state string) []string {
		var ds []string
		for _, tr := range p.history() {
			// The engine's decisions; the dispatcher adds its own
			// ("sent to ops") when it delivers.
			if tr.State == state && (tr.Decision == "queued" || tr.Decision == decisionClaimed) {
				ds = append(ds, tr.Decision)
			}
		}
		slices.Sort(ds)
		return ds
	}
	lookouttest.WaitFor(t, 60*time.Second, "both instances to decide the resolution and the receiver to get it", func() bool {
		return len(decided(a, "resolved")) > 0 && len(decided(b, "resolved")) > 0 && recv.total("Errors", "resolved") > 0
	})
	for _, state := range []string{"firing", "resolved"} {
		ds := append(decided(a, state), decided(b, state)...)
		slices.Sort(ds)
		if want := []string{"queued", decisionClaimed}; !slices.Equal(ds, want) {
			t.Errorf("%s decisions of the two instances: %q; want %q", state, ds, want)
		}
	}
	counts := recv.counts("Errors")
	if len(counts) != 1 {
		t.Fatalf("receiver got alerts %v; want one alert", counts)
	}
	for fp, c := range counts {
		if c["firing"] != 1 || c["resolved"] != 1 {
			t.Errorf("alert %s: %d firing and %d resolved messages; want exactly one of each", fp, c["firing"], c["resolved"])
		}
	}
}
