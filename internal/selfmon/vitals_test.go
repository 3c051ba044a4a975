package selfmon

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// component returns the event of one component from events.
func component(t *testing.T, events []map[string]any, comp, name string) map[string]any {
	t.Helper()
	for _, e := range events {
		if e["component"] == comp && e["name"] == name {
			return e
		}
	}
	t.Fatalf("no %s %s event in %v", comp, name, events)
	return nil
}

func TestSourceSilence(t *testing.T) {
	for _, tc := range []struct {
		name        string
		src         SourceVitals
		silentAfter time.Duration
		at          time.Duration // after t0
		want        float64
		wantFor     float64
	}{
		{"pulled, succeeded 2 intervals ago", SourceVitals{Name: "s", Type: "http", Interval: 10 * time.Second, LastSuccess: t0.Add(80 * time.Second)}, 0, 100 * time.Second, 0, 20},
		{"pulled, succeeded 3.5 intervals ago", SourceVitals{Name: "s", Type: "http", Interval: 10 * time.Second, LastSuccess: t0.Add(65 * time.Second)}, 0, 100 * time.Second, 1, 35},
		{"pulled, never succeeded, counted from start", SourceVitals{Name: "s", Type: "host", Interval: time.Second}, 0, 4 * time.Second, 1, 4},
		{"pulled, never succeeded, still in grace", SourceVitals{Name: "s", Type: "host", Interval: time.Second}, 0, 2 * time.Second, 0, 2},
		{"push without silent_after is never silent", SourceVitals{Name: "s", Type: "push"}, 0, time.Hour, 0, 3600},
		{"push past silent_after", SourceVitals{Name: "s", Type: "push", LastSuccess: t0.Add(time.Minute)}, 5 * time.Minute, 7 * time.Minute, 1, 360},
		{"push within silent_after", SourceVitals{Name: "s", Type: "kafka", LastSuccess: t0.Add(5 * time.Minute)}, 5 * time.Minute, 7 * time.Minute, 0, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMonitor(t0)
			ev := m.Events(Vitals{Sources: []SourceVitals{tc.src}, SilentAfter: tc.silentAfter}, t0.Add(tc.at))
			got := component(t, ev, "source", "s")
			if got["silent"] != tc.want || got["silent_for_seconds"] != tc.wantFor {
				t.Errorf("silent = %v after %v s, want %v after %v s", got["silent"], got["silent_for_seconds"], tc.want, tc.wantFor)
			}
		})
	}
}

func TestSourceAddedByReloadGetsItsGracePeriod(t *testing.T) {
	m := NewMonitor(t0)
	m.Events(Vitals{}, t0.Add(time.Hour))
	src := SourceVitals{Name: "new", Type: "http", Interval: time.Second}
	ev := m.Events(Vitals{Sources: []SourceVitals{src}}, t0.Add(time.Hour))
	if got := component(t, ev, "source", "new")["silent"]; got != 0.0 {
		t.Fatalf("a source added an hour after start is silent at once")
	}
	ev = m.Events(Vitals{Sources: []SourceVitals{src}}, t0.Add(time.Hour+4*time.Second))
	if got := component(t, ev, "source", "new")["silent"]; got != 1.0 {
		t.Fatalf("silent = %v four intervals after it was added without a success, want 1", got)
	}
}

func TestLagRising(t *testing.T) {
	for _, tc := range []struct {
		name string
		lags []int64
		want float64
	}{
		{"rising three samples", []int64{10, 20, 30}, 1},
		{"two samples are not enough", []int64{10, 20}, 0},
		{"flat", []int64{10, 20, 20}, 0},
		{"falling back", []int64{10, 30, 20}, 0},
		{"rising again after a dip", []int64{50, 10, 20, 30}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMonitor(t0)
			var got any
			for i, l := range tc.lags {
				ev := m.Events(Vitals{Sources: []SourceVitals{{Name: "k", Type: "kafka", Lag: l}}}, t0.Add(time.Duration(i)*time.Second))
				got = component(t, ev, "source", "k")["lag_rising"]
			}
			if got != tc.want {
				t.Errorf("lag_rising after %v = %v, want %v", tc.lags, got, tc.want)
			}
		})
	}
}

