package e2e

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// noDataConfig: 1 s windows. ResetDown (no_data: reset) watches service r,
// KeepDown (no_data: keep) service k, and Heartbeat (no_data: alert) the
// services of the hb pipeline, whose condition never holds: only its NoData
// alert can fire.
const noDataConfig = `
server:
  listen: %s
storage:
  path: %s
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    where: 'service != "h"'
    group_by: [service]
    window: 1s
    lateness: 200ms
    aggregates:
      requests:   count()
      error_rate: ratio(status >= 500)
  - name: hb
    from: [push]
    where: 'service == "h"'
    group_by: [service]
    window: 1s
    lateness: 200ms
    aggregates:
      requests: count()
rules:
  - name: ResetDown
    pipeline: api
    when: 'service == "r" && error_rate > 0.5'
    for: 1
    repeat: 1h
    no_data: reset
    no_data_after: 3s
    notify: [hook]
  - name: KeepDown
    pipeline: api
    when: 'service == "k" && error_rate > 0.5'
    for: 1
    repeat: 1h
    no_data: keep
    notify: [hook]
  - name: Heartbeat
    pipeline: hb
    when: requests < 0
    repeat: 1h
    no_data: alert
    no_data_after: 3s
    severity: critical
    notify: [hook]
notifiers:
  - {name: hook, type: webhook, url: '%s/hook'}
`

// TestNoData: three services stop sending; the
// reset rule's firing alert resolves, the keep rule's stays firing, and the
// heartbeat rule fires NoData, which resolves when its service is back.
func TestNoData(t *testing.T) {
	t.Parallel()
	hook := &hookReceiver{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(noDataConfig, addr, dir+"/data", srv.URL))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	ps := newPusher(t, p)
	ps.set("r", true)
	ps.set("k", true)
	ps.set("h", false)
	lookouttest.WaitFor(t, 15*time.Second, "ResetDown and KeepDown firing", func() bool {
		return hook.countAlert("firing", "ResetDown", "r") == 1 && hook.countAlert("firing", "KeepDown", "k") == 1
	})
	if n := hook.countAlert("firing", "HeartbeatNoData", "h"); n != 0 {
		t.Fatalf("HeartbeatNoData fired %d times while h was sending", n)
	}

	ps.close() // every service goes silent
	stopped := time.Now()
	lookouttest.WaitFor(t, 15*time.Second, "ResetDown resolved and HeartbeatNoData firing", func() bool {
		return hook.countAlert("resolved", "ResetDown", "r") == 1 && hook.countAlert("firing", "HeartbeatNoData", "h") == 1
	})
	if waited := time.Since(stopped); waited < 2*time.Second {
		t.Errorf("no data acted on %s after the last event; no_data_after is 3s", waited)
	}
	nd, ok := hook.findAlert("firing", "HeartbeatNoData", "h")
	if !ok || nd.Labels["no_data"] != "true" || nd.Labels["severity"] != "critical" {
		t.Errorf("HeartbeatNoData labels %v; want no_data=true, severity=critical", nd.Labels)
	}
	if !strings.Contains(nd.Annotations["summary"], "no data") {
		t.Errorf("HeartbeatNoData summary %q does not say no data", nd.Annotations["summary"])
	}

	// KeepDown stays firing, unresolved, well past the others' no_data_after.
	time.Sleep(time.Second)
	if a, ok := findAlert(t, p, "KeepDown", "k"); !ok || a.State != "firing" {
		t.Errorf("KeepDown: %+v (found %v), want still firing", a, ok)
	}
	if n := hook.countAlert("resolved", "KeepDown", "k"); n != 0 {
		t.Errorf("KeepDown resolved %d times, want it kept firing", n)
	}
	if hasAlert(t, p, "ResetDown", "r") {
		t.Error("ResetDown is still active after it resolved")
	}
	var why []string
	for _, h := range history(t, p, "rule=ResetDown") {
		if h.State == "resolved" {
			why = append(why, h.Decision)
		}
	}
	if !slices.Contains(why, "resolved: no data for 3s") || !slices.Contains(why, "queued") {
		t.Errorf("ResetDown's resolved decisions %q; want \"resolved: no data for 3s\" and \"queued\"", why)
	}

	// h is back: its NoData alert resolves.
	ps = newPusher(t, p)
	ps.set("h", false)
	lookouttest.WaitFor(t, 15*time.Second, "HeartbeatNoData resolved", func() bool {
		return hook.countAlert("resolved", "HeartbeatNoData", "h") == 1
	})
	if hasAlert(t, p, "HeartbeatNoData", "h") {
		t.Error("HeartbeatNoData is still active after h came back")
	}
}

// countAlert counts the alerts received with this status, alertname and service.
func (h *hookReceiver) countAlert(status, alertname, service string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.payloads {
		for _, a := range p.Alerts {
			if a.Status == status && a.Labels["alertname"] == alertname && a.Labels["service"] == service {
				n++
			}
		}
	}
	return n
}

// findAlert returns the first alert received with this status, alertname and service.
func (h *hookReceiver) findAlert(status, alertname, service string) (amAlert, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.payloads {
		for _, a := range p.Alerts {
			if a.Status == status && a.Labels["alertname"] == alertname && a.Labels["service"] == service {
				return a, true
			}
		}
	}
	return amAlert{}, false
}
