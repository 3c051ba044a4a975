package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes the protobuf
// ExportTraceServiceRequest the way a collector does and keeps every span.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services map[string]bool
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "want POST /v1/traces", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.services == nil {
		o.services = map[string]bool{}
	}
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				o.services[kv.GetValue().GetStringValue()] = true
			}
		}
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// find returns the spans with this name whose attribute key has value.
func (o *otlpReceiver) find(name, key, value string) []*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range o.spans {
		if s.Name == name && attr(s, key) == value {
			out = append(out, s)
		}
	}
	return out
}

// byID returns the span with this id.
func (o *otlpReceiver) byID(id []byte) *tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.spans {
		if bytes.Equal(s.SpanId, id) {
			return s
		}
	}
	return nil
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// tracedHook is an Alertmanager webhook receiver that also keeps the W3C
// traceparent each delivery came with.
type tracedHook struct {
	mu       sync.Mutex
	payloads []amPayload
	parents  []string
}

func (h *tracedHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p amPayload
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	h.mu.Lock()
	h.payloads = append(h.payloads, p)
	h.parents = append(h.parents, r.Header.Get("traceparent"))
	h.mu.Unlock()
}

// delivery returns the first delivery of an alert of rule with status, and
// its traceparent.
func (h *tracedHook) delivery(rule, status string) (amAlert, string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, p := range h.payloads {
		for _, a := range p.Alerts {
			if a.Labels["alertname"] == rule && a.Status == status {
				return a, h.parents[i], true
			}
		}
	}
	return amAlert{}, "", false
}

// TestTraceOfOneEvent runs the binary with OTEL_* pointing at an OTLP/HTTP
// receiver and checks that the way of one event to its notification is one
// trace: notify.send ← rule.evaluate ← window.close ← ingest.batch (←
// source.pull for a scraped sample), and that the webhook request carries
// the send span as its traceparent.
func TestTraceOfOneEvent(t *testing.T) {
	otlp := &otlpReceiver{}
	collector := httptest.NewServer(otlp)
	defer collector.Close()
	hook := &tracedHook{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE queue_depth gauge\nqueue_depth 120")
	}))
	defer target.Close()

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SERVICE_NAME", "lookout-e2e")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")

	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", `
server: {listen: `+addr+`}
storage: {path: `+dir+`/data}
self: {enabled: false}
sources:
  - {name: push, type: push}
  - {name: scrape, type: http, url: `+target.URL+`/metrics, format: prometheus, interval: 300ms, timeout: 200ms}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: {count: 1}
    aggregates: {errors: 'count(status >= 500)'}
  - name: queue
    from: [scrape]
    where: 'metric == "queue_depth"'
    window: {count: 1}
    aggregates: {depth: last(value)}
rules:
  - {name: ApiErrors, pipeline: api, when: errors > 0, notify: [hook]}
  - {name: QueueDeep, pipeline: queue, when: depth > 100, notify: [hook]}
notifiers:
  - {name: hook, type: webhook, url: `+hs.URL+`/hook}