func TestPipelineDeltas(t *testing.T) {
	m := NewMonitor(t0)
	m.Events(Vitals{Pipelines: []PipelineVitals{{Name: "p", Events: 100, Late: 1, Overflow: 2}}}, t0)
	// events, late and overflow are since the last sample; late_ratio is
	// over the samples of the last LateSpan (the first one: 100 events, 1
	// late, at t0).
	for _, tc := range []struct {
		name                          string
		at                            time.Duration
		pv                            PipelineVitals
		events, late, ratio, overflow float64
	}{
		{"since the last sample", time.Minute, PipelineVitals{Name: "p", Events: 150, Late: 11, Overflow: 2}, 50, 10, 11.0 / 150, 0},
		{"overflow grows", 2 * time.Minute, PipelineVitals{Name: "p", Events: 160, Late: 11, Overflow: 5}, 10, 0, 11.0 / 160, 3},
		{"nothing happened", 3 * time.Minute, PipelineVitals{Name: "p", Events: 160, Late: 11, Overflow: 5}, 0, 0, 11.0 / 160, 0},
		{"the first sample left the span", LateSpan, PipelineVitals{Name: "p", Events: 170, Late: 11, Overflow: 5}, 10, 0, 10.0 / 70, 0},
		{"rebuilt pipeline starts over", LateSpan + time.Minute, PipelineVitals{Name: "p", Events: 4, Late: 2}, 4, 2, 0.5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := component(t, m.Events(Vitals{Pipelines: []PipelineVitals{tc.pv}}, t0.Add(tc.at)), "pipeline", "p")
			if got["events"] != tc.events || got["late"] != tc.late || got["late_ratio"] != tc.ratio || got["overflow"] != tc.overflow {
				t.Errorf("got events %v late %v ratio %v overflow %v, want %v %v %v %v", got["events"], got["late"],
					got["late_ratio"], got["overflow"], tc.events, tc.late, tc.ratio, tc.overflow)
			}
		})
	}
}

func TestNotifierAndStoreEvents(t *testing.T) {
	m := NewMonitor(t0)
	ev := m.Events(Vitals{
		Notifiers: []NotifierVitals{
			{Name: "ops", Pending: 3, Oldest: t0.Add(-90 * time.Second), Attempts: 2, Sent: 7, Failed: 4, ConsecutiveFailures: 4},
			{Name: "idle", Oldest: t0.Add(-time.Hour)},
		},
		Store:   StoreVitals{Backlog: 1234},
		Process: Process{Goroutines: 12, IngestQueue: 5, IngestCapacity: 1024},
	}, t0)
	ops := component(t, ev, "notifier", "ops")
	for k, want := range map[string]float64{"pending": 3, "oldest_age_seconds": 90, "attempts": 2, "sent_total": 7, "failed_total": 4, "consecutive_failures": 4} {
		if ops[k] != want {
			t.Errorf("ops %s = %v, want %v", k, ops[k], want)
		}
	}
	if got := component(t, ev, "notifier", "idle")["oldest_age_seconds"]; got != 0.0 {
		t.Errorf("oldest_age_seconds with nothing pending = %v, want 0", got)
	}
	if got := component(t, ev, "store", "duckdb")["backlog"]; got != 1234.0 {
		t.Errorf("store backlog = %v, want 1234", got)
	}
	p := component(t, ev, "process", "lookout")
	if p["goroutines"] != 12.0 || p["store_backlog"] != 1234.0 || p["ingest_capacity"] != 1024.0 {
		t.Errorf("process event = %v", p)
	}
}
