package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the answers the handlers give now")

func nan() float64 { return math.NaN() }

// answer is what a golden file holds: the status, the headers a client acts
// on, and the JSON body as the handler wrote it.
type answer struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body"`
}

// checkGolden compares w's answer with testdata/name.json; -update rewrites it.
func checkGolden(t *testing.T, name string, w *httptest.ResponseRecorder) {
	t.Helper()
	a := answer{Status: w.Code, Body: bytes.TrimSpace(w.Body.Bytes())}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !json.Valid(a.Body) {
		t.Fatalf("body is not JSON: %s", a.Body)
	}
	for _, h := range []string{"Retry-After", "WWW-Authenticate", "Allow"} {
		if v := w.Header().Get(h); v != "" {
			if a.Headers == nil {
				a.Headers = map[string]string{}
			}
			a.Headers[h] = v
		}
	}
	got, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (go test -update writes it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("answer differs from %s (go test ./internal/api -update rewrites it after a deliberate change)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// call is one request of a handler test.
type call struct {
	name   string // golden file under testdata/
	method string
	target string
	body   string
	hdr    map[string]string
	setup  func(f *fakeBackend)
	// check asserts what reached the backend.
	check func(t *testing.T, f *fakeBackend)
}

func (c call) run(t *testing.T, opts Options) {
	t.Run(c.name, func(t *testing.T) {
		f := newFake()
		if c.setup != nil {
			c.setup(f)
		}
		opts := opts
		opts.Backend = f.parts()
		opts.Now = func() time.Time { return t0 }
		srv := New(opts)
		var body *strings.Reader
		body = strings.NewReader(c.body)
		r := httptest.NewRequest(c.method, "http://127.0.0.1:9470"+c.target, body)
		if c.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		checkGolden(t, c.name, w)
		if c.check != nil {
			c.check(t, f)
		}
	})
}

func gz(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.String()
}

func wantPushed(want ...string) func(t *testing.T, f *fakeBackend) {
	return func(t *testing.T, f *fakeBackend) {
		t.Helper()
		if fmt.Sprint(f.pushed) != fmt.Sprint(want) {
			t.Errorf("Ingest calls %q, want %q", f.pushed, want)
		}
	}
}

// TestPushHandler: POST /api/v1/events hands the (decompressed) body to the
// named source and answers with what it accepted; a full pipeline is 429
// with Retry-After, a body nothing of which was accepted 400.
func TestPushHandler(t *testing.T) {
	const nd = "{\"a\":1}\n{\"a\":2}\n"
	for _, c := range []call{
		{name: "push/accepted", method: "POST", target: "/api/v1/events", body: nd, check: wantPushed("push|false|" + nd)},
		{name: "push/named_source_wait_stored", method: "POST", target: "/api/v1/events?source=orders&wait=stored", body: nd, check: wantPushed("orders|true|" + nd)},
		{name: "push/gzip", method: "POST", target: "/api/v1/events", body: gz(nd), hdr: map[string]string{"Content-Encoding": "gzip"}, check: wantPushed("push|false|" + nd)},
		{name: "push/gzip_corrupt", method: "POST", target: "/api/v1/events", body: "not gzip", hdr: map[string]string{"Content-Encoding": "gzip"}, check: wantPushed()},
		{name: "push/unsupported_encoding", method: "POST", target: "/api/v1/events", body: nd, hdr: map[string]string{"Content-Encoding": "br"}, check: wantPushed()},
		{name: "push/bad_wait", method: "POST", target: "/api/v1/events?wait=windows", body: nd, check: wantPushed()},
		{name: "push/some_rejected", method: "POST", target: "/api/v1/events", body: nd, setup: func(f *fakeBackend) {
			f.pushRes = event.PushResult{Accepted: 1, Rejected: 1, Errors: []event.LineError{{Line: 2, Error: "not a JSON object"}}}
		}},
		{name: "push/all_rejected", method: "POST", target: "/api/v1/events", body: "x\n", setup: func(f *fakeBackend) {
			f.pushRes = event.PushResult{Rejected: 1, Errors: []event.LineError{{Line: 1, Error: "invalid JSON"}}}
		}},
		{name: "push/full", method: "POST", target: "/api/v1/events", body: nd, setup: func(f *fakeBackend) {
			f.pushRes, f.pushErr = event.PushResult{}, fmt.Errorf("submitting: %w", event.ErrFull)
		}},
		{name: "push/not_stored", method: "POST", target: "/api/v1/events?wait=stored", body: nd, setup: func(f *fakeBackend) {
			f.pushErr = fmt.Errorf("%w: disk full", event.ErrNotStored)
		}},
		{name: "push/unknown_source", method: "POST", target: "/api/v1/events?source=nope", body: nd, setup: func(f *fakeBackend) {
			f.pushErr = fmt.Errorf("%w %q (push sources: push)", ErrUnknownSource, "nope")
		}},
		{name: "push/stopping", method: "POST", target: "/api/v1/events", body: nd, setup: func(f *fakeBackend) {
			f.pushErr = errors.New("lookout is stopping")
		}},
	} {
		c.run(t, Options{})
	}
	// The default body cap is 16 MiB; a smaller one set by config answers 413.
	call{name: "push/too_large", method: "POST", target: "/api/v1/events", body: strings.Repeat("{\"a\":1}\n", 100), check: wantPushed()}.
		run(t, Options{MaxBodyBytes: 64})
	call{name: "push/too_large_gzip", method: "POST", target: "/api/v1/events", body: gz(strings.Repeat("{\"a\":1}\n", 100)),
		hdr: map[string]string{"Content-Encoding": "gzip"}, check: wantPushed()}.run(t, Options{MaxBodyBytes: 64})
}

// TestWindowsHandler: GET /api/v1/windows turns its parameters into a
// WindowQuery and the windows into CONTRACT.md's JSON (null for NaN,
// exemplars with their trace links).
func TestWindowsHandler(t *testing.T) {
	for _, c := range []call{
		{name: "windows/all", method: "GET", target: "/api/v1/windows?pipeline=api"},
		{name: "windows/filtered", method: "GET", target: "/api/v1/windows?pipeline=api&group.service=checkout&since=5m&limit=2", check: func(t *testing.T, f *fakeBackend) {
			q := f.winQuery
			if q.Pipeline != "api" || q.Group["service"] != "checkout" || !q.Since.Equal(t0.Add(-5*time.Minute)) || q.Limit != 2 {
				t.Errorf("query %+v, want pipeline api, group service=checkout, since 5m before now, limit 2", q)
			}
		}},
		{name: "windows/since_unix", method: "GET", target: "/api/v1/windows?pipeline=api&since=1740830400.5", check: func(t *testing.T, f *fakeBackend) {
			if want := time.Unix(1740830400, 5e8); !f.winQuery.Since.Equal(want) {
				t.Errorf("since %v, want %v", f.winQuery.Since, want)
			}
		}},
		{name: "windows/unknown_pipeline", method: "GET", target: "/api/v1/windows?pipeline=typo"},
		{name: "windows/no_pipeline", method: "GET", target: "/api/v1/windows"},
		{name: "windows/bad_since", method: "GET", target: "/api/v1/windows?pipeline=api&since=yesterday"},
		{name: "windows/bad_limit", method: "GET", target: "/api/v1/windows?pipeline=api&limit=0"},
	} {
		c.run(t, Options{TraceURL: "https://jaeger.example.com/trace/{trace_id}"})
	}
	// Without server.trace_url the exemplars carry no url.
	call{name: "windows/no_trace_url", method: "GET", target: "/api/v1/windows?pipeline=api"}.run(t, Options{})
}

// TestAlertsHandlers: active alerts carry what mutes them; the history is
// narrowed by rule or fingerprint; acks take a ttl (default 24 h).
func TestAlertsHandlers(t *testing.T) {
	for _, c := range []call{
		{name: "alerts/active", method: "GET", target: "/api/v1/alerts"},
		{name: "alerts/history", method: "GET", target: "/api/v1/alerts/history", check: func(t *testing.T, f *fakeBackend) {
			if f.histCall != "all limit=100" {
				t.Errorf("history call %q, want all limit=100", f.histCall)
			}
		}},
		{name: "alerts/history_for_rule", method: "GET", target: "/api/v1/alerts/history?rule=slow&limit=5", check: func(t *testing.T, f *fakeBackend) {
			if f.histCall != "rule=slow fingerprint= limit=5" {
				t.Errorf("history call %q", f.histCall)
			}
		}},
		{name: "alerts/history_bad_limit", method: "GET", target: "/api/v1/alerts/history?limit=x"},
		{name: "alerts/ack", method: "POST", target: "/api/v1/alerts/fp1/ack", body: `{"ttl":"2h","comment":"looking","by":"ana"}`},
		{name: "alerts/ack_default_ttl", method: "POST", target: "/api/v1/alerts/fp1/ack", body: `{}`},
		{name: "alerts/ack_bad_ttl", method: "POST", target: "/api/v1/alerts/fp1/ack", body: `{"ttl":"-1h"}`},
		{name: "alerts/ack_unknown_key", method: "POST", target: "/api/v1/alerts/fp1/ack", body: `{"tll":"1h"}`},
		{name: "alerts/ack_not_firing", method: "POST", target: "/api/v1/alerts/fp2/ack", body: `{}`, setup: func(f *fakeBackend) {
			f.backErr = fmt.Errorf("%w: alert fp2 is pending, not firing", ErrBadRequest)
		}},
		{name: "alerts/unack", method: "DELETE", target: "/api/v1/alerts/fp2/ack", check: func(t *testing.T, f *fakeBackend) {
			if fmt.Sprint(f.acked) != "[-fp2]" {
				t.Errorf("acks %v, want fp2 withdrawn", f.acked)
			}
		}},
		{name: "alerts/unack_unknown", method: "DELETE", target: "/api/v1/alerts/fp7/ack", setup: func(f *fakeBackend) {
			f.backErr = fmt.Errorf("%w: alert %q is not acknowledged", ErrNotFound, "fp7")
		}},
	} {
		c.run(t, Options{})
	}
}

// TestSilenceHandlers: silences are listed with their state now, created
// from Alertmanager's matcher spelling too, and expired by id.
func TestSilenceHandlers(t *testing.T) {
	for _, c := range []call{
		{name: "silences/list", method: "GET", target: "/api/v1/silences"},
		{name: "silences/create", method: "POST", target: "/api/v1/silences",
			body: `{"matchers":[{"name":"service","value":"checkout"},{"name":"env","value":"dev.*","isRegex":true,"isEqual":false}],"duration":"2h","comment":"deploy","created_by":"ana"}`,
			check: func(t *testing.T, f *fakeBackend) {
				if len(f.added) != 1 || fmt.Sprint(f.added[0].Matchers) != `[service="checkout" env!~"dev.*"]` {
					t.Errorf("added %+v", f.added)
				}
			}},
		{name: "silences/create_until", method: "POST", target: "/api/v1/silences", body: `{"matchers":[{"name":"a","value":"b","op":"!="}],"starts":"2025-03-01T13:00:00Z","until":"2025-03-01T14:00:00Z"}`},
		{name: "silences/create_in_past", method: "POST", target: "/api/v1/silences", body: `{"matchers":[{"name":"a","value":"b"}],"until":"2025-03-01T11:00:00Z"}`},
		{name: "silences/create_both_ends", method: "POST", target: "/api/v1/silences", body: `{"matchers":[{"name":"a","value":"b"}],"until":"2025-03-01T14:00:00Z","duration":"1h"}`},
		{name: "silences/create_no_end", method: "POST", target: "/api/v1/silences", body: `{"matchers":[{"name":"a","value":"b"}]}`},
		{name: "silences/create_bad_duration", method: "POST", target: "/api/v1/silences", body: `{"matchers":[{"name":"a","value":"b"}],"duration":"soon"}`},
		{name: "silences/create_bad_starts", method: "POST", target: "/api/v1/silences", body: `{"matchers":[{"name":"a","value":"b"}],"starts":"now","duration":"1h"}`},
		{name: "silences/create_unknown_key", method: "POST", target: "/api/v1/silences", body: `{"matcher":[],"duration":"1h"}`},
		{name: "silences/create_refused", method: "POST", target: "/api/v1/silences", body: `{"matchers":[{"name":"a","value":"(","op":"=~"}],"duration":"1h"}`, setup: func(f *fakeBackend) {
			f.backErr = fmt.Errorf("%w: matcher a =~ \"(\": missing closing )", ErrBadRequest)
		}},
		{name: "silences/expire", method: "DELETE", target: "/api/v1/silences/sil-0", check: func(t *testing.T, f *fakeBackend) {
			if fmt.Sprint(f.expired) != "[sil-0]" {
				t.Errorf("expired %v, want [sil-0]", f.expired)
			}
		}},
		{name: "silences/expire_unknown", method: "DELETE", target: "/api/v1/silences/nope", setup: func(f *fakeBackend) {
			f.backErr = fmt.Errorf("%w: no silence %q", ErrNotFound, "nope")
		}},
	} {
		c.run(t, Options{})
	}
}

// TestReadHandlers: raw messages, source health, query, thresholds, reload
// and the probes.
func TestReadHandlers(t *testing.T) {
	for _, c := range []call{
		{name: "raw/source", method: "GET", target: "/api/v1/raw?source=push&limit=2", check: func(t *testing.T, f *fakeBackend) {
			if f.rawCall != "source=push n=2" {
				t.Errorf("raw call %q", f.rawCall)
			}
		}},
		{name: "raw/source_empty", method: "GET", target: "/api/v1/raw?source=empty"},
		{name: "raw/unknown_source", method: "GET", target: "/api/v1/raw?source=nope"},
		{name: "raw/alert", method: "GET", target: "/api/v1/raw?rule=errors&group.service=cart&since=10m", check: func(t *testing.T, f *fakeBackend) {
			if f.rawCall != "rule=errors group=map[service:cart] since=2025-03-01T11:50:00Z n=20" {
				t.Errorf("raw call %q", f.rawCall)
			}
		}},
		{name: "raw/unknown_rule", method: "GET", target: "/api/v1/raw?rule=nope"},
		{name: "raw/nothing", method: "GET", target: "/api/v1/raw"},
		{name: "raw/bad_limit", method: "GET", target: "/api/v1/raw?source=push&limit=-1"},
		{name: "sources", method: "GET", target: "/api/v1/sources"},
		{name: "query/rows", method: "POST", target: "/api/v1/query", body: `{"sql":"SELECT service, n FROM t"}`},
		{name: "query/error", method: "POST", target: "/api/v1/query", body: `{"sql":"SELECT * FROM nope"}`, setup: func(f *fakeBackend) {
			f.queryErr = errors.New(`Catalog Error: Table with name nope does not exist`)
		}},
		{name: "query/empty", method: "POST", target: "/api/v1/query", body: `{"sql":"  "}`},
		{name: "query/not_json", method: "POST", target: "/api/v1/query", body: `SELECT 1`},
		{name: "thresholds", method: "GET", target: "/api/v1/thresholds"},
		{name: "thresholds/set", method: "PUT", target: "/api/v1/thresholds/p99_max", body: `{"value":0.75}`, check: func(t *testing.T, f *fakeBackend) {
			if f.thr["p99_max"] != 0.75 {
				t.Errorf("thresholds %v, want p99_max 0.75", f.thr)
			}
		}},
		{name: "thresholds/set_no_value", method: "PUT", target: "/api/v1/thresholds/p99_max", body: `{"v":1}`},
		{name: "reload", method: "POST", target: "/api/v1/reload"},
		{name: "reload/unchanged", method: "POST", target: "/api/v1/reload", setup: func(f *fakeBackend) { f.changes = nil }},
		{name: "reload/invalid", method: "POST", target: "/api/v1/reload", setup: func(f *fakeBackend) {
			f.reloadEr = errors.New("lookout.yaml:12: rules[0].pipeline: no pipeline named \"apii\"")
		}},
		{name: "readyz", method: "GET", target: "/readyz"},
		{name: "readyz/not_ready", method: "GET", target: "/readyz", setup: func(f *fakeBackend) { f.notReady = "starting or stopping" }},
		{name: "healthz", method: "GET", target: "/healthz"},
		{name: "unknown_endpoint", method: "GET", target: "/api/v1/nope"},
		{name: "wrong_method", method: "GET", target: "/api/v1/reload"},
	} {
		c.run(t, Options{})
	}
}

// TestAuthHandler: with tokens, a request needs one (401 with
// WWW-Authenticate otherwise) holding the endpoint's scope (403); admin
// holds every scope; the token's name is who creates silences and acks;
// the live feed takes the token as ?access_token= too.
func TestAuthHandler(t *testing.T) {
	opts := Options{Tokens: []Token{
		{Name: "reader", Secret: "r-secret", Scopes: []Scope{ScopeRead}},
		{Name: "shipper", Secret: "w-secret", Scopes: []Scope{ScopeWrite}},
		{Name: "oncall", Secret: "a-secret", Scopes: []Scope{ScopeAdmin}},
	}}
	bearer := func(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }
	for _, c := range []call{
		{name: "auth/missing", method: "GET", target: "/api/v1/sources"},
		{name: "auth/invalid", method: "GET", target: "/api/v1/sources", hdr: bearer("guess")},
		{name: "auth/read", method: "GET", target: "/api/v1/sources", hdr: bearer("r-secret")},
		{name: "auth/read_cannot_push", method: "POST", target: "/api/v1/events", body: "{}\n", hdr: bearer("r-secret"), check: wantPushed()},
		{name: "auth/write_pushes", method: "POST", target: "/api/v1/events", body: "{}\n", hdr: bearer("w-secret"), check: wantPushed("push|false|{}\n")},
		{name: "auth/write_cannot_read", method: "GET", target: "/api/v1/alerts", hdr: bearer("w-secret")},
		{name: "auth/read_cannot_silence", method: "GET", target: "/api/v1/silences", hdr: bearer("r-secret")},
		{name: "auth/admin_reads", method: "GET", target: "/api/v1/thresholds", hdr: bearer("a-secret")},
		{name: "auth/admin_silence_by_token", method: "POST", target: "/api/v1/silences", body: `{"matchers":[{"name":"a","value":"b"}],"duration":"1h","created_by":"someone else"}`, hdr: bearer("a-secret")},
		{name: "auth/admin_ack_by_token", method: "POST", target: "/api/v1/alerts/fp1/ack", body: `{"by":"someone else"}`, hdr: bearer("a-secret")},
		{name: "auth/probes_open", method: "GET", target: "/healthz"},
	} {
		c.run(t, opts)
	}
}

// TestStreamTokenInQuery: an EventSource cannot send headers, so the live
// feed takes ?access_token=; other endpoints do not.
func TestStreamTokenInQuery(t *testing.T) {
	f := newFake()
	feed := NewFeed()
	srv := httptest.NewServer(New(Options{Backend: f.parts(), Feed: feed, Tokens: []Token{{Name: "reader", Secret: "r-secret", Scopes: []Scope{ScopeRead}}}}))
	defer srv.Close()
	defer feed.Close()
	resp, err := http.Get(srv.URL + "/api/v1/sources?access_token=r-secret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sources with ?access_token: %d, want 401", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/api/v1/stream?access_token=r-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream with ?access_token: %d %s, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	buf := make([]byte, len("retry: 2000\nevent: hello\n"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "retry: 2000\nevent: hello\n" {
		t.Fatalf("stream starts %q (%v), want the hello event", buf, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for feed.Clients() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stream's client never subscribed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	feed.Publish("alert", AlertToJSON(f.alerts[0]))
	want := "data: {}\n\nevent: alert\ndata: "
	got := make([]byte, len(want))
	if _, err := io.ReadFull(resp.Body, got); err != nil || string(got) != want {
		t.Errorf("after hello %q (%v), want %q", got, err, want)
	}
}

// TestMissingPartNotServed: a Backend without a part answers 501 on its
// endpoints rather than panicking.
func TestMissingPartNotServed(t *testing.T) {
	srv := New(Options{Backend: Backend{Sources: newFake()}})
	for _, target := range []string{"/api/v1/alerts", "/api/v1/windows?pipeline=api", "/api/v1/silences"} {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1:9470"+target, nil))
		if w.Code != http.StatusNotImplemented {
			t.Errorf("GET %s without its part: %d, want 501", target, w.Code)
		}
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1:9470/readyz", nil))
	if w.Code != http.StatusOK {
		t.Errorf("readyz without a ReadyChecker: %d, want 200", w.Code)
	}
}