`)
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	if code, body := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson",
		[]byte(`{"service":"checkout","status":503}`+"\n")); code != 200 {
		t.Fatalf("push: %d %s", code, body)
	}

	for _, tc := range []struct {
		rule, root string
	}{
		{"ApiErrors", "ingest.batch"},
		{"QueueDeep", "source.pull"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			var delivered amAlert
			var parent string
			lookouttest.WaitFor(t, 15*time.Second, tc.rule+" delivered", func() bool {
				var ok bool
				delivered, parent, ok = hook.delivery(tc.rule, "firing")
				return ok
			})
			var send *tracepb.Span
			lookouttest.WaitFor(t, 15*time.Second, "the notify.send span of "+tc.rule, func() bool {
				sends := otlp.find("notify.send", "lookout.alert.fingerprint", delivered.Fingerprint)
				if len(sends) > 0 {
					send = sends[0]
				}
				return send != nil
			})
			if got := attr(send, "lookout.notifier"); got != "hook" {
				t.Errorf("notify.send lookout.notifier = %q, want hook", got)
			}
			want := "00-" + hex.EncodeToString(send.TraceId) + "-" + hex.EncodeToString(send.SpanId) + "-01"
			if parent != want {
				t.Errorf("webhook traceparent = %q, want the send span %q", parent, want)
			}
			// Walk up from the send to the root; every span must be in
			// the one trace.
			chain := []string{send.Name}
			s := send
			for len(s.ParentSpanId) > 0 {
				var next *tracepb.Span
				lookouttest.WaitFor(t, 10*time.Second, "the parent of "+s.Name, func() bool {
					next = otlp.byID(s.ParentSpanId)
					return next != nil
				})
				if !bytes.Equal(next.TraceId, send.TraceId) {
					t.Fatalf("%s is in trace %x, the send in %x", next.Name, next.TraceId, send.TraceId)
				}
				chain = append(chain, next.Name)
				s = next
			}
			wantChain := []string{"notify.send", "rule.evaluate", "window.close", "ingest.batch"}
			if tc.root == "source.pull" {
				wantChain = append(wantChain, "source.pull")
			}
			if strings.Join(chain, " ← ") != strings.Join(wantChain, " ← ") {
				t.Errorf("span chain = %s, want %s", strings.Join(chain, " ← "), strings.Join(wantChain, " ← "))
			}
			if tc.root == "source.pull" {
				if got := attr(s, "url.full"); got != target.URL+"/metrics" {
					t.Errorf("source.pull url.full = %q, want %q", got, target.URL+"/metrics")
				}
			}
		})
	}
	otlp.mu.Lock()
	if !otlp.services["lookout-e2e"] {
		t.Errorf("no spans from service.name lookout-e2e (OTEL_SERVICE_NAME); got %v", otlp.services)
	}
	otlp.mu.Unlock()
}

// restartable is an HTTP server the test can stop and start again on the
// same address, as a receiver that goes down and comes back.
type restartable struct {
	t    *testing.T
	addr string
	h    http.Handler
	srv  *http.Server
}

func newRestartable(t *testing.T, h http.Handler) *restartable {
	r := &restartable{t: t, addr: lookouttest.FreeAddr(t), h: h}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	var ln net.Listener
	var err error
	// The port was ours a moment ago; the kernel may need a moment.
	lookouttest.WaitFor(r.t, 5*time.Second, "listening on "+r.addr, func() bool {
		ln, err = net.Listen("tcp", r.addr)
		return err == nil
	})
	r.srv = &http.Server{Handler: r.h}
	go func() { _ = r.srv.Serve(ln) }()
}

func (r *restartable) stop() {
	if r.srv != nil {
		_ = r.srv.Close()
		r.srv = nil
	}
}

// activeAlert reports whether the running lookout has an active alert of
// rule with label name=name, and its state.
func activeAlert(t *testing.T, p *lookouttest.Proc, rule, name string) (string, bool) {
	t.Helper()
	var out struct {
		Data []struct {
			Rule   string            `json:"rule"`
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"data"`
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/alerts"), &out)
	for _, a := range out.Data {
		if a.Rule == rule && a.Labels["name"] == name {
			return a.State, true
		}
	}
	return "", false
}

func firing(t *testing.T, p *lookouttest.Proc, rule, name string) bool {
	st, ok := activeAlert(t, p, rule, name)
	return ok && st == "firing"
}

func cleared(t *testing.T, p *lookouttest.Proc, rule, name string) bool {
	_, ok := activeAlert(t, p, rule, name)
	return !ok
}

func putThreshold(t *testing.T, p *lookouttest.Proc, name string, v float64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, p.URL("/api/v1/thresholds/"+name), strings.NewReader(fmt.Sprintf(`{"value":%g}`, v)))
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("PUT threshold %s: %d %s", name, r.StatusCode, body)
	}
}

func pushLines(t *testing.T, p *lookouttest.Proc, source string, lines ...string) {
	t.Helper()
	body := strings.Join(lines, "\n") + "\n"
	if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source="+source), "application/x-ndjson", []byte(body)); code != 200 {
		t.Fatalf("push to %s: %d %s", source, code, out)
	}
}

// TestSelfRules injects each fault lookout watches itself for, for real, and
// checks that its built-in rule fires and then resolves when the fault
// clears.
func TestSelfRules(t *testing.T) {
	hook := &tracedHook{}
	hookSrv := newRestartable(t, hook)
	target := newRestartable(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "up_and_running 1")
	}))
	var pings, badPings atomic.Int64
	deadman := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/ping/lookout-e2e" {
			badPings.Add(1)
		}
		pings.Add(1)
	}))
	defer deadman.Close()

	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", `
server: {listen: `+addr+`}
storage: {path: `+dir+`/data, flush_interval: 3s}
self:
  interval: 200ms
  silent_after: 2s
  notify: [hook]
  deadman: {url: '`+deadman.URL+`/ping/lookout-e2e', interval: 200ms}
sources:
  - {name: push, type: push}
  - {name: quiet, type: push}
  - {name: scrape, type: http, url: 'http://`+target.addr+`/metrics', format: prometheus, interval: 200ms, timeout: 150ms}
pipelines:
  - name: api
    from: [push]
    where: 'kind == "api"'
    group_by: [service]
    window: {count: 1}
    aggregates: {errors: 'count(status >= 500)'}
  - name: capped
    from: [push]
    where: 'kind == "capped"'
    group_by: [service]
    max_groups: 1
    window: {count: 1}
    aggregates: {n: count()}
  - name: timed
    from: [push]
    where: 'kind == "timed"'
    window: 1s
    lateness: 0s
    aggregates: {n: count()}
