package rule

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is an Engine on a fake clock and a real bbolt store, with the
// notifications and transitions it produced.
type harness struct {
	t      *testing.T
	clk    *clock.Fake
	path   string
	store  *state.Local
	eng    *Engine
	rules  []config.Rule
	mute   MuteFunc // handed to every Engine the harness builds
	mu     sync.Mutex
	sent   []event.Alert
	record []event.Transition
}

func newHarness(t *testing.T, rules ...config.Rule) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0), path: filepath.Join(t.TempDir(), "state.db"), rules: rules}
	h.open(nil)
	return h
}

// open (re)opens the store and builds a fresh Engine on it, as a restart does.
func (h *harness) open(threshold func(string) (float64, bool)) {
	h.t.Helper()
	st, err := state.OpenLocal(h.path)
	if err != nil {
		h.t.Fatalf("OpenLocal: %v", err)
	}
	h.t.Cleanup(func() { st.Close() })
	h.store = st
	eng, err := New(h.rules, Options{
		Store:     st,
		Clock:     h.clk,
		Threshold: threshold,
		Mute:      h.mute,
		Notify: func(a event.Alert) {
			h.mu.Lock()
			h.sent = append(h.sent, a)
			h.mu.Unlock()
		},
		Record: func(tr event.Transition) {
			h.mu.Lock()
			h.record = append(h.record, tr)
			h.mu.Unlock()
		},
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.eng = eng
}

func (h *harness) restart() {
	h.t.Helper()
	if err := h.store.Close(); err != nil {
		h.t.Fatalf("closing store: %v", err)
	}
	h.open(nil)
	if err := h.eng.Restore(context.Background()); err != nil {
		h.t.Fatalf("Restore: %v", err)
	}
}

// take returns and forgets what was sent and recorded so far.
func (h *harness) take() ([]event.Alert, []event.Transition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, r := h.sent, h.record
	h.sent, h.record = nil, nil
	return s, r
}

func states(as []event.Alert) []event.AlertState {
	var out []event.AlertState
	for _, a := range as {
		out = append(out, a.State)
	}
	return out
}

func decisions(ts []event.Transition) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t.State)+"/"+t.Decision)
	}
	return out
}

// win is a window of pipeline "api" for one service, ending at end.
func win(service string, end time.Time, vals map[string]float64) *event.Window {
	w := &event.Window{Pipeline: "api", Start: end.Add(-10 * time.Second), End: end,
		GroupKeys: []string{"service"}, Group: []string{service}}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range vals {
			if !yield(k) {
				return
			}
		}
	}) {
		w.Names = append(w.Names, k)
		w.Values = append(w.Values, vals[k])
	}
	return w
}

func highErrors(f config.For, repeat time.Duration) config.Rule {
	return config.Rule{
		Name:     "HighErrorRate",
		Pipeline: "api",
		When:     "error_rate > 0.05 && requests >= 20",
		For:      f,
		Repeat:   config.Duration(repeat),
		Severity: "critical",
		Summary:  "{{ .service }} error rate {{ .error_rate }}",
		Labels:   map[string]string{"team": "web"},
		Notify:   []string{"ops"},
	}
}

var (
	bad  = map[string]float64{"error_rate": 0.1, "requests": 100}
	good = map[string]float64{"error_rate": 0.01, "requests": 100}
)

type step struct {
	advance  time.Duration      // clock and event time move by this first (default 10s)
	vals     map[string]float64 // the window's values
	restart  bool               // close the store and start a new Engine before the window
	sent     []event.AlertState // notifications this window
	record   []string           // "state/decision" recorded this window
	active   event.AlertState   // state afterwards, "" for none
	consec   int                // Consecutive afterwards, when active
	stored   bool               // whether the store holds the instance afterwards
	resolved time.Time          // ResolvedAt of a resolved notification
}

