package window

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// scrape is one Prometheus sample as the http source makes it: metric,
// value and the labels, at t0+d.
func scrape(d time.Duration, metric string, value float64, labels ...string) *event.Event {
	kv := []any{"metric", metric, "value", value}
	for i := 0; i+1 < len(labels); i += 2 {
		kv = append(kv, labels[i], labels[i+1])
	}
	return ev(d, kv...)
}

// counterPipeline is a 1-minute tumbling pipeline of rate and increase of
// value, grouped by job.
func counterPipeline(t *testing.T) (*Pipeline, *recorder) {
	t.Helper()
	return mustNew(t, config.Pipeline{Window: config.Window{Size: time.Minute}, GroupBy: []string{"job"},
		Aggregates: aggs("inc", "increase(value)", "per_s", "rate(value)")})
}

// byGroupAndEnd indexes emitted windows by group and end (seconds after t0).
func byGroupAndEnd(ws []*event.Window) map[string]map[int][]float64 {
	out := map[string]map[int][]float64{}
	for _, w := range ws {
		g := strings.Join(w.Group, ",")
		if out[g] == nil {
			out[g] = map[int][]float64{}
		}
		out[g][int(w.End.Sub(t0)/time.Second)] = w.Values
	}
	return out
}

// TestCounterResetInsideWindow: a counter that restarts inside a window
// counts from 0 again, as Prometheus's increase does. Hand-computed:
// 100 → 110 → 125 → (restart) 5 → 20 is 10 + 15 + 5 + 15 = 45 in 60 s,
// 0.75/s; without reset handling it would be 20 − 100 = −80.
func TestCounterResetInsideWindow(t *testing.T) {
	p, r := counterPipeline(t)
	var in []*event.Event
	for i, v := range []float64{100, 110, 125, 5, 20} {
		in = append(in, scrape(time.Duration(i)*10*time.Second, "http_requests_total", v, "job", "api", "instance", "a:9100"))
	}
	p.Add(in, time.Time{})
	p.Advance(at(2 * time.Minute))
	got := byGroupAndEnd(r.take())["api"][60]
	if got == nil || !sameFloat(got[0], 45) || !sameFloat(got[1], 0.75) {
		t.Fatalf("window [0, 1m) of api: %v, want increase 45, rate 0.75", got)
	}
}

// TestCounterSeriesSummedPerGroup: two instances of one job are two series,
// each with its own deltas, and the group's value is their sum. Were they
// one series, their interleaved values would look like a reset at every
// sample.
func TestCounterSeriesSummedPerGroup(t *testing.T) {
	p, r := counterPipeline(t)
	var in []*event.Event
	for i := range 4 {
		d := time.Duration(i) * 15 * time.Second
		in = append(in,
			scrape(d, "http_requests_total", 1000+float64(i)*30, "job", "api", "instance", "a:9100"), // +90
			scrape(d, "http_requests_total", 10+float64(i)*3, "job", "api", "instance", "b:9100"),    // +9
			scrape(d, "http_requests_total", 7+float64(i)*60, "job", "db", "instance", "c:9100"))     // +180
	}
	p.Add(in, time.Time{})
	p.Advance(at(2 * time.Minute))
	got := byGroupAndEnd(r.take())
	if w := got["api"][60]; w == nil || !sameFloat(w[0], 99) || !sameFloat(w[1], 99.0/60) {
		t.Errorf("api: %v, want increase 99 (90 from a, 9 from b), rate 1.65", w)
	}
	if w := got["db"][60]; w == nil || !sameFloat(w[0], 180) || !sameFloat(w[1], 3) {
		t.Errorf("db: %v, want increase 180, rate 3", w)
	}
}

