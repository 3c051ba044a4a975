package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// hookReceiver is an Alertmanager-compatible webhook receiver.
type hookReceiver struct {
	mu       sync.Mutex
	payloads []amPayload
}

type amPayload struct {
	Version string    `json:"version"`
	Status  string    `json:"status"`
	Alerts  []amAlert `json:"alerts"`
}

type amAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    string            `json:"startsAt"`
	EndsAt      string            `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p amPayload
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	h.mu.Lock()
	h.payloads = append(h.payloads, p)
	h.mu.Unlock()
}

// count returns how many alerts with this status were received for a service.
func (h *hookReceiver) count(status, service string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.payloads {
		for _, a := range p.Alerts {
			if a.Status == status && a.Labels["service"] == service {
				n++
			}
		}
	}
	return n
}

// sent is one event as the test sent it, for the independent computation.
type sent struct {
	ts      int64 // unix ms
	service string
	status  int
	latency float64 // ms
}

type windowJSON struct {
	Pipeline string              `json:"pipeline"`
	Start    string              `json:"start"`
	End      string              `json:"end"`
	Group    map[string]string   `json:"group"`
	Values   map[string]*float64 `json:"values"`
}

const skeletonConfig = `
server:
  listen: %s
storage:
  path: %s
sources:
  - name: push
    type: push
    fields:
      latency_ms: {type: number, unit: ms, to: s, as: latency}
pipelines:
  - name: api
    from: [push]
    where: 'service != ""'
    group_by: [service]
    window: 1s
    lateness: 300ms
    aggregates:
      requests:    count()
      errors:      count(status >= 500)
      error_rate:  ratio(status >= 500)
      latency_avg: avg(latency)
      latency_p99: quantile(latency, 0.99)
      per_request: 'errors / requests'
rules:
  - name: HighErrorRate
    pipeline: api
    when: error_rate > 0.2 && requests >= 4   # every push carries 4 events per service
    for: 2
    repeat: 1h
    severity: critical
    summary: '{{ .service }} error rate {{ .error_rate }}'
    notify: [hook]
notifiers:
  - {name: hook, type: webhook, url: '%s'}