func runSteps(t *testing.T, r config.Rule, steps []step) {
	t.Helper()
	h := newHarness(t, r)
	end := t0
	for i, s := range steps {
		adv := s.advance
		if adv == 0 {
			adv = 10 * time.Second
		}
		h.clk.Advance(adv)
		end = end.Add(adv)
		if s.restart {
			h.restart()
		}
		h.eng.OnWindow(win("checkout", end, s.vals))
		sent, rec := h.take()
		if got := states(sent); !slices.Equal(got, s.sent) {
			t.Errorf("step %d: notified %v, want %v", i, got, s.sent)
		}
		if got := decisions(rec); !slices.Equal(got, s.record) {
			t.Errorf("step %d: recorded %q, want %q", i, got, s.record)
		}
		for _, a := range sent {
			if a.State == event.StateResolved && !a.ResolvedAt.Equal(end) {
				t.Errorf("step %d: ResolvedAt = %v, want the window end %v", i, a.ResolvedAt, end)
			}
			if a.State == event.StateFiring && !a.LastSent.Equal(h.clk.Now()) {
				t.Errorf("step %d: LastSent = %v, want the clock's %v", i, a.LastSent, h.clk.Now())
			}
		}
		act := h.eng.Active()
		switch {
		case s.active == "" && len(act) != 0:
			t.Errorf("step %d: active %+v, want none", i, act)
		case s.active != "" && (len(act) != 1 || act[0].State != s.active || act[0].Consecutive != s.consec):
			t.Errorf("step %d: active %+v, want one %s with consecutive %d", i, act, s.active, s.consec)
		}
		stored, err := h.store.Load(context.Background())
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if (len(stored) == 1) != s.stored || len(stored) > 1 {
			t.Errorf("step %d: store holds %d alerts, want stored=%v", i, len(stored), s.stored)
		}
	}
}

func TestEngineStateMachine(t *testing.T) {
	const (
		P = event.StatePending
		F = event.StateFiring
		R = event.StateResolved
	)
	tests := []struct {
		name  string
		rule  config.Rule
		steps []step
	}{
		{
			name: "for 3 windows: pending, pending, firing",
			rule: highErrors(config.For{Count: 3}, time.Hour),
			steps: []step{
				{vals: bad, record: []string{"pending/"}, active: P, consec: 1, stored: true},
				{vals: bad, active: P, consec: 2, stored: true},
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 3, stored: true},
			},
		},
		{
			name: "for 0 fires at once",
			rule: highErrors(config.For{}, time.Hour),
			steps: []step{
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 1, stored: true},
			},
		},
		{
			name: "a false window resets the count",
			rule: highErrors(config.For{Count: 2}, time.Hour),
			steps: []step{
				{vals: bad, record: []string{"pending/"}, active: P, consec: 1, stored: true},
				{vals: good, record: []string{"inactive/"}},
				{vals: bad, record: []string{"pending/"}, active: P, consec: 1, stored: true},
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 2, stored: true},
			},
		},
		{
			name: "for as a duration counts event time from the first true window",
			rule: highErrors(config.For{Duration: 30 * time.Second}, time.Hour),
			steps: []step{
				{vals: bad, record: []string{"pending/"}, active: P, consec: 1, stored: true},
				{vals: bad, active: P, consec: 2, stored: true},
				{vals: bad, active: P, consec: 3, stored: true},
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 4, stored: true},
			},
		},
		{
			name: "repeat: suppressed once, re-sent after repeat",
			rule: highErrors(config.For{}, 5*time.Minute),
			steps: []step{
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 1, stored: true},
				{advance: time.Minute, vals: bad, record: []string{"firing/suppressed: repeat"}, active: F, consec: 2, stored: true},
				{advance: time.Minute, vals: bad, active: F, consec: 3, stored: true},
				{advance: 3 * time.Minute, vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 4, stored: true},
				{advance: time.Minute, vals: bad, record: []string{"firing/suppressed: repeat"}, active: F, consec: 5, stored: true},
			},
		},
		{
			name: "repeat 0 sends once",
			rule: highErrors(config.For{}, 0),
			steps: []step{
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 1, stored: true},
				{advance: 24 * time.Hour, vals: bad, record: []string{"firing/suppressed: repeat"}, active: F, consec: 2, stored: true},
			},
		},
		{
			name: "resolved once, then forgotten",
			rule: highErrors(config.For{}, time.Hour),
			steps: []step{
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 1, stored: true},
				{vals: good, sent: []event.AlertState{R}, record: []string{"resolved/queued"}},
				{vals: good},
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 1, stored: true},
			},
		},
		{
			name: "restart keeps firing, does not re-send within repeat, resolves later",
			rule: highErrors(config.For{}, 5*time.Minute),
			steps: []step{
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 1, stored: true},
				{advance: time.Minute, restart: true, vals: bad, record: []string{"firing/suppressed: repeat"}, active: F, consec: 2, stored: true},
				{restart: true, vals: good, sent: []event.AlertState{R}, record: []string{"resolved/queued"}},
			},
		},
		{
			name: "restart re-sends once repeat has passed",
			rule: highErrors(config.For{}, 5*time.Minute),
			steps: []step{
				{vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 1, stored: true},
				{advance: 6 * time.Minute, restart: true, vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 2, stored: true},
			},
		},
		{
			name: "restart resumes the for count",
			rule: highErrors(config.For{Count: 3}, time.Hour),
			steps: []step{
				{vals: bad, record: []string{"pending/"}, active: P, consec: 1, stored: true},
				{vals: bad, active: P, consec: 2, stored: true},
				{restart: true, vals: bad, sent: []event.AlertState{F}, record: []string{"firing/queued"}, active: F, consec: 3, stored: true},
			},
		},
		{
			name: "restart then false drops a pending alert",
			rule: highErrors(config.For{Count: 3}, time.Hour),
			steps: []step{
				{vals: bad, record: []string{"pending/"}, active: P, consec: 1, stored: true},
				{restart: true, vals: good, record: []string{"inactive/"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.rule, tt.steps) })
	}
}

