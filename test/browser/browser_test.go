// Package browser drives lookout's dashboard in Debian's headless Chromium:
// the built binary runs with a temp config, and the JavaScript tests in this
// directory (node --test, playwright-core) use the page as a person would.
// `make test` runs them; `go test -short` skips them.
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

const (
	chromium    = "/usr/bin/chromium"
	installHint = "bash scripts/deps/browser.sh (apt-get update && apt-get install -y chromium; cd test/browser && npm ci)"
	token       = "browser-test-token"
)

// config is the lookout the tests drive: a push source, the api pipeline in
// 1 s windows by service, a rule the alert test makes fire, and a webhook.
const config = `
server:
  listen: %s
%s
storage:
  path: %s
sources:
  - name: push
    type: push
pipelines:
  - name: api
    from: [push]
    where: 'service != ""'
    group_by: [service]
    window: 1s
    lateness: 200ms
    aggregates:
      requests:    count()
      errors:      count(status >= 500)
      error_rate:  ratio(status >= 500)
      latency_avg: avg(latency_ms)
rules:
  - name: HighErrorRate
    pipeline: api
    when: error_rate > 0.5 && requests >= 3
    for: 2
    repeat: 1h
    severity: critical
    summary: '{{ .service }} error rate {{ .error_rate }}'
    notify: [hook]
    no_data: keep   # the pages are driven in steps with pauses between the pushes
notifiers:
  - {name: hook, type: webhook, url: '%s'}
`

const authConfig = `  auth:
    tokens:
      - {name: browser, token: ` + token + `, scopes: [read, write]}`

// hook records the Alertmanager payloads lookout sends.
type hook struct {
	mu     sync.Mutex
	alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	}
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Alerts []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.alerts = append(h.alerts, p.Alerts...)
	h.mu.Unlock()
}

func (h *hook) firing(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.alerts {
		if a.Status == "firing" && strings.HasPrefix(a.Labels["service"], prefix) {
			n++
		}
	}
	return n
}

func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests build lookout and start Chromium; skipped under -short")
	}
	node := requirements(t)

	dir := t.TempDir()
	bin, err := lookouttest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}

	h := &hook{}
	receiver := httptest.NewServer(h)
	defer receiver.Close()
	open := start(t, bin, filepath.Join(dir, "open"), "", receiver.URL)
	authed := start(t, bin, filepath.Join(dir, "authed"), authConfig, receiver.URL)

	// Screenshots go to a temporary folder unless LOOKOUT_UPDATE_SCREENSHOTS
	// is set: a test run should not rewrite the committed docs/screenshots
	// (the PNGs differ in every run by the live data on them).
	shots := filepath.Join(dir, "screenshots")
	if os.Getenv("LOOKOUT_UPDATE_SCREENSHOTS") != "" {
		if shots, err = filepath.Abs("../../docs/screenshots"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.test.mjs")
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.test.mjs files: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append([]string{"--test", "--test-concurrency=1", "--test-reporter=spec"}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(),
		"LOOKOUT_URL=http://"+open.Addr,
		"LOOKOUT_AUTH_URL=http://"+authed.Addr,
		"LOOKOUT_AUTH_PID="+strconv.Itoa(authed.Cmd.Process.Pid),
		"LOOKOUT_TOKEN="+token,
		"LOOKOUT_SCREENSHOTS="+shots,
		"CHROMIUM="+chromium,
		"NO_COLOR=1",
	)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("node --test %s:\n%s", strings.Join(files, " "), out)
	if err != nil {
		t.Fatalf("browser tests failed: %v (output above)", err)
	}

	// The alert the page showed went out to the webhook too.
	if n := h.firing("alert-"); n == 0 {
		t.Errorf("the webhook received no firing alert for the alert test's service")
	}
	// The auth test stopped its lookout to see the banner: it must have shut down cleanly.
	select {
	case <-authed.Done():
		if code := authed.Cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("the stopped lookout exited with %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the auth test's lookout is still running: the banner test did not stop it")
	}
}

// requirements fails with the install command when node, Chromium or the npm
// packages are missing, and returns node's path.
func requirements(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed; install it with: apt-get install -y nodejs npm")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing; install it with: %s", chromium, installHint)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	var inst struct {
		Version string `json:"version"`
	}
	if b, err := os.ReadFile("package.json"); err != nil || json.Unmarshal(b, &pkg) != nil {
		t.Fatalf("reading test/browser/package.json: %v", err)
	}
	b, err := os.ReadFile("node_modules/playwright-core/package.json")
	if err != nil || json.Unmarshal(b, &inst) != nil {
		t.Fatalf("test/browser/node_modules is not installed; install it with: %s", installHint)
	}
	if want := pkg.DevDependencies["playwright-core"]; inst.Version != want {
		t.Fatalf("test/browser/node_modules has playwright-core %s, package.json pins %s; update with: %s", inst.Version, want, installHint)
	}
	return node
}

// start runs lookout with the config on a free loopback port and waits for /readyz.
func start(t *testing.T, bin, dir, auth, hookURL string) *lookouttest.Proc {
	t.Helper()
	addr := lookouttest.FreeAddr(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "lookout.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, config, addr, auth, filepath.Join(dir, "data"), hookURL), 0o644); err != nil {
		t.Fatal(err)
	}
	return lookouttest.Start(t, bin, addr, "run", "-config", cfg)
}