`

// TestSkeletonEndToEnd is the whole path end to end: real-time pushes for a
// good and a bad service, window values against an independent computation,
// exactly one firing across a restart, one resolved, the raw view and rejects.
func TestSkeletonEndToEnd(t *testing.T) {
	hook := &hookReceiver{}
	hs := httptest.NewServer(hook)
	defer hs.Close()

	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfgPath := lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(skeletonConfig, addr, dir+"/data", hs.URL))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfgPath)

	var (
		all  []sent
		seq  int
		last []string // the raw lines of the last push body
	)
	// push sends one 100 ms batch for both services; badErrors says whether
	// the bad service fails half of its requests.
	push := func(p *lookouttest.Proc, badErrors bool) {
		now := time.Now().UnixMilli()
		var body strings.Builder
		last = last[:0]
		for i := 0; i < 4; i++ {
			for _, svc := range []string{"good", "bad"} {
				seq++
				e := sent{ts: now, service: svc, status: 200, latency: float64(5 + seq%50)}
				if svc == "bad" && badErrors && i%2 == 0 {
					e.status = 503
				}
				all = append(all, e)
				line := fmt.Sprintf(`{"ts":%d,"service":%q,"status":%d,"latency_ms":%g,"seq":%d}`, e.ts, e.service, e.status, e.latency, seq)
				body.WriteString(line + "\n")
				last = append(last, line)
			}
		}
		code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte(body.String()))
		if code != 200 {
			t.Fatalf("push: %d %s", code, out)
		}
	}
	stream := func(p *lookouttest.Proc, d time.Duration, badErrors bool) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			push(p, badErrors)
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Phase 1: the bad service fails for ~4 windows; the rule needs 2.
	stream(p, 4*time.Second, true)
	lookouttest.WaitFor(t, 10*time.Second, "one firing notification for bad", func() bool { return hook.count("firing", "bad") >= 1 })

	// Window values equal an independent computation from the sent events.
	checkWindows(t, p, all)

	// The raw view returns the last 20 messages as received.
	checkRaw(t, p, last)

	// A batch with one malformed line accepts the others; the bad line is stored with its reason.
	checkRejected(t, p)

	if n := hook.count("firing", "good"); n != 0 {
		t.Errorf("good service: %d firing notifications, want 0", n)
	}

	// Restart on the same data dir while still failing: no second firing within repeat.
	p.Stop()
	p = lookouttest.Start(t, binary, addr, "run", "-config", cfgPath)
	stream(p, 3*time.Second, true)
	time.Sleep(1500 * time.Millisecond) // let the last windows close and be judged
	if n := hook.count("firing", "bad"); n != 1 {
		t.Errorf("after restart: %d firing notifications for bad, want exactly 1", n)
	}
	var alerts struct {
		Data []struct {
			Rule   string            `json:"rule"`
			State  string            `json:"state"`
			Labels map[string]string `json:"labels"`
		} `json:"data"`
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/alerts"), &alerts)
	if len(alerts.Data) != 1 || alerts.Data[0].State != "firing" || alerts.Data[0].Labels["service"] != "bad" {
		t.Errorf("active alerts after restart = %+v, want one firing for bad", alerts.Data)
	}

	// Errors stop: exactly one resolved.
	stream(p, 3*time.Second, false)
	lookouttest.WaitFor(t, 10*time.Second, "resolved notification for bad", func() bool { return hook.count("resolved", "bad") >= 1 })
	time.Sleep(1500 * time.Millisecond)
	if n := hook.count("resolved", "bad"); n != 1 {
		t.Errorf("%d resolved notifications for bad, want exactly 1", n)
	}
	if n := hook.count("firing", "bad"); n != 1 {
		t.Errorf("%d firing notifications for bad in total, want exactly 1", n)
	}
	if n := hook.count("firing", "good") + hook.count("resolved", "good"); n != 0 {
		t.Errorf("good service got %d notifications, want 0", n)
	}
	hook.mu.Lock()
	for _, pl := range hook.payloads {
		if pl.Version != "4" {
			t.Errorf("webhook payload version %q, want \"4\"", pl.Version)
		}
		for _, a := range pl.Alerts {
			if a.Labels["alertname"] != "HighErrorRate" || a.Labels["severity"] != "critical" || a.Fingerprint == "" ||
				!strings.HasPrefix(a.Annotations["summary"], "bad error rate") {
				t.Errorf("webhook alert lacks Alertmanager fields: %+v", a)
			}
		}
	}
	hook.mu.Unlock()
}

type key struct {
	start   int64
	service string
}

type expect struct {
	requests, errors int
	latencies        []float64 // seconds
}

func checkWindows(t *testing.T, p *lookouttest.Proc, all []sent) {
	t.Helper()
	exp := map[key]*expect{}
	for _, e := range all {
		k := key{e.ts - e.ts%1000, e.service}
		x := exp[k]
		if x == nil {
			x = &expect{}
			exp[k] = x
		}
		x.requests++
		if e.status >= 500 {
			x.errors++
		}
		x.latencies = append(x.latencies, e.latency/1000)
	}
	var res struct {
		Data []windowJSON `json:"data"`
	}
	// Windows reach the store within the writer's flush interval.
	lookouttest.WaitFor(t, 5*time.Second, "windows in the store", func() bool {
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=api"), &res)
		return len(res.Data) >= 6
	})
	lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=api&group.service=bad"), &res)
	if len(res.Data) < 3 {
		t.Fatalf("only %d windows for bad", len(res.Data))
	}
	for _, w := range res.Data {
		if w.Group["service"] != "bad" {
			t.Errorf("group filter returned %v", w.Group)
		}
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=api"), &res)
	checked := 0
	for _, w := range res.Data {
		start, err := time.Parse(time.RFC3339Nano, w.Start)
		if err != nil {
			t.Fatalf("start %q: %v", w.Start, err)
		}
		if !strings.HasSuffix(w.Start, "Z") || len(w.Start) != len("2006-01-02T15:04:05.000Z") {
			t.Errorf("start %q is not RFC 3339 with milliseconds", w.Start)
		}
		x := exp[key{start.UnixMilli(), w.Group["service"]}]
		if x == nil {
			t.Errorf("window %v %v has no sent events", w.Start, w.Group)
			continue
		}
		checked++
		val := func(n string) float64 {
			if w.Values[n] == nil {
				t.Fatalf("window %s %v: %s is null", w.Start, w.Group, n)
			}
			return *w.Values[n]
		}
		if got := val("requests"); got != float64(x.requests) {
			t.Errorf("%s %v requests = %v, want %d", w.Start, w.Group, got, x.requests)
		}
		if got := val("errors"); got != float64(x.errors) {
			t.Errorf("%s %v errors = %v, want %d", w.Start, w.Group, got, x.errors)
		}
		if got, want := val("error_rate"), float64(x.errors)/float64(x.requests); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s %v error_rate = %v, want %v", w.Start, w.Group, got, want)
		}
		if got, want := val("per_request"), float64(x.errors)/float64(x.requests); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s %v per_request = %v, want %v", w.Start, w.Group, got, want)
		}
		sum := 0.0
		for _, l := range x.latencies {
			sum += l
		}
		if got, want := val("latency_avg"), sum/float64(len(x.latencies)); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s %v latency_avg = %v, want %v", w.Start, w.Group, got, want)
		}
		// DDSketch with 1% relative accuracy: the answer is within 1% of the
		// exact q-quantile (between the neighbouring ranks).
		ls := append([]float64(nil), x.latencies...)
		sort.Float64s(ls)
		rank := 0.99 * float64(len(ls)-1)
		lo, hi := ls[int(math.Floor(rank))], ls[int(math.Ceil(rank))]
		if got := val("latency_p99"); got < lo*0.99-1e-12 || got > hi*1.01+1e-12 {
			t.Errorf("%s %v latency_p99 = %v, want within 1%% of [%v, %v]", w.Start, w.Group, got, lo, hi)
		}
	}
	if checked < 6 {
		t.Errorf("checked only %d windows", checked)
	}
}

func checkRaw(t *testing.T, p *lookouttest.Proc, last []string) {
	t.Helper()
	var raw struct {
		Data []struct {
			Raw string `json:"raw"`
		} `json:"data"`
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/raw?source=push"), &raw)
	if len(raw.Data) != 20 {
		t.Fatalf("raw returned %d messages, want the last 20", len(raw.Data))
	}
	// The last push had 8 lines; they are the newest 8 of the 20, in order.
	tail := raw.Data[len(raw.Data)-len(last):]
	for i, m := range tail {
		if m.Raw != last[i] {
			t.Errorf("raw[%d] = %q, want %q", i, m.Raw, last[i])
		}
	}
}

func checkRejected(t *testing.T, p *lookouttest.Proc) {
	t.Helper()
	now := time.Now().UnixMilli()
	body := fmt.Sprintf("{\"ts\":%d,\"service\":\"other\",\"status\":200}\n{\"ts\": %d, \"service\": broken\n{\"ts\":%d,\"service\":\"other\",\"status\":200}\n", now, now, now)
	code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte(body))
	if code != 200 {
		t.Fatalf("mixed batch: %d %s", code, out)
	}
	var res struct {
		Accepted int `json:"accepted"`
		Rejected int `json:"rejected"`
		Errors   []struct {
			Line  int    `json:"line"`
			Error string `json:"error"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Rejected != 1 || len(res.Errors) != 1 || res.Errors[0].Line != 2 {
		t.Fatalf("mixed batch result %s, want 2 accepted and line 2 rejected", out)
	}
	// Nothing accepted: 400.
	if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte("not json\n")); code != 400 {
		t.Errorf("all-bad batch: %d %s, want 400", code, out)
	}
	var q struct {
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
	}
	lookouttest.WaitFor(t, 5*time.Second, "the rejected line in the store", func() bool {
		code, out := lookouttest.Post(t, p.URL("/api/v1/query"), "application/json",
			[]byte(`{"sql":"SELECT source, raw, reason FROM rejected WHERE raw LIKE '%broken%'"}`))
		if code != 200 {
			t.Fatalf("query: %d %s", code, out)
		}
		if err := json.Unmarshal(out, &q); err != nil {
			t.Fatal(err)
		}
		return len(q.Rows) == 1
	})
	if q.Rows[0][0] != "push" || !strings.Contains(q.Rows[0][1].(string), "broken") || q.Rows[0][2] == "" {
		t.Errorf("rejected row = %v", q.Rows[0])
	}
	// The query API is read-only.
	if code, out := lookouttest.Post(t, p.URL("/api/v1/query"), "application/json", []byte(`{"sql":"DROP TABLE events"}`)); code != 400 {
		t.Errorf("DROP TABLE: %d %s, want 400", code, out)
	}
}