func TestEngineNaNNeverFires(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		when string
		vals map[string]float64
	}{
		{"error_rate > 0.05", map[string]float64{"error_rate": nan}},
		{"error_rate < 0.05", map[string]float64{"error_rate": nan}},
		{"error_rate >= 0", map[string]float64{"error_rate": nan}},
		{"error_rate == error_rate", map[string]float64{"error_rate": nan}},
		{"error_rate != 0", map[string]float64{"error_rate": nan}},
		{"error_rate != 0 && requests > 1", map[string]float64{"error_rate": nan, "requests": 5}},
		{"error_rate / requests > 0.1", map[string]float64{"error_rate": nan, "requests": 5}},
		{"error_rate > threshold(\"x\", 0.1)", map[string]float64{"error_rate": nan}},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			h := newHarness(t, config.Rule{Name: "R", Pipeline: "api", When: tt.when})
			for i := range 3 {
				h.eng.OnWindow(win("checkout", t0.Add(time.Duration(i)*10*time.Second), tt.vals))
			}
			if sent, rec := h.take(); len(sent) != 0 || len(rec) != 0 {
				t.Errorf("NaN window produced notifications %+v and records %+v", sent, rec)
			}
			if act := h.eng.Active(); len(act) != 0 {
				t.Errorf("NaN window left active alerts %+v", act)
			}
		})
	}
}

