package window

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// tid returns a distinct 32-hex-digit trace id for n.
func tid(n int) string { return fmt.Sprintf("%032x", n+1) }

// exemplarOf returns the window's exemplar of the named aggregate.
func exemplarOf(w *event.Window, name string) (event.Exemplar, bool) {
	for _, x := range w.Exemplars {
		if x.Aggregate == name {
			return x, true
		}
	}
	return event.Exemplar{}, false
}

func TestExemplars(t *testing.T) {
	tp := func(n int) string { return "00-" + tid(n) + "-00f067aa0ba902b7-01" }
	tests := []struct {
		name   string
		window config.Window
		events []*event.Event
		// want: aggregate → trace id ("" = no exemplar) and value
		want map[string]event.Exemplar
	}{
		{
			name:   "max takes the max event's trace_id",
			window: config.Window{Size: 10 * time.Second},
			events: []*event.Event{
				ev(1*time.Second, "latency", 0.1, "trace_id", tid(1)),
				ev(2*time.Second, "latency", 0.9, "trace_id", tid(2)),
				ev(3*time.Second, "latency", 0.5, "trace_id", tid(3)),
				ev(4*time.Second, "latency", 0.2),
			},
			want: map[string]event.Exemplar{"max": {TraceID: tid(2), Value: 0.9, Time: at(2 * time.Second)}},
		},
		{
			name:   "traceparent gives the trace id",
			window: config.Window{Size: 10 * time.Second},
			events: []*event.Event{
				ev(1*time.Second, "latency", 3.0, "traceparent", tp(7)),
				ev(2*time.Second, "latency", 1.0, "traceparent", tp(8)),
			},
			want: map[string]event.Exemplar{"max": {TraceID: tid(7), Value: 3, Time: at(time.Second)}},
		},
		{
			name:   "an untraced max leaves the largest traced event",
			window: config.Window{Size: 10 * time.Second},
			events: []*event.Event{
				ev(1*time.Second, "latency", 5.0, "trace_id", tid(1)),
				ev(2*time.Second, "latency", 9.0),
				ev(3*time.Second, "latency", 7.0, "trace_id", "not-hex"),
			},
			want: map[string]event.Exemplar{"max": {TraceID: tid(1), Value: 5, Time: at(time.Second)}},
		},
		{
			name:   "no trace fields: no exemplars",
			window: config.Window{Size: 10 * time.Second},
			events: []*event.Event{
				ev(1*time.Second, "latency", 5.0),
			},
			want: map[string]event.Exemplar{},
		},
		{
			name:   "sliding windows merge pane exemplars",
			window: config.Window{Size: 10 * time.Second, Every: 5 * time.Second},
			events: []*event.Event{
				ev(1*time.Second, "latency", 4.0, "trace_id", tid(1)),
				ev(6*time.Second, "latency", 8.0, "trace_id", tid(2)),
				ev(7*time.Second, "latency", 2.0, "trace_id", tid(3)),
			},
			// the first emitted window is [-5s, 5s): only the first event
			want: map[string]event.Exemplar{"max": {TraceID: tid(1), Value: 4, Time: at(time.Second)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, r := mustNew(t, config.Pipeline{
				Window:     tt.window,
				Aggregates: aggs("n", "count()", "max", "max(latency)"),
			})
			p.Add(tt.events, at(0))
			p.Advance(at(time.Hour))
			got := r.take()
			if len(got) == 0 {
				t.Fatal("no window emitted")
			}
			w := got[0]
			if len(w.Exemplars) != len(tt.want) {
				t.Fatalf("exemplars %+v, want %d", w.Exemplars, len(tt.want))
			}
			for name, want := range tt.want {
				x, ok := exemplarOf(w, name)
				if !ok || x.TraceID != want.TraceID || x.Value != want.Value || !x.Time.Equal(want.Time) {
					t.Errorf("exemplar of %s = %+v (found %v), want %+v", name, x, ok, want)
				}
			}
		})
	}
}

// TestSlidingWindowMergesExemplars checks the second window of a sliding
// pipeline: its max is in the later pane.
func TestSlidingWindowMergesExemplars(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		Window:     config.Window{Size: 10 * time.Second, Every: 5 * time.Second},
		Aggregates: aggs("max", "max(latency)"),
	})
	p.Add([]*event.Event{
		ev(1*time.Second, "latency", 4.0, "trace_id", tid(1)),
		ev(6*time.Second, "latency", 8.0, "trace_id", tid(2)),
	}, at(0))
	p.Advance(at(time.Hour))
	for _, w := range r.take() {
		if !w.End.Equal(at(10 * time.Second)) {
			continue
		}
		if x, ok := exemplarOf(w, "max"); !ok || x.TraceID != tid(2) {
			t.Fatalf("window [0s,10s) max exemplar %+v, want trace %s", x, tid(2))
		}
		return
	}
	t.Fatal("window [0s, 10s) not emitted")
}

