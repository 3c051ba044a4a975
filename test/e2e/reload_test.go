package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

const reloadConfigBase = `
server:
  listen: %s
storage:
  path: %s
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: 1s
    lateness: 200ms
    aggregates:
      requests:   count()
      error_rate: ratio(status >= 500)
  - name: slow
    from: [push]
    window: 10s
    lateness: 500ms
    aggregates:
      requests: count()
rules:
  - name: HighErrorRate
    pipeline: api
    when: error_rate > %s
    for: 1
    repeat: 1h
    notify: [hook]
%s
notifiers:
  - {name: hook, type: webhook, url: '%s'}
`

const extraRule = `  - name: Busy
    pipeline: api
    when: requests >= 2
    for: 1
    repeat: 1h
    notify: [hook]
`

// TestReloadKeepsState: while events stream, a reload changes a threshold
// and adds a rule; windows keep their counts, the firing alert
// stays firing without a new notification, the new rule fires; a broken
// config is then refused and everything keeps running.
func TestReloadKeepsState(t *testing.T) {
	hook := &hookReceiver{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	write := func(threshold, extra string) string {
		return lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(reloadConfigBase, addr, dir+"/data", threshold, extra, hs.URL))
	}
	cfg := write("0.2", "")
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)

	sentPer10s := map[int64]int{} // window start (unix s) → events sent
	push := func() {
		now := time.Now()
		body := fmt.Sprintf("{\"ts\":%d,\"service\":\"bad\",\"status\":503}\n{\"ts\":%d,\"service\":\"bad\",\"status\":200}\n",
			now.UnixMilli(), now.UnixMilli())
		if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte(body)); code != 200 {
			t.Fatalf("push: %d %s", code, out)
		}
		sentPer10s[now.Unix()-now.Unix()%10] += 2
	}
	stream := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
			push()
			time.Sleep(100 * time.Millisecond)
		}
	}
	stream(2 * time.Second)
	lookouttest.WaitFor(t, 5*time.Second, "HighErrorRate firing", func() bool { return hook.countRule("firing", "HighErrorRate") >= 1 })
	if hook.countRule("firing", "Busy") != 0 {
		t.Fatal("Busy fired before it existed")
	}

	// Change the threshold (still exceeded: 0.5 > 0.3) and add a rule.
	write("0.3", extraRule)
	code, out := lookouttest.Post(t, p.URL("/api/v1/reload"), "application/json", nil)
	if code != 200 {
		t.Fatalf("reload: %d %s", code, out)
	}
	if !strings.Contains(string(out), "rules changed") {
		t.Errorf("reload answer %s does not say the rules changed", out)
	}
	stream(2 * time.Second)
	lookouttest.WaitFor(t, 5*time.Second, "the new rule firing", func() bool { return hook.countRule("firing", "Busy") >= 1 })
	if n := hook.countRule("firing", "HighErrorRate"); n != 1 {
		t.Errorf("HighErrorRate notified %d times across the reload, want exactly 1", n)
	}
	var alerts struct {
		Data []struct {
			Rule, State string
		} `json:"data"`
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/alerts"), &alerts)
	firing := map[string]bool{}
	for _, a := range alerts.Data {
		firing[a.Rule] = a.State == "firing"
	}
	if !firing["HighErrorRate"] || !firing["Busy"] {
		t.Errorf("active alerts after reload = %+v, want HighErrorRate and Busy firing", alerts.Data)
	}

	// A broken config is refused with its line; the old one keeps running.
	os.WriteFile(cfg, []byte(strings.Replace(string(mustRead(t, cfg)), "window: 1s", "window: 1x", 1)), 0o644)
	code, out = lookouttest.Post(t, p.URL("/api/v1/reload"), "application/json", nil)
	if code != 400 || !strings.Contains(string(out), cfg+":") || !strings.Contains(string(out), "not a duration") {
		t.Fatalf("broken reload: %d %s, want 400 with FILE:LINE", code, out)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	lookouttest.WaitFor(t, 5*time.Second, "the SIGHUP refusal in the log", func() bool { return strings.Contains(p.Output(), "reload refused") })
	stream(1500 * time.Millisecond)

	// The unchanged 10 s pipeline kept its windows across both reloads: every
	// closed window counts exactly the events sent in it.
	time.Sleep(11 * time.Second) // the last 10 s window closes by wall clock
	var res struct {
		Data []windowJSON `json:"data"`
	}
	lookouttest.WaitFor(t, 5*time.Second, "slow windows", func() bool {
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=slow"), &res)
		return len(res.Data) > 0
	})
	for _, w := range res.Data {
		start, _ := time.Parse(time.RFC3339Nano, w.Start)
		if got, want := *w.Values["requests"], float64(sentPer10s[start.Unix()]); got != want {
			t.Errorf("slow window %s counted %v events, want %v (all sent in it)", w.Start, got, want)
		}
	}
	metrics := getText(t, p.URL("/metrics"))
	if !strings.Contains(metrics, "lookout_config_last_reload_successful 0") {
		t.Errorf("/metrics does not report the failed reload")
	}
}

func (h *hookReceiver) countRule(status, rule string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.payloads {
		for _, a := range p.Alerts {
			if a.Status == status && a.Labels["alertname"] == rule {
				n++
			}
		}
	}
	return n
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func getText(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// TestReloadRefusesANewListen: server.listen changed in the file needs a
// restart, like the other server keys; the reload says so instead of
// answering that nothing changed.
func TestReloadRefusesANewListen(t *testing.T) {
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	conf := `
server: {listen: %s}
storage: {path: %s}
sources: [{name: push, type: push}]
`
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(conf, addr, dir+"/data"))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(conf, lookouttest.FreeAddr(t), dir+"/data"))
	code, out := lookouttest.Post(t, p.URL("/api/v1/reload"), "application/json", nil)
	if code != 400 || !strings.Contains(string(out), "server settings changed") {
		t.Errorf("reload with a new server.listen: %d %s, want 400 saying server settings need a restart", code, out)
	}
	lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(conf, addr, dir+"/data2"))
	code, out = lookouttest.Post(t, p.URL("/api/v1/reload"), "application/json", nil)
	if code != 400 || !strings.Contains(string(out), "storage settings changed") {
		t.Errorf("reload with a new storage.path: %d %s, want 400 saying storage settings need a restart", code, out)
	}
}
