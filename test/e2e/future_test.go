package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// futureConfig: 2 s windows counting requests by service, with the default
// max_future.
func futureConfig(t *testing.T) *lookouttest.Config {
	c := lookouttest.NewConfig(t)
	c.Pipelines = []lookouttest.Pipeline{{Name: "api", From: []string{"push"}, GroupBy: []string{"service"}, Window: "2s",
		Aggregates: map[string]string{"requests": "count()"}}}
	return c
}

// futureWindow is a window result with the counts this test reads.
type futureWindow struct {
	Start  string              `json:"start"`
	Values map[string]*float64 `json:"values"`
	Late   int64               `json:"late"`
	Future int64               `json:"future"`
}

// TestFarFutureEventAmongTraffic: one event stamped a year ahead, among
// normal traffic, with the default max_future. The windows keep closing on
// time and count every normal event once, none late; the event is stored
// flagged future and counted (metrics, window result); and after a kill -9
// and a restart on the same data dir windows close again — the restart
// neither resumes from nor refills the future event.
func TestFarFutureEventAmongTraffic(t *testing.T) {
	cfg := futureConfig(t)
	p := cfg.Start(t, binary)

	sent := map[int64]int{} // window start (unix ms) → normal events sent with a time in it
	total := 0
	push := func(p *lookouttest.Proc, ts time.Time) {
		t.Helper()
		body := fmt.Sprintf("{\"ts\":%d,\"service\":\"x\"}\n", ts.UnixMilli())
		if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte(body)); code != 200 {
			t.Fatalf("push: %d %s", code, out)
		}
	}
	traffic := func(p *lookouttest.Proc, n int) {
		t.Helper()
		for range n {
			now := time.Now()
			push(p, now)
			sent[now.UnixMilli()-now.UnixMilli()%2000]++
			total++
			time.Sleep(150 * time.Millisecond)
		}
	}
	windows := func(p *lookouttest.Proc) []futureWindow {
		t.Helper()
		var res struct {
			Data []futureWindow `json:"data"`
		}
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=api&limit=1000"), &res)
		return res.Data
	}
	// allCounted waits until the windows hold every normal event sent, and
	// checks each window counted exactly the events of its span, none late.
	allCounted := func(p *lookouttest.Proc, what string) []futureWindow {
		t.Helper()
		var ws []futureWindow
		lookouttest.WaitFor(t, 20*time.Second, what, func() bool {
			ws = windows(p)
			n := 0.0
			for _, w := range ws {
				n += *w.Values["requests"]
			}
			return n >= float64(total)
		})
		for _, w := range ws {
			st, err := time.Parse(time.RFC3339Nano, w.Start)
			if err != nil {
				t.Fatal(err)
			}
			if st.After(time.Now().Add(time.Hour)) {
				t.Errorf("a window starts at %s, far ahead: the future event was folded into a window", w.Start)
			}
			if got, want := *w.Values["requests"], float64(sent[st.UnixMilli()]); got != want {
				t.Errorf("window %s counted %v events, want %v (every normal event in its window, once)", w.Start, got, want)
			}
			if w.Late != 0 {
				t.Errorf("window %s has %d late events, want none", w.Start, w.Late)
			}
		}
		return ws
	}
	futureOf := func(ws []futureWindow) (n int64) {
		for _, w := range ws {
			n += w.Future
		}
		return n
	}

	traffic(p, 6)
	push(p, time.Now().Add(365*24*time.Hour))
	traffic(p, 14)
	ws := allCounted(p, "the windows after the year-ahead event to close")
	if n := futureOf(ws); n != 1 {
		t.Errorf("the windows report %d future events, want 1", n)
	}
	metrics := getText(t, p.URL("/metrics"))
	if got := metricValue(t, metrics, `lookout_pipeline_future_events_total{pipeline="api"}`); got != 1 {
		t.Errorf("lookout_pipeline_future_events_total = %v, want 1", got)
	}
	if got := metricValue(t, metrics, `lookout_pipeline_late_events_total{pipeline="api"}`); got != 0 {
		t.Errorf("lookout_pipeline_late_events_total = %v, want 0", got)
	}
	flagged := func(p *lookouttest.Proc) [][]any {
		t.Helper()
		code, out := lookouttest.Post(t, p.URL("/api/v1/query"), "application/json",
			[]byte(`{"sql":"SELECT flags, year(ts) FROM events WHERE source = 'push' AND flags <> ''"}`))
		if code != 200 {
			t.Fatalf("query: %d %s", code, out)
		}
		var q struct {
			Rows [][]any `json:"rows"`
		}
		if err := json.Unmarshal(out, &q); err != nil {
			t.Fatal(err)
		}
		return q.Rows
	}
	var rows [][]any
	lookouttest.WaitFor(t, 10*time.Second, "the future event in the store", func() bool {
		rows = flagged(p)
		return len(rows) > 0
	})
	wantYear := fmt.Sprint(time.Now().Add(365 * 24 * time.Hour).Year())
	if len(rows) != 1 || rows[0][0] != "future" || fmt.Sprint(rows[0][1]) != wantYear {
		t.Errorf("flagged stored events = %v, want one [future %s]", rows, wantYear)
	}

	// A crash and a restart on the same data dir: the windows go on.
	p.Kill()
	p = cfg.Start(t, binary)
	traffic(p, 14)
	ws = allCounted(p, "the windows after the restart to close")
	if n := futureOf(ws); n != 1 {
		t.Errorf("after the restart the windows report %d future events, want the 1 from before", n)
	}
	metrics = getText(t, p.URL("/metrics"))
	for _, m := range []string{`lookout_pipeline_future_events_total{pipeline="api"}`, `lookout_pipeline_late_events_total{pipeline="api"}`} {
		if got := metricValue(t, metrics, m); got != 0 {
			t.Errorf("after the restart %s = %v, want 0 (the stored future event is not replayed)", m, got)
		}
	}
	if rows := flagged(p); len(rows) != 1 || rows[0][0] != "future" {
		t.Errorf("after the restart flagged stored events = %v, want the one future event", rows)
	}
}

// metricValue returns the value of one sample in a /metrics text.
func metricValue(t *testing.T, metrics, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("/metrics has no %s:\n%s", name, grepLines(metrics, strings.SplitN(name, "{", 2)[0]))
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