rules:
  - {name: ApiErrors, pipeline: api, when: errors > 0, notify: [hook]}
notifiers:
  - {name: hook, type: webhook, url: 'http://`+hookSrv.addr+`/hook', timeout: 1s}
`)
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	// The store fault below is "more rows waiting for the writer than
	// allowed"; the outbox one "anything waiting for a notifier".
	putThreshold(t, p, "lookout_store_backlog_rows", 1000)
	putThreshold(t, p, "lookout_outbox_pending", 0)

	t.Run("push source silent", func(t *testing.T) {
		lookouttest.WaitFor(t, 10*time.Second, "LookoutSourceSilent for quiet", func() bool { return firing(t, p, "LookoutSourceSilent", "quiet") })
		pushLines(t, p, "quiet", `{"kind":"hello"}`)
		lookouttest.WaitFor(t, 5*time.Second, "LookoutSourceSilent for quiet to resolve", func() bool { return cleared(t, p, "LookoutSourceSilent", "quiet") })
	})

	t.Run("scraped source silent", func(t *testing.T) {
		if !cleared(t, p, "LookoutSourceSilent", "scrape") {
			t.Fatal("scrape is silent while its target answers")
		}
		target.stop()
		lookouttest.WaitFor(t, 10*time.Second, "LookoutSourceSilent for scrape", func() bool { return firing(t, p, "LookoutSourceSilent", "scrape") })
		target.start()
		lookouttest.WaitFor(t, 10*time.Second, "LookoutSourceSilent for scrape to resolve", func() bool { return cleared(t, p, "LookoutSourceSilent", "scrape") })
	})

	t.Run("store behind", func(t *testing.T) {
		// 3000 rows wait up to flush_interval (3s) for the writer's next
		// commit: over the threshold of 1000 until then.
		lines := make([]string, 3000)
		for i := range lines {
			lines[i] = fmt.Sprintf(`{"kind":"bulk","i":%d}`, i)
		}
		deadline := time.Now().Add(15 * time.Second)
		for !firing(t, p, "LookoutStoreBehind", "duckdb") {
			if time.Now().After(deadline) {
				t.Fatal("LookoutStoreBehind did not fire with 3000 rows waiting")
			}
			pushLines(t, p, "push", lines...)
			time.Sleep(300 * time.Millisecond)
		}
		lookouttest.WaitFor(t, 10*time.Second, "LookoutStoreBehind to resolve after the commit", func() bool { return cleared(t, p, "LookoutStoreBehind", "duckdb") })
	})

	t.Run("overflow", func(t *testing.T) {
		pushLines(t, p, "push", `{"kind":"capped","service":"a"}`, `{"kind":"capped","service":"b"}`)
		lookouttest.WaitFor(t, 5*time.Second, "LookoutOverflow for capped", func() bool { return firing(t, p, "LookoutOverflow", "capped") })
		lookouttest.WaitFor(t, 5*time.Second, "LookoutOverflow to resolve", func() bool { return cleared(t, p, "LookoutOverflow", "capped") })
	})

	t.Run("late events", func(t *testing.T) {
		old := time.Now().Add(-time.Hour).UnixMilli()
		lines := make([]string, 10)
		for i := range lines {
			lines[i] = fmt.Sprintf(`{"kind":"timed","ts":%d}`, old+int64(i))
		}
		pushLines(t, p, "push", lines...)
		lookouttest.WaitFor(t, 5*time.Second, "LookoutLateEvents for timed", func() bool { return firing(t, p, "LookoutLateEvents", "timed") })
		// The rule judges the last 5 minutes: it resolves once on-time
		// events bring their late ratio under 10 %, not when late ones
		// merely stop.
		time.Sleep(time.Second)
		if !firing(t, p, "LookoutLateEvents", "timed") {
			t.Fatal("LookoutLateEvents resolved while every event of the last 5 minutes was late")
		}
		onTime := make([]string, 300)
		for i := range onTime {
			onTime[i] = `{"kind":"timed"}` // stamped on arrival
		}
		pushLines(t, p, "push", onTime...)
		lookouttest.WaitFor(t, 5*time.Second, "LookoutLateEvents to resolve", func() bool { return cleared(t, p, "LookoutLateEvents", "timed") })
	})

	t.Run("notifier failing", func(t *testing.T) {
		hookSrv.stop()
		pushLines(t, p, "push", `{"kind":"api","service":"checkout","status":503}`)
		lookouttest.WaitFor(t, 15*time.Second, "LookoutNotifierFailing for hook", func() bool { return firing(t, p, "LookoutNotifierFailing", "hook") })
		if !firing(t, p, "LookoutOutboxBacklog", "hook") {
			t.Error("LookoutOutboxBacklog is not firing while notifications wait for hook")
		}
		hookSrv.start()
		lookouttest.WaitFor(t, 15*time.Second, "LookoutNotifierFailing to resolve", func() bool { return cleared(t, p, "LookoutNotifierFailing", "hook") })
		lookouttest.WaitFor(t, 5*time.Second, "LookoutOutboxBacklog to resolve", func() bool { return cleared(t, p, "LookoutOutboxBacklog", "hook") })
		// Through the normal notifiers: the receiver that was down gets
		// the alert about itself, and its resolution, once it is back.
		lookouttest.WaitFor(t, 10*time.Second, "the hook to receive LookoutNotifierFailing resolved", func() bool {
			_, _, fired := hook.delivery("LookoutNotifierFailing", "firing")
			_, _, resolved := hook.delivery("LookoutNotifierFailing", "resolved")
			return fired && resolved
		})
		if _, _, ok := hook.delivery("ApiErrors", "firing"); !ok {
			t.Error("the alert queued while hook was down was not delivered")
		}
	})

	t.Run("dead-man's switch", func(t *testing.T) {
		lookouttest.WaitFor(t, 5*time.Second, "two pings", func() bool { return pings.Load() >= 2 })
		if n := badPings.Load(); n > 0 {
			t.Errorf("%d pings were not GET /ping/lookout-e2e", n)
		}
		// A store writer further behind than allowed is unhealthy: no ping,
		// and the log says why.
		held := func() int {
			return strings.Count(p.Output(), `msg="dead-man's switch not pinged: lookout is unhealthy" reason="the store writer is behind"`)
		}
		earlier := held() // the store fault above held some too
		putThreshold(t, p, "lookout_store_backlog_rows", -1)
		lookouttest.WaitFor(t, 5*time.Second, "the switch to hold its ping", func() bool { return held() > earlier })
		putThreshold(t, p, "lookout_store_backlog_rows", 1000)
		before := pings.Load()
		lookouttest.WaitFor(t, 5*time.Second, "pings to resume", func() bool { return pings.Load() >= before+2 })
	})
}

// TestWatchLookoutExample runs examples/watch-lookout against a first
// lookout, as its README says, with shorter intervals: the watcher reads the
// first one's /metrics, and alerts when the first one dies.
func TestWatchLookoutExample(t *testing.T) {
	hook := &tracedHook{}
	hs := httptest.NewServer(hook)
	defer hs.Close()

	dir := t.TempDir()
	firstAddr := lookouttest.FreeAddr(t)
	firstCfg := lookouttest.WriteFile(t, dir, "first.yaml", `
