package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/lookout-dev/lookout/internal/config"
)

// runApp starts lookout in-process on cfg (real store, state and outbox in a
// temp dir) and stops it when the test ends.
func runApp(t testing.TB, yaml string) *App {
	t.Helper()
	cfg, err := config.Parse("lookout.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.Path = t.TempDir()
	if err := Check(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, slog.New(slog.DiscardHandler), nil, Build{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return a
}

// TestSelfMetrics pushes events that fire a rule delivered by a webhook, and
// checks the per-rule and per-notifier series users see at /metrics, and
// that the whole exposition passes the Prometheus linter.
func TestSelfMetrics(t *testing.T) {
	var hits atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
	}))
	defer hook.Close()
	a := runApp(t, `
sources: [{name: push, type: push}]
pipelines:
  - {name: api, from: [push], group_by: [service], window: {count: 1}, aggregates: {errors: 'count(status >= 500)'}}
rules:
  - {name: ApiErrors, pipeline: api, when: errors > 0, notify: [hook]}
notifiers:
  - {name: hook, type: webhook, url: `+hook.URL+`}
self: {interval: 1h}
`)
	res, err := backend{a}.Ingest(context.Background(), "push", []byte(`{"service":"a","status":500}`+"\n"+`{"service":"b","status":200}`+"\n"), false)
	if err != nil || res.Accepted != 2 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the webhook got nothing in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	problems, err := promlint.New(strings.NewReader(scrape(t, a))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	for _, tc := range []struct {
		name, want string
	}{
		{"evaluations", `lookout_rule_evaluations_total{rule="ApiErrors"} 2`},
		{"firing transition", `lookout_rule_transitions_total{rule="ApiErrors",state="firing"} 1`},
		{"sent", `lookout_notify_sent_total{notifier="hook"} 1`},
		{"failed", `lookout_notify_failed_total{notifier="hook"} 0`},
		{"queue empty", `lookout_notify_queue_entries{notifier="hook"} 0`},
		{"delivery latency", `lookout_notify_delivery_latency_seconds_count{notifier="hook"} 1`},
		{"alert latency: window close", `lookout_alert_delivery_latency_seconds_count{rule="ApiErrors",stage="window_close"} 1`},
		{"alert latency: decision", `lookout_alert_delivery_latency_seconds_count{rule="ApiErrors",stage="decision"} 1`},
		{"alert latency: delivery", `lookout_alert_delivery_latency_seconds_count{rule="ApiErrors",stage="delivery"} 1`},
		{"tracing off by default", `lookout_tracing_enabled 0`},
		{"built-in rules are there", `lookout_rule_evaluations_total{rule="LookoutStoreBehind"} 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scrape(t, a)
			if !strings.Contains(got, tc.want+"\n") {
				t.Errorf("/metrics lacks %q", tc.want)
			}
		})
	}
}

func scrape(t *testing.T, a *App) string {
	t.Helper()
	rec := httptest.NewRecorder()
	a.reg.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// TestLogfileLagIsBytes: a log file's backlog is unread bytes, so it is
// exposed as lookout_source_lag_bytes and never as a count of messages.
func TestLogfileLagIsBytes(t *testing.T) {
	path := t.TempDir() + "/app.log"
	if err := os.WriteFile(path, []byte(`{"service":"a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := runApp(t, `
sources: [{name: app_log, type: logfile, path: `+path+`, start: beginning}]
pipelines:
  - {name: p, from: [app_log], group_by: [service], window: {count: 1}, aggregates: {n: count()}}
self: {interval: 1h}
`)
	want := `lookout_source_lag_bytes{source="app_log",type="logfile"} 0`
	deadline := time.Now().Add(10 * time.Second)
	for got := scrape(t, a); !strings.Contains(got, want+"\n"); got = scrape(t, a) {
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := scrape(t, a); strings.Contains(got, `lookout_source_lag_messages{source="app_log"`) {
		t.Error("a log file's lag is exposed as messages")
	}
}
