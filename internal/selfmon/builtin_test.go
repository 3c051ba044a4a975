package selfmon

import (
	"slices"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/rule"
	"github.com/lookout-dev/lookout/internal/window"
)

// judge runs the built-in pipeline and rules, for real, over the events the
// Monitor makes of each reading in turn, and returns the alerts active after
// the last one as "Rule/name".
func judge(t *testing.T, cfg *config.Config, readings ...Vitals) []string {
	t.Helper()
	var out []string
	judgeEach(t, cfg, time.Second, readings, func(_ int, firing []string) { out = firing })
	return out
}

// judgeEach is judge with readings step apart, calling after with the
// alerts firing after each reading.
func judgeEach(t *testing.T, cfg *config.Config, step time.Duration, readings []Vitals, after func(i int, firing []string)) {
	t.Helper()
	_, pl, rules := Builtin(cfg)
	eng, err := rule.New(rules, rule.Options{Pipelines: []config.Pipeline{pl}})
	if err != nil {
		t.Fatalf("built-in rules do not compile: %v", err)
	}
	p, err := window.New(pl, eng.OnWindow)
	if err != nil {
		t.Fatalf("built-in pipeline does not compile: %v", err)
	}
	m := NewMonitor(t0)
	for i, v := range readings {
		now := t0.Add(time.Duration(i+1) * step)
		var evs []*event.Event
		for _, f := range m.Events(v, now) {
			evs = append(evs, &event.Event{Time: now, Source: config.SelfName, Fields: f})
		}
		p.Add(evs, now)
		var out []string
		for _, a := range eng.Active() {
			if a.State == event.StateFiring {
				out = append(out, a.Rule+"/"+a.Labels["name"])
			}
		}
		slices.Sort(out)
		after(i, out)
	}
}

// A pipeline whose every event is late fires LookoutLateEvents even when
// it gets one event a sample or none, keeps it firing while that lasts,
// and resolves once on-time events have filled the span.
func TestLateEventsJudgesTheRatioOverTheSpan(t *testing.T) {
	cfg := &config.Config{Self: config.Self{Interval: config.Duration(10 * time.Second)}}
	var readings []Vitals
	var events, late int64
	const allLate, onTime = 60, 40 // samples, 10 s apart: 10 minutes all late, then on time
	for i := range allLate + onTime {
		switch {
		case i >= allLate:
			events += 10
		case i%3 != 2: // one event in two samples of three, none in the third
			events, late = events+1, late+1
		}
		readings = append(readings, Vitals{Pipelines: []PipelineVitals{{Name: "api", Events: events, Late: late}}})
	}
	firstFiring, resolved := -1, -1
	judgeEach(t, cfg, 10*time.Second, readings, func(i int, firing []string) {
		on := slices.Contains(firing, RuleLateEvents+"/api")
		switch {
		case on && firstFiring < 0:
			firstFiring = i
		case !on && firstFiring >= 0 && i < allLate:
			t.Errorf("sample %d: LookoutLateEvents resolved while every event was still late", i)
		case !on && firstFiring >= 0 && resolved < 0:
			resolved = i
		}
	})
	if firstFiring < 0 || firstFiring >= allLate {
		t.Fatalf("LookoutLateEvents never fired while every event was late (one event in most samples)")
	}
	if resolved < 0 {
		t.Errorf("LookoutLateEvents still firing %v after late events stopped", time.Duration(onTime)*10*time.Second)
	}
}