func TestEngineNotEqualStillWorks(t *testing.T) {
	tests := []struct {
		when string
		want bool
	}{
		{`error_rate != 0`, true},
		{`error_rate != 0.1`, false},
		{`service != "web"`, true},
		{`service != "checkout"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			h := newHarness(t, config.Rule{Name: "R", Pipeline: "api", When: tt.when})
			h.eng.OnWindow(win("checkout", t0, map[string]float64{"error_rate": 0.1}))
			if got := len(h.eng.Active()) == 1; got != tt.want {
				t.Errorf("fired = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEngineGroupsAreIndependent(t *testing.T) {
	h := newHarness(t, highErrors(config.For{Count: 2}, time.Hour))
	end := t0
	next := func() time.Time { end = end.Add(10 * time.Second); return end }

	h.eng.OnWindow(win("checkout", next(), bad))
	h.eng.OnWindow(win("search", end, good))
	h.eng.OnWindow(win("checkout", next(), bad))
	h.eng.OnWindow(win("search", end, bad))
	sent, _ := h.take()
	if len(sent) != 1 || sent[0].Labels["service"] != "checkout" || sent[0].State != event.StateFiring {
		t.Fatalf("sent %+v, want only checkout firing", sent)
	}
	act := h.eng.Active()
	got := map[string]event.AlertState{}
	for _, a := range act {
		got[a.Labels["service"]] = a.State
	}
	want := map[string]event.AlertState{"checkout": event.StateFiring, "search": event.StatePending}
	if len(got) != 2 || got["checkout"] != want["checkout"] || got["search"] != want["search"] {
		t.Errorf("active by service = %v, want %v", got, want)
	}
	if act[0].Fingerprint == act[1].Fingerprint {
		t.Error("two groups share a fingerprint")
	}
	// Resolving one group leaves the other alone.
	h.eng.OnWindow(win("checkout", next(), good))
	if act := h.eng.Active(); len(act) != 1 || act[0].Labels["service"] != "search" {
		t.Errorf("after checkout resolved, active = %+v, want only search", act)
	}
}

func TestEngineAlertContent(t *testing.T) {
	r := highErrors(config.For{}, time.Hour)
	h := newHarness(t, r)
	end := t0.Add(10 * time.Second)
	h.eng.OnWindow(win("checkout", end, map[string]float64{"error_rate": 0.25, "requests": 40}))
	sent, _ := h.take()
	if len(sent) != 1 {
		t.Fatalf("sent %d alerts, want 1", len(sent))
	}
	a := sent[0]
	wantLabels := map[string]string{"service": "checkout", "team": "web", "alertname": "HighErrorRate", "severity": "critical"}
	if len(a.Labels) != len(wantLabels) {
		t.Errorf("labels = %v, want %v", a.Labels, wantLabels)
	}
	for k, v := range wantLabels {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"rule", a.Rule, "HighErrorRate"},
		{"value is the first aggregate in when", a.Value, 0.25},
		{"summary", a.Summary, "checkout error rate 0.25"},
		{"severity", a.Severity, "critical"},
		{"fingerprint", a.Fingerprint, Fingerprint("HighErrorRate", map[string]string{"service": "checkout"})},
		{"since", a.Since, end},
		{"notify", strings.Join(a.Notify, ","), "ops"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestEngineSummary(t *testing.T) {
	tests := []struct {
		name, summary, want string
	}{
		{"labels and values", "{{ .service }} has {{ .requests }} requests, team {{ .team }}", "checkout has 40 requests, team web"},
		{"printf", `{{ printf "%.1f%%" .error_rate }}`, "25.0%"},
		{"missing key", "{{ .nope }}", "<no value>"},
		{"run-time error keeps the raw text", "{{ .service.deep }}", "{{ .service.deep }} (summary template error: "},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := highErrors(config.For{}, time.Hour)
			r.Summary = tt.summary
			h := newHarness(t, r)
			h.eng.OnWindow(win("checkout", t0, map[string]float64{"error_rate": 25, "requests": 40}))
			act := h.eng.Active()
			if len(act) != 1 {
				t.Fatalf("active = %+v, want one alert", act)
			}
			if got := act[0].Summary; got != tt.want && !(strings.HasSuffix(tt.want, ": ") && strings.HasPrefix(got, tt.want)) {
				t.Errorf("summary = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEngineThreshold(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]float64
		rate float64
		want bool
	}{
		{"default used when unset", nil, 0.1, true},
		{"default used when unset, below", nil, 0.01, false},
		{"run-time value overrides the default", map[string]float64{"err": 0.5}, 0.1, false},
		{"run-time value overrides the default, above", map[string]float64{"err": 0.05}, 0.1, true},
		{"other names do not matter", map[string]float64{"cpu": 99}, 0.1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.rules = []config.Rule{{Name: "R", Pipeline: "api", When: `error_rate > threshold("err", 0.05)`}}
			for k, v := range tt.set {
				if err := h.store.SetThreshold(context.Background(), k, v); err != nil {
					t.Fatal(err)
				}
			}
			h.store.Close()
			h.open(nil)
			// Wire the store's own lookup, as the app does.
			eng, err := New(h.rules, Options{Store: h.store, Clock: h.clk, Threshold: h.store.Threshold})
			if err != nil {
				t.Fatal(err)
			}
			eng.OnWindow(win("checkout", t0, map[string]float64{"error_rate": tt.rate}))
			if got := len(eng.Active()) == 1; got != tt.want {
				t.Errorf("fired = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEngineThresholdChangesAtRunTime(t *testing.T) {
	h := newHarness(t)
	r := config.Rule{Name: "R", Pipeline: "api", When: `error_rate > threshold("err", 0.5)`}
	eng, err := New([]config.Rule{r}, Options{Clock: h.clk, Threshold: h.store.Threshold})
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]float64{"error_rate": 0.1}
	eng.OnWindow(win("checkout", t0, vals))
	if len(eng.Active()) != 0 {
		t.Fatal("fired before the threshold was lowered")
	}
	if err := h.store.SetThreshold(context.Background(), "err", 0.05); err != nil {
		t.Fatal(err)
	}
	eng.OnWindow(win("checkout", t0.Add(10*time.Second), vals))
	if len(eng.Active()) != 1 {
		t.Fatal("did not fire after the threshold was lowered")
	}
}

func TestEngineUnknownNamesAtRunTime(t *testing.T) {
	// Without Options.Pipelines a name the window lacks makes the condition
	// false instead of failing New.
	h := newHarness(t, config.Rule{Name: "R", Pipeline: "api", When: "latency > 1 || error_rate > 0.05"})
	h.eng.OnWindow(win("checkout", t0, map[string]float64{"error_rate": 0.5}))
	if act := h.eng.Active(); len(act) != 0 {
		t.Errorf("fired with a missing aggregate: %+v", act)
	}
	h.eng.OnWindow(win("checkout", t0.Add(time.Second), map[string]float64{"error_rate": 0.5, "latency": 0}))
	if act := h.eng.Active(); len(act) != 1 || act[0].Value != 0 {
		t.Errorf("active = %+v, want one alert with value latency=0", act)
	}
}

func TestEngineSkipsSQLRulesAndOtherPipelines(t *testing.T) {
	rules := []config.Rule{
		{Name: "ErrorsUpVsYesterday", SQL: "SELECT 1", Every: config.Duration(time.Minute)},
		{Name: "Other", Pipeline: "db", When: "true"},
	}
	h := newHarness(t, rules...)
	h.eng.OnWindow(win("checkout", t0, bad))
	if act := h.eng.Active(); len(act) != 0 {
		t.Errorf("active = %+v, want none", act)
	}
}

func TestNewCompileErrors(t *testing.T) {
	pipes := []config.Pipeline{{
		Name: "api", GroupBy: []string{"service"},
		Aggregates: config.Aggregates{{Name: "error_rate", Expr: "ratio(status >= 500)"}, {Name: "requests", Expr: "count()"}},
	}}
	ok := config.Rule{Name: "Ok", Pipeline: "api", When: "error_rate > 0.1"}
	tests := []struct {
		name  string
		rule  config.Rule
		pipes []config.Pipeline
		path  string
		msg   string // part of the error text
	}{
		{"syntax", config.Rule{Name: "R", Pipeline: "api", When: "error_rate >"}, nil, "when", "unexpected token"},
		{"not boolean, literal", config.Rule{Name: "R", Pipeline: "api", When: "1 + 2"}, nil, "when", "expected bool"},
		{"not boolean, typed", config.Rule{Name: "R", Pipeline: "api", When: "error_rate * 2"}, pipes, "when", "expected bool"},
		{"unknown name, typed", config.Rule{Name: "R", Pipeline: "api", When: "latency > 1"}, pipes, "when", "unknown name latency"},
		{"label compared with a number, typed", config.Rule{Name: "R", Pipeline: "api", When: "service != 1"}, pipes, "when", "mismatched types"},
		{"unknown pipeline, typed", config.Rule{Name: "R", Pipeline: "nope", When: "true"}, pipes, "pipeline", "unknown pipeline"},
		{"no pipeline", config.Rule{Name: "R", When: "true"}, nil, "pipeline", "needs a pipeline"},
		{"empty when", config.Rule{Name: "R", Pipeline: "api"}, nil, "when", "needs `when`"},
		{"summary template", config.Rule{Name: "R", Pipeline: "api", When: "true", Summary: "{{ .x "}, nil, "summary", "unclosed action"},
		{"duplicate name", config.Rule{Name: "Ok", Pipeline: "api", When: "true"}, nil, "name", "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]config.Rule{ok, tt.rule}, Options{Pipelines: tt.pipes})
			if err == nil {
				t.Fatal("New succeeded")
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CompileError", err)
			}
			if ce.Index != 1 || ce.Rule != tt.rule.Name || ce.Path != tt.path {
				t.Errorf("CompileError{Index:%d Rule:%q Path:%q}, want {1 %q %q}", ce.Index, ce.Rule, ce.Path, tt.rule.Name, tt.path)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "rules[1]."+tt.path) {
				t.Errorf("error %q lacks %q or rules[1].%s", err, tt.msg, tt.path)
			}
		})
	}
	t.Run("every error is reported", func(t *testing.T) {
		_, err := New([]config.Rule{
			{Name: "A", Pipeline: "api", When: "1"},
			{Name: "B", Pipeline: "api", When: "true", Summary: "{{"},
		}, Options{})
		var n int
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if _, ok := e.(*CompileError); ok {
				n++
			}
		}
		if n != 2 {
			t.Errorf("got %d CompileErrors in %v, want 2", n, err)
		}
	})
	t.Run("typed rules compile", func(t *testing.T) {
		r := config.Rule{Name: "R", Pipeline: "api", When: `service == "web" && error_rate > threshold("x", 1) && requests != 0`}
		if _, err := New([]config.Rule{r}, Options{Pipelines: pipes}); err != nil {
			t.Fatalf("New: %v", err)
		}
	})
}

func TestFingerprint(t *testing.T) {
	base := Fingerprint("R", map[string]string{"a": "1", "b": "2"})
	tests := []struct {
		name   string
		rule   string
		labels map[string]string
		same   bool
	}{
		{"same input", "R", map[string]string{"a": "1", "b": "2"}, true},
		{"insertion order does not matter", "R", map[string]string{"b": "2", "a": "1"}, true},
		{"other rule", "S", map[string]string{"a": "1", "b": "2"}, false},
		{"other value", "R", map[string]string{"a": "1", "b": "3"}, false},
		{"no ambiguity at the seams", "R", map[string]string{"a": "1\xffb", "": "2"}, false},
		{"fewer labels", "R", map[string]string{"a": "1"}, false},
	}
	if len(base) != 16 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("Fingerprint = %q, want 16 hex digits", base)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fingerprint(tt.rule, tt.labels) == base; got != tt.same {
				t.Errorf("equal to base = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestEngineRestoreDropsUnknownRules(t *testing.T) {
	h := newHarness(t, highErrors(config.For{}, time.Hour), config.Rule{Name: "Q", SQL: "SELECT 1"})
	ctx := context.Background()
	h.eng.OnWindow(win("checkout", t0, bad))
	sqlAlert := event.Alert{Rule: "Q", Fingerprint: "sql1", State: event.StateFiring}
	if err := h.store.Put(ctx, sqlAlert); err != nil {
		t.Fatal(err)
	}
	// Restart with the when rule removed from the config.
	h.rules = []config.Rule{{Name: "Q", SQL: "SELECT 1"}}
	h.restart()
	// The SQL rule's instance is the engine's too: it is restored.
	if act := h.eng.Active(); len(act) != 1 || act[0].Fingerprint != "sql1" {
		t.Errorf("active after restart = %+v, want only the SQL rule's alert", act)
	}
	stored, err := h.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].Fingerprint != "sql1" {
		t.Errorf("stored = %+v, want only the SQL rule's alert", stored)
	}
}

func TestEngineConcurrentWindows(t *testing.T) {
	h := newHarness(t, highErrors(config.For{Count: 2}, time.Hour))
	services := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() {
			for i := range 4 {
				h.eng.OnWindow(win(s, t0.Add(time.Duration(i)*10*time.Second), bad))
			}
		})
	}
	wg.Wait()
	sent, _ := h.take()
	if len(sent) != len(services) {
		t.Errorf("sent %d firing alerts, want one per service (%d)", len(sent), len(services))
	}
	if act := h.eng.Active(); len(act) != len(services) {
		t.Errorf("active = %d, want %d", len(act), len(services))
	}
}

func TestEnginePersistsBeforeNotify(t *testing.T) {
	// What the store holds at the moment each notification is handed on.
	ctx := context.Background()
	clk := clock.NewFake(t0)
	st, err := state.OpenLocal(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var seen []string
	eng, err := New([]config.Rule{highErrors(config.For{}, time.Minute)}, Options{
		Store: st,
		Clock: clk,
		Notify: func(a event.Alert) {
			stored, err := st.Load(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			desc := string(a.State) + ":"
			for _, s := range stored {
				desc += string(s.State) + "@" + s.LastSent.Sub(t0).String()
			}
			seen = append(seen, desc)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	eng.OnWindow(win("checkout", t0, bad))
	clk.Advance(2 * time.Minute)
	eng.OnWindow(win("checkout", t0.Add(10*time.Second), bad))
	eng.OnWindow(win("checkout", t0.Add(20*time.Second), good))
	want := []string{"firing:firing@0s", "firing:firing@2m0s", "resolved:"}
	if !slices.Equal(seen, want) {
		t.Errorf("store at notify time = %q, want %q", seen, want)
	}
}

func TestEngineStoreFailureStillNotifies(t *testing.T) {
	h := newHarness(t, highErrors(config.For{}, time.Hour))
	h.store.Close() // every Put now fails
	h.eng.OnWindow(win("checkout", t0, bad))
	if sent, _ := h.take(); len(sent) != 1 {
		t.Errorf("sent %d alerts with a broken store, want 1: a duplicate after a crash beats a lost alert", len(sent))
	}
}

func TestEngineNonBooleanAtRunTime(t *testing.T) {
	// Without Options.Pipelines, `error_rate` alone compiles (its type is
	// unknown) but is not a condition; it must not fire.
	for _, when := range []string{"error_rate", "error_rate + 1 > service"} {
		t.Run(when, func(t *testing.T) {
			h := newHarness(t, config.Rule{Name: "R", Pipeline: "api", When: when})
			h.eng.OnWindow(win("checkout", t0, map[string]float64{"error_rate": 1}))
			if act := h.eng.Active(); len(act) != 0 {
				t.Errorf("fired: %+v", act)
			}
		})
	}
}

func BenchmarkOnWindow(b *testing.B) {
	for _, bc := range []struct {
		name string
		vals map[string]float64
	}{
		{"false", good},
		{"firing-suppressed", bad},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := state.OpenLocal(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			eng, err := New([]config.Rule{highErrors(config.For{}, time.Hour)}, Options{Store: st, Clock: clock.NewFake(t0)})
			if err != nil {
				b.Fatal(err)
			}
			w := win("checkout", t0, bc.vals)
			eng.OnWindow(w) // fire once, so the loop measures the steady state
			b.ReportAllocs()
			for b.Loop() {
				eng.OnWindow(w)
			}
		})
	}
}