// TestCounterAcrossWindowBoundary: the delta between the last sample of one
// window and the first of the next counts in the next, so that consecutive
// windows add up to the counter's whole increase and a steady counter
// scraped every 15 s has the same rate in every window, not one interval
// short. A series' first sample has nothing to compare with: a window with
// no delta at all is null.
func TestCounterAcrossWindowBoundary(t *testing.T) {
	p, r := counterPipeline(t)
	var in []*event.Event
	for i := range 8 { // 15 s apart, +3 each: 0.2/s
		in = append(in, scrape(time.Duration(i)*15*time.Second, "c", 3*float64(i), "job", "x"))
	}
	in = slices.Insert(in, 2, scrape(30*time.Second, "c", 5, "job", "y"))
	in = slices.Insert(in, 6, scrape(70*time.Second, "c", 9, "job", "y"))
	p.Add(in, time.Time{})
	p.Advance(at(3 * time.Minute))
	got := byGroupAndEnd(r.take())
	// [0, 1m): samples at 0, 15, 30, 45 s, 3 deltas. [1m, 2m): 60..105 s,
	// 4 deltas, the first from the sample at 45 s.
	for end, want := range map[int]float64{60: 9, 120: 12} {
		if w := got["x"][end]; w == nil || !sameFloat(w[0], want) || !sameFloat(w[1], want/60) {
			t.Errorf("x, window ending at %ds: %v, want increase %v, rate %v", end, w, want, want/60)
		}
	}
	if w := got["y"][60]; w == nil || !math.IsNaN(w[0]) || !math.IsNaN(w[1]) {
		t.Errorf("y, a window with only the series' first sample: %v, want increase and rate null", w)
	}
	if w := got["y"][120]; w == nil || !sameFloat(w[0], 4) {
		t.Errorf("y, the next window: %v, want increase 4 from the sample before it", w)
	}
}

// TestCounterSteadyRateEveryWindow: a counter growing 7/s scraped every
// 10 s gives rate 7 in every window after the first, and the increases add
// up to the counter's growth from its first sample to its last.
func TestCounterSteadyRateEveryWindow(t *testing.T) {
	p, r := counterPipeline(t)
	var in []*event.Event
	for i := range 60 { // 10 minutes
		in = append(in, scrape(time.Duration(i)*10*time.Second+3*time.Second, "c", 7*10*float64(i), "job", "x"))
	}
	p.Add(in, time.Time{})
	p.Advance(at(20 * time.Minute))
	ws := r.take()
	if len(ws) != 10 {
		t.Fatalf("%d windows, want 10", len(ws))
	}
	total := 0.0
	for i, w := range ws[1:] {
		if !sameFloat(w.Values[1], 7) {
			t.Errorf("window %d: rate %v, want 7", i+1, w.Values[1])
		}
		total += w.Values[0]
	}
	total += ws[0].Values[0] // 5 deltas in the first window
	if want := 7 * 10 * 59.0; !sameFloat(total, want) {
		t.Errorf("increases add up to %v, want the counter's growth %v", total, want)
	}
}

// TestCounterSlidingWindow: a sliding window's increase is the sum of its
// panes', the delta into each pane included.
func TestCounterSlidingWindow(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{Window: config.Window{Size: time.Minute, Every: 30 * time.Second},
		Aggregates: aggs("inc", "increase(value)", "per_s", "rate(value)")})
	var in []*event.Event
	for i, v := range []float64{0, 10, 30, 60, 2, 12} { // 10 s apart; a reset at 40 s: +2
		in = append(in, scrape(time.Duration(i)*10*time.Second, "c", v))
	}
	p.Add(in, time.Time{})
	p.Advance(at(3 * time.Minute))
	got := byGroupAndEnd(r.take())[""]
	// [−30s, 30s): 0,10,30 → 30. [0, 1m): all → 10+20+30+2+10 = 72. [30s, 90s): 60,2,12 → 30+2+10 = 42.
	for end, want := range map[int]float64{30: 30, 60: 72, 90: 42} {
		if w := got[end]; w == nil || !sameFloat(w[0], want) || !sameFloat(w[1], want/60) {
			t.Errorf("window ending at %ds: %v, want increase %v, rate %v", end, w, want, want/60)
		}
	}
}