func TestBuiltinRulesFireOnTheirFaultOnly(t *testing.T) {
	cfg := &config.Config{Self: config.Self{Interval: config.Duration(time.Second)}}
	healthy := Vitals{
		Sources:   []SourceVitals{{Name: "web", Type: "http", Interval: time.Hour, LastSuccess: t0, Up: true}},
		Pipelines: []PipelineVitals{{Name: "api"}},
		Notifiers: []NotifierVitals{{Name: "ops"}},
	}
	with := func(f func(v *Vitals)) Vitals {
		v := healthy
		v.Sources = slices.Clone(v.Sources)
		v.Pipelines = slices.Clone(v.Pipelines)
		v.Notifiers = slices.Clone(v.Notifiers)
		f(&v)
		return v
	}
	for _, tc := range []struct {
		name     string
		readings []Vitals
		want     []string
	}{
		{"healthy", []Vitals{healthy, healthy}, nil},
		{"silent source", []Vitals{with(func(v *Vitals) { v.Sources[0].Interval = 100 * time.Millisecond })}, []string{"LookoutSourceSilent/web"}},
		{"lag rising", []Vitals{
			with(func(v *Vitals) { v.Sources[0].Lag = 1 }),
			with(func(v *Vitals) { v.Sources[0].Lag = 5 }),
			with(func(v *Vitals) { v.Sources[0].Lag = 9 }),
		}, []string{"LookoutConsumerLag/web"}},
		{"lag rising then caught up", []Vitals{
			with(func(v *Vitals) { v.Sources[0].Lag = 1 }),
			with(func(v *Vitals) { v.Sources[0].Lag = 5 }),
			with(func(v *Vitals) { v.Sources[0].Lag = 9 }),
			with(func(v *Vitals) { v.Sources[0].Lag = 0 }),
		}, nil},
		{"notifier failing", []Vitals{with(func(v *Vitals) { v.Notifiers[0].ConsecutiveFailures = 3 })}, []string{"LookoutNotifierFailing/ops"}},
		{"two failures are not yet failing", []Vitals{with(func(v *Vitals) { v.Notifiers[0].ConsecutiveFailures = 2 })}, nil},
		{"outbox too full", []Vitals{with(func(v *Vitals) { v.Notifiers[0].Pending = 1001; v.Notifiers[0].Oldest = t0 })}, []string{"LookoutOutboxBacklog/ops"}},
		{"outbox entry too old", []Vitals{with(func(v *Vitals) { v.Notifiers[0].Pending = 1; v.Notifiers[0].Oldest = t0.Add(-10 * time.Minute) })}, []string{"LookoutOutboxBacklog/ops"}},
		{"store behind", []Vitals{with(func(v *Vitals) { v.Store.Backlog = 100001 })}, []string{"LookoutStoreBehind/duckdb"}},
		{"store behind, then caught up", []Vitals{with(func(v *Vitals) { v.Store.Backlog = 100001 }), healthy}, nil},
		{"late events", []Vitals{healthy, with(func(v *Vitals) { v.Pipelines[0].Events = 100; v.Pipelines[0].Late = 20 })}, []string{"LookoutLateEvents/api"}},
		{"a few late events among many", []Vitals{healthy, with(func(v *Vitals) { v.Pipelines[0].Events = 1000; v.Pipelines[0].Late = 20 })}, nil},
		{"overflow", []Vitals{healthy, with(func(v *Vitals) { v.Pipelines[0].Events = 10; v.Pipelines[0].Overflow = 1 })}, []string{"LookoutOverflow/api"}},
		{"overflow stopped", []Vitals{
			healthy,
			with(func(v *Vitals) { v.Pipelines[0].Events = 10; v.Pipelines[0].Overflow = 1 }),
			with(func(v *Vitals) { v.Pipelines[0].Events = 20; v.Pipelines[0].Overflow = 1 }),
		}, nil},
		{"stalled: up, lag, nothing delivered", seconds(62, func(int, *Vitals) {}, with(func(v *Vitals) { stall(v); v.Sources[0].Lag = 100 })), []string{"LookoutSourceStalled/web"}},
		{"not yet stalled", seconds(50, func(int, *Vitals) {}, with(func(v *Vitals) { stall(v); v.Sources[0].Lag = 100 })), nil},
		{"lag but delivering", seconds(62, func(i int, v *Vitals) { v.Sources[0].Events = int64(i) }, with(func(v *Vitals) { stall(v); v.Sources[0].Lag = 100 })), nil},
		{"quiet, nothing waits", seconds(62, func(int, *Vitals) {}, with(stall)), nil},
		{"stalled, then delivers", append(seconds(62, func(int, *Vitals) {}, with(func(v *Vitals) { stall(v); v.Sources[0].Lag = 100 })),
			with(func(v *Vitals) { stall(v); v.Sources[0].Lag = 90; v.Sources[0].Events = 10 })), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := judge(t, cfg, tc.readings...); !slices.Equal(got, tc.want) {
				t.Errorf("firing = %v, want %v", got, tc.want)
			}
		})
	}
}

// stall makes v's source a fed broker source that is up (with no pull
// schedule, so LookoutSourceSilent stays out of it).
func stall(v *Vitals) {
	v.Sources[0].Type, v.Sources[0].Interval, v.Sources[0].Lag = "kafka", 0, 0
}

// seconds returns n one-second readings of v, each changed by f with its index.
func seconds(n int, f func(i int, v *Vitals), v Vitals) []Vitals {
	out := make([]Vitals, n)
	for i := range out {
		out[i] = v
		out[i].Sources = slices.Clone(v.Sources)
		f(i, &out[i])
	}
	return out
}

func TestBuiltinNotifyAndOverride(t *testing.T) {
	cfg := &config.Config{
		Notifiers: []config.Notifier{{Name: "ops"}, {Name: "mail"}},
		Rules:     []config.Rule{{Name: RuleOverflow, Pipeline: "mine", When: "true"}},
	}
	src, pl, rules := Builtin(cfg)
	if src.Name != config.SelfName || src.Type != "self" || !slices.Equal(pl.From, []string{config.SelfName}) {
		t.Errorf("source %s/%s, pipeline from %v", src.Name, src.Type, pl.From)
	}
	for _, r := range rules {
		if r.Name == RuleOverflow {
			t.Errorf("the built-in %s is added although the config has its own", RuleOverflow)
		}
		if !slices.Equal(r.Notify, []string{"ops", "mail"}) {
			t.Errorf("%s notifies %v, want every notifier", r.Name, r.Notify)
		}
	}
	cfg.Self.Notify = []string{"mail"}
	_, _, rules = Builtin(cfg)
	if !slices.Equal(rules[0].Notify, []string{"mail"}) {
		t.Errorf("with self.notify [mail] the rules notify %v", rules[0].Notify)
	}
}
