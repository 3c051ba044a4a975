package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

const authConfig = `
server:
  listen: %s
  auth:
    tokens:
      - {name: reader, token: '${LOOKOUT_TEST_READ}', scopes: [read]}
      - {name: ingest, token: '${LOOKOUT_TEST_WRITE}', scopes: [write]}
      - {name: boss, token: '${LOOKOUT_TEST_ADMIN}', scopes: [admin]}
storage:
  path: %s
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: 1s
    aggregates:
      requests: count()
rules:
  - {name: Busy, pipeline: api, when: 'requests > 1000', notify: [stdout]}
notifiers:
  - {name: stdout, type: log}
`

// TestAuthScopes checks every endpoint × {no token, wrong scope, right scope}.
func TestAuthScopes(t *testing.T) {
	tokens := map[string]string{"read": "r-secret-1", "write": "w-secret-2", "admin": "a-secret-3"}
	t.Setenv("LOOKOUT_TEST_READ", tokens["read"])
	t.Setenv("LOOKOUT_TEST_WRITE", tokens["write"])
	t.Setenv("LOOKOUT_TEST_ADMIN", tokens["admin"])
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "auth.yaml", fmt.Sprintf(authConfig, addr, dir+"/data"))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)

	type endpoint struct {
		method, path, body, scope string
	}
	endpoints := []endpoint{
		{"POST", "/api/v1/events?source=push", `{"service":"a"}`, "write"},
		{"GET", "/api/v1/windows?pipeline=api", "", "read"},
		{"GET", "/api/v1/alerts", "", "read"},
		{"GET", "/api/v1/alerts/history", "", "read"},
		{"GET", "/api/v1/raw?source=push", "", "read"},
		{"GET", "/api/v1/sources", "", "read"},
		{"POST", "/api/v1/query", `{"sql":"SELECT 1"}`, "read"},
		{"GET", "/api/v1/thresholds", "", "read"},
		{"PUT", "/api/v1/thresholds/error_rate", `{"value":0.1}`, "admin"},
		{"POST", "/api/v1/reload", "", "admin"},
		{"GET", "/api/v1/silences", "", "admin"},
		{"POST", "/api/v1/silences", `{"matchers":[{"name":"service","value":"x"}],"until":"2099-01-01T00:00:00Z","comment":"test"}`, "admin"},
		{"DELETE", "/api/v1/silences/nope", "", "admin"},
		{"POST", "/api/v1/alerts/nope/ack", `{"ttl":"1h","comment":"test"}`, "admin"},
		{"GET", "/api/v1/stream", "", "read"},
		{"GET", "/metrics", "", "read"},
	}
	wrong := map[string]string{"read": "write", "write": "read", "admin": "write"}
	do := func(e endpoint, token string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, e.method, p.URL(e.path), bytes.NewReader([]byte(e.body)))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if e.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", e.method, e.path, err)
		}
		resp.Body.Close() // the stream is cut here: only the status matters
		return resp.StatusCode
	}
	for _, e := range endpoints {
		t.Run(e.method+" "+e.path, func(t *testing.T) {
			if got := do(e, ""); got != http.StatusUnauthorized {
				t.Errorf("no token: %d, want 401", got)
			}
			if got := do(e, "not-a-token"); got != http.StatusUnauthorized {
				t.Errorf("unknown token: %d, want 401", got)
			}
			if got := do(e, tokens[wrong[e.scope]]); got != http.StatusForbidden {
				t.Errorf("%s token: %d, want 403", wrong[e.scope], got)
			}
			if got := do(e, tokens[e.scope]); got == http.StatusUnauthorized || got == http.StatusForbidden {
				t.Errorf("%s token: %d, want it allowed", e.scope, got)
			}
			if e.scope != "admin" {
				if got := do(e, tokens["admin"]); got == http.StatusUnauthorized || got == http.StatusForbidden {
					t.Errorf("admin token: %d, want admin to imply %s", got, e.scope)
				}
			}
		})
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := do(endpoint{"GET", path, "", ""}, ""); got != 200 {
			t.Errorf("%s without token: %d, want 200", path, got)
		}
	}
	// The live feed takes the token as a query parameter for EventSource.
	if got := do(endpoint{"GET", "/api/v1/stream?access_token=" + tokens["read"], "", ""}, ""); got != 200 {
		t.Errorf("stream with ?access_token: %d, want 200", got)
	}

	// /metrics follows the Prometheus conventions (promtool's lint rules).
	req, _ := http.NewRequest("GET", p.URL("/metrics"), nil)
	req.Header.Set("Authorization", "Bearer "+tokens["read"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	problems, err := promlint.New(resp.Body).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		if strings.HasPrefix(pr.Metric, "lookout_") {
			t.Errorf("/metrics lint: %s: %s", pr.Metric, pr.Text)
		}
	}
}

// TestRefusesOpenNonLoopback: without tokens, a non-loopback listen address
// is refused unless -insecure-listen is given.
func TestRefusesOpenNonLoopback(t *testing.T) {
	port := strings.Split(lookouttest.FreeAddr(t), ":")[1]
	cmd := exec.Command(binary, "run", "-data", t.TempDir(), "-listen", "0.0.0.0:"+port)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "-insecure-listen") {
		t.Fatalf("run on 0.0.0.0 without tokens: %v\n%s\nwant exit 1 naming -insecure-listen", err, out)
	}
}