server: {listen: `+firstAddr+`}
storage: {path: `+dir+`/first}
sources: [{name: push, type: push}]
notifiers: [{name: stdout, type: log}]
`)
	first := lookouttest.Start(t, binary, firstAddr, "run", "-config", firstCfg)

	example := string(mustRead(t, "../../examples/watch-lookout/lookout.yaml"))
	for old, repl := range map[string]string{
		"interval: 15s": "interval: 200ms", "timeout: 5s": "timeout: 150ms",
		"http://127.0.0.1:9470": "http://" + firstAddr, "http://127.0.0.1:5001/hook": hs.URL + "/hook",
	} {
		if !strings.Contains(example, old) {
			t.Fatalf("the example no longer has %q", old)
		}
		example = strings.ReplaceAll(example, old, repl)
	}
	watcherCfg := lookouttest.WriteFile(t, dir, "watcher.yaml", example)
	watcherAddr := lookouttest.FreeAddr(t)
	watcher := lookouttest.Start(t, binary, watcherAddr, "run", "-config", watcherCfg, "-listen", watcherAddr, "-data", dir+"/watcher")

	lookouttest.WaitFor(t, 10*time.Second, "the watcher to have windows of the first one's store backlog", func() bool {
		var out struct {
			Data []struct {
				Values map[string]*float64 `json:"values"`
			} `json:"data"`
		}
		lookouttest.GetJSON(t, watcher.URL("/api/v1/windows?pipeline=store"), &out)
		return len(out.Data) > 0 && out.Data[0].Values["backlog"] != nil
	})
	if _, _, ok := hook.delivery("LookoutDown", "firing"); ok {
		t.Fatal("LookoutDown fired while the first lookout runs")
	}
	first.Stop()
	lookouttest.WaitFor(t, 10*time.Second, "LookoutDown from the watcher", func() bool {
		_, _, ok := hook.delivery("LookoutDown", "firing")
		return ok
	})
}
