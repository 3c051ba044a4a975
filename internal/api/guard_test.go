package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/push"
	"github.com/lookout-dev/lookout/internal/state"
)

// writeBackend counts the writes that reach it; the other Backend methods
// are not reached by these tests.
type writeBackend struct {
	Backend
	writes atomic.Int32
}

func (b *writeBackend) AddSilence(_ context.Context, s state.Silence) (state.Silence, error) {
	b.writes.Add(1)
	s.ID = "s1"
	return s, nil
}

func (b *writeBackend) Reload(context.Context) ([]string, error) {
	b.writes.Add(1)
	return nil, nil
}

func (b *writeBackend) SetThreshold(context.Context, string, float64) error {
	b.writes.Add(1)
	return nil
}

func (b *writeBackend) Ingest(context.Context, string, []byte, bool) (push.Result, error) {
	b.writes.Add(1)
	return push.Result{Accepted: 1}, nil
}

func (b *writeBackend) Sources() []source.HealthSnapshot { return nil }

const silenceJSON = `{"matchers":[{"name":"alertname","value":".*","op":"=~"}],"until":"2030-01-01T00:00:00Z","comment":"x"}`

// TestCrossOriginWritesRefused: with the default listener (loopback, no
// token), a page of another site cannot change anything through the
// visitor's browser, while curl and the dashboard itself still can.
func TestCrossOriginWritesRefused(t *testing.T) {
	b := &writeBackend{}
	srv := New(Options{Backend: b, Listen: "127.0.0.1:9470"})
	type req struct {
		name, method, path, ctype, body string
		hdr                             map[string]string
		want                            int
	}
	evil := map[string]string{"Origin": "http://evil.example"}
	evilFetch := map[string]string{"Sec-Fetch-Site": "cross-site"}
	sameSite := map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"}
	for _, tc := range []req{
		{"silence as text/plain from another origin", "POST", "/api/v1/silences", "text/plain", silenceJSON, evil, 403},
		{"silence as json from another origin", "POST", "/api/v1/silences", "application/json", silenceJSON, evil, 403},
		{"silence from a cross-site fetch", "POST", "/api/v1/silences", "application/json", silenceJSON, evilFetch, 403},
		{"silence from another port of localhost", "POST", "/api/v1/silences", "application/json", silenceJSON, sameSite, 403},
		{"reload from another origin", "POST", "/api/v1/reload", "", "", evil, 403},
		{"threshold from another origin", "PUT", "/api/v1/thresholds/x", "text/plain", `{"value":1}`, evil, 403},
		{"push from another origin", "POST", "/api/v1/events", "text/plain", `{"a":1}`, evil, 403},
		{"silence as text/plain without Origin", "POST", "/api/v1/silences", "text/plain", silenceJSON, nil, 415},
		{"silence as a form", "POST", "/api/v1/silences", "application/x-www-form-urlencoded", silenceJSON, nil, 415},
		// What must keep working: curl (no Origin), the dashboard (same origin).
		{"silence from curl", "POST", "/api/v1/silences", "application/json", silenceJSON, nil, 200},
		{"silence from the dashboard", "POST", "/api/v1/silences", "application/json; charset=utf-8", silenceJSON,
			map[string]string{"Origin": "http://127.0.0.1:9470", "Sec-Fetch-Site": "same-origin"}, 200},
		{"reload from curl", "POST", "/api/v1/reload", "", "", nil, 200},
		{"push of ndjson from curl", "POST", "/api/v1/events", "application/x-ndjson", "{\"a\":1}\n", nil, 200},
		{"push as text/plain from curl", "POST", "/api/v1/events", "text/plain", "{\"a\":1}\n", nil, 200},
		{"read from another origin", "GET", "/api/v1/sources", "", "", evil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := b.writes.Load()
			r := httptest.NewRequest(tc.method, "http://127.0.0.1:9470"+tc.path, strings.NewReader(tc.body))
			if tc.body == "" {
				r.Body, r.ContentLength = http.NoBody, 0
			}
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, w.Code, w.Body, tc.want)
			}
			if wrote := b.writes.Load() != before; wrote != (tc.want == 200 && tc.method != "GET") {
				t.Errorf("write reached the backend: %v, want %v", wrote, !wrote)
			}
		})
	}
}

// TestHostChecked: a DNS-rebinding page reaches 127.0.0.1 under its own
// name; without a token only IP addresses, localhost, the listen host and
// server.allowed_hosts are served.
func TestHostChecked(t *testing.T) {
	get := func(srv *Server, host string) int {
		r := httptest.NewRequest("GET", "/api/v1/sources", nil)
		r.Host = host
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Code
	}
	open := New(Options{Backend: &writeBackend{}, Listen: "127.0.0.1:9470", AllowedHosts: []string{"lookout.internal"}})
	for host, want := range map[string]int{
		"attacker.example": 403, "attacker.example:9470": 403, "localhost.attacker.example": 403,
		"127.0.0.1:9470": 200, "localhost:9470": 200, "LOCALHOST": 200, "[::1]:9470": 200, "10.0.0.5:9470": 200,
		"lookout.internal:9470": 200, "app.localhost:9470": 200,
	} {
		if got := get(open, host); got != want {
			t.Errorf("without a token, Host %s: %d, want %d", host, got, want)
		}
	}
	named := New(Options{Backend: &writeBackend{}, Listen: "mybox:9470"})
	if got := get(named, "mybox:9470"); got != 200 {
		t.Errorf("the listen host: %d, want 200", got)
	}
	anyHost := New(Options{Backend: &writeBackend{}, AllowedHosts: []string{"*"}})
	if got := get(anyHost, "attacker.example"); got != 200 {
		t.Errorf(`allowed_hosts ["*"]: %d, want 200`, got)
	}
	// With a token a rebinding page has nothing to authenticate with: any
	// Host is served (the token is checked), unless allowed_hosts says.
	tok := []Token{{Name: "t", Secret: "s3cr3t", Scopes: []Scope{ScopeRead}}}
	withToken := New(Options{Backend: &writeBackend{}, Tokens: tok, Listen: "0.0.0.0:9470"})
	if got := get(withToken, "lookout.example.com"); got != 401 {
		t.Errorf("with a token, any host reaches the token check: %d, want 401", got)
	}
	listed := New(Options{Backend: &writeBackend{}, Tokens: tok, Listen: "0.0.0.0:9470", AllowedHosts: []string{"lookout.example.com"}})
	if got := get(listed, "other.example.com"); got != 403 {
		t.Errorf("with a token and allowed_hosts, another host: %d, want 403", got)
	}
}