// TestQuantileExemplarNearEstimate: the p90 exemplar is the traced event
// nearest the estimate, and max keeps its own.
func TestQuantileExemplarNearEstimate(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		Window:     config.Window{Size: time.Minute},
		Aggregates: aggs("p90", "quantile(latency, 0.9)", "max", "max(latency)"),
	})
	var evs []*event.Event
	for i := range 20 { // latencies 1..20, each traced with its own id
		evs = append(evs, ev(time.Duration(i)*time.Millisecond, "latency", float64(i+1), "trace_id", tid(i)))
	}
	p.Add(evs, at(0))
	p.Advance(at(time.Hour))
	got := r.take()
	if len(got) != 1 {
		t.Fatalf("%d windows, want 1", len(got))
	}
	w := got[0]
	est, _ := w.Value("p90")
	x, ok := exemplarOf(w, "p90")
	if !ok {
		t.Fatalf("no p90 exemplar in %+v", w.Exemplars)
	}
	// The nearest event value to the estimate is round(est); its trace is
	// that event's.
	nearest := math.Round(est)
	if x.Value != nearest || x.TraceID != tid(int(nearest)-1) {
		t.Errorf("p90 = %v: exemplar %+v, want value %v trace %s", est, x, nearest, tid(int(nearest)-1))
	}
	if m, _ := exemplarOf(w, "max"); m.Value != 20 || m.TraceID != tid(19) {
		t.Errorf("max exemplar %+v, want 20 with %s", m, tid(19))
	}
}

// TestExemplarsCostNothingWithoutTraces: events without trace fields whose
// values would enter the reservoir (rising values) allocate nothing, and
// traced events that do not beat the kept candidates allocate nothing.
func TestExemplarsCostNothingWithoutTraces(t *testing.T) {
	tests := []struct {
		name  string
		batch func(i int) []*event.Event
	}{
		{"untraced rising values", func(i int) []*event.Event {
			return []*event.Event{ev(time.Second, "service", "web", "latency", float64(i))}
		}},
		{"traced values below the kept ones", func(i int) []*event.Event {
			return []*event.Event{ev(time.Second, "service", "web", "latency", -float64(i), "trace_id", tid(i))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := mustNew(t, config.Pipeline{
				GroupBy:    []string{"service"},
				Window:     config.Window{Size: time.Hour},
				Aggregates: aggs("p99", "quantile(latency, 0.99)", "max", "max(latency)"),
			})
			// Open the window and fill the reservoirs with traced events.
			for i := range exemplarK {
				p.Add([]*event.Event{ev(time.Second, "service", "web", "latency", 0.0, "trace_id", tid(i))}, at(0))
			}
			batches := make([][]*event.Event, 200)
			for i := range batches {
				batches[i] = tt.batch(i + 1)
			}
			i := 0
			if n := testing.AllocsPerRun(100, func() { p.Add(batches[i], at(0)); i++ }); n != 0 {
				t.Errorf("Add allocates %v times per batch, want 0", n)
			}
		})
	}
}

func TestReservoirKeepsLargest(t *testing.T) {
	var r reservoir
	for _, v := range []float64{5, 1, 9, 3, 7, 2, 8} {
		r.insert(exCand{v: v})
	}
	want := []float64{9, 8, 7, 5}
	if r.n != len(want) {
		t.Fatalf("n = %d, want %d", r.n, len(want))
	}
	for i, w := range want {
		if r.c[i].v != w {
			t.Errorf("c[%d] = %v, want %v", i, r.c[i].v, w)
		}
	}
}