// TestCounterOutOfOrderLeftOut: a sample not after its series' latest one
// is left out (Prometheus refuses out-of-order and duplicate samples), so
// it cannot fake a reset.
func TestCounterOutOfOrderLeftOut(t *testing.T) {
	p, r := counterPipeline(t)
	p.Add([]*event.Event{
		scrape(0, "c", 10, "job", "x"),
		scrape(20*time.Second, "c", 30, "job", "x"),
		scrape(10*time.Second, "c", 20, "job", "x"), // older than the latest: out of order
		scrape(20*time.Second, "c", 30, "job", "x"), // a duplicate
		scrape(30*time.Second, "c", 35, "job", "x"),
	}, time.Time{})
	p.Advance(at(2 * time.Minute))
	if w := byGroupAndEnd(r.take())["x"][60]; w == nil || !sameFloat(w[0], 25) {
		t.Errorf("window: %v, want increase 25 (10 → 30 → 35)", w)
	}
}

// TestCounterOtherEventsOneSeriesPerGroup: events without a metric field are
// one series per group, whatever their other fields.
func TestCounterOtherEventsOneSeriesPerGroup(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{Window: config.Window{Size: time.Minute}, GroupBy: []string{"host"},
		Aggregates: aggs("inc", "increase(bytes)")})
	p.Add([]*event.Event{
		ev(0, "host", "a", "bytes", 100.0, "iface", "eth0"),
		ev(10*time.Second, "host", "a", "bytes", 150.0, "iface", "eth1"),
		ev(20*time.Second, "host", "a", "bytes", 40.0, "iface", "eth0"), // a reset: +40
		ev(5*time.Second, "host", "b", "bytes", 1.0),
		ev(15*time.Second, "host", "b", "bytes", 4.0),
	}, time.Time{})
	p.Advance(at(2 * time.Minute))
	got := byGroupAndEnd(r.take())
	if w := got["a"][60]; w == nil || !sameFloat(w[0], 90) {
		t.Errorf("host a: %v, want 90 (50, then a reset to 40)", w)
	}
	if w := got["b"][60]; w == nil || !sameFloat(w[0], 3) {
		t.Errorf("host b: %v, want 3", w)
	}
}

// TestCounterOTLPHistogramCount: rate(count) of OTLP histogram points keeps
// one series per attribute set although sum, avg and the buckets change at
// every point.
func TestCounterOTLPHistogramCount(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{Window: config.Window{Size: time.Minute},
		Aggregates: aggs("inc", "increase(count)")})
	var in []*event.Event
	for i := range 3 {
		n := float64(10 * (i + 1))
		in = append(in, ev(time.Duration(i)*10*time.Second, "metric", "http.server.duration", "route", "/a",
			"count", n, "sum", n*0.2, "avg", 0.2, "le_0_5", n, "le_inf", n, "p50", 0.2, "temporality", "cumulative"))
	}
	p.Add(in, time.Time{})
	p.Advance(at(2 * time.Minute))
	if w := byGroupAndEnd(r.take())[""][60]; w == nil || !sameFloat(w[0], 20) {
		t.Errorf("window: %v, want increase 20 (10 → 20 → 30)", w)
	}
}

// TestCounterRefusedInCountWindows: a {count: N} window has no length of
// time, so rate and increase are refused at their aggregate's key.
func TestCounterRefusedInCountWindows(t *testing.T) {
	for _, fn := range []string{"rate", "increase"} {
		_, err := Compile(config.Pipeline{Name: "p", Window: config.Window{Count: 10},
			Aggregates: aggs("n", "count()", "r", fn+"(value)")})
		ces := CompileErrors(err)
		if len(ces) != 1 || ces[0].Path != "aggregates.r" || !strings.Contains(ces[0].Err.Error(), "needs a time window") {
			t.Errorf("%s in a count window: %v, want one error at aggregates.r saying it needs a time window", fn, err)
		}
	}
}

// TestCounterForgetsIdleSeries: a series that stopped reporting is dropped
// after idle_timeout, so memory does not grow with every series ever seen;
// series still reporting keep their previous sample.
func TestCounterForgetsIdleSeries(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{Window: config.Window{Size: time.Minute}, IdleTimeout: config.Duration(5 * time.Minute),
		Aggregates: aggs("inc", "increase(value)")})
	c := p.cols[0].(interface{ Series() int })
	var in []*event.Event
	for i := range 100 {
		in = append(in, scrape(0, "c", 1, "pod", "old-"+string(rune('a'+i%26))+string(rune('a'+i/26))))
	}
	p.Add(in, time.Time{})
	for m := range 12 {
		p.Add([]*event.Event{scrape(time.Duration(m)*time.Minute+time.Second, "c", float64(m), "pod", "live")}, time.Time{})
		p.Advance(at(time.Duration(m+1)*time.Minute + time.Second))
	}
	if n := c.Series(); n != 1 {
		t.Errorf("%d series followed after 12 minutes, want 1: the 100 quiet for more than idle_timeout 5m are dropped", n)
	}
	ws := r.take()
	if last := ws[len(ws)-1]; !sameFloat(last.Values[0], 1) {
		t.Errorf("last window of the live series: %v, want 1 (it kept its previous sample)", last.Values)
	}
}

// BenchmarkPipelineCounter is the per-sample cost of a Prometheus-style
// pipeline: 1,000 targets of 50 counter series (labels job, instance, cpu,
// mode) scraped every 10 s into 1-minute windows grouped by instance, with
// rate(value) against sum(value) over the same samples, so the difference
// is what following series costs. Run with
//
//	go test ./internal/window -run '^$' -bench PipelineCounter -benchtime 20x
//
// One op is one scrape round of all 50,000 samples; ns/sample (wall) and
// cpu-ns/sample (the thread's CPU time, which a loaded machine does not
// inflate) are reported.
func BenchmarkPipelineCounter(b *testing.B) {
	for _, fn := range []string{"sum", "rate", "increase"} {
		b.Run(fn, func(b *testing.B) {
			const targets, perTarget = 1000, 50
			p, err := New(config.Pipeline{Name: "node", Window: config.Window{Size: time.Minute}, GroupBy: []string{"instance"},
				Aggregates: aggs("v", fn+"(value)")}, func(*event.Window) {})
			if err != nil {
				b.Fatal(err)
			}
			events := make([]event.Event, targets*perTarget)
			ptrs := make([]*event.Event, len(events))
			for i := range events {
				events[i].Source = "node"
				events[i].Fields = map[string]any{"metric": "node_cpu_seconds_total", "value": 0.0, "job": "node",
					"instance": fmt.Sprintf("10.0.%d.%d:9100", i/perTarget/256, i/perTarget%256),
					"cpu":      strconv.Itoa(i % perTarget / 8), "mode": []string{"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"}[i%8]}
				ptrs[i] = &events[i]
			}
			runtime.LockOSThread() // threadCPU reads this thread's clock
			defer runtime.UnlockOSThread()
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for n := range b.N {
				b.StopTimer()
				ts := t0.Add(time.Duration(n) * 10 * time.Second)
				for i := range events {
					events[i].Time = ts
					events[i].Fields["value"] = float64(n*(i%7+1)) + 0.5
				}
				b.StartTimer()
				c0 := threadCPU()
				for i := 0; i < len(ptrs); i += 1000 {
					p.Add(ptrs[i:i+1000], time.Time{})
				}
				cpu += threadCPU() - c0
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/sample")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(events)), "cpu-ns/sample")
		})
	}
}
