package rule

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// ndStep moves the fake clock (and event time) on by advance, then either
// delivers windows (service → values) or, when there are none, calls Tick.
type ndStep struct {
	advance time.Duration
	windows map[string]map[string]float64
	restart bool     // close the store and start a new Engine first
	sent    []string // "rule state" notified during the step
	record  []string // "rule state/decision" recorded during the step
	active  []string // "rule service state" afterwards, sorted
}

func noDataRule(mode string, repeat, forget time.Duration) config.Rule {
	r := highErrors(config.For{Count: 2}, repeat)
	r.NoData = mode
	r.NoDataAfter = config.Duration(25 * time.Second)
	r.NoDataForget = config.Duration(forget)
	return r
}

func runNoData(t *testing.T, r config.Rule, steps []ndStep) *harness {
	t.Helper()
	h := newHarness(t, r)
	end := t0
	for i, s := range steps {
		h.clk.Advance(s.advance)
		end = end.Add(s.advance)
		if s.restart {
			h.restart()
		}
		if len(s.windows) == 0 {
			h.eng.Tick(h.clk.Now())
		}
		for _, svc := range slices.Sorted(maps.Keys(s.windows)) {
			h.eng.OnWindow(win(svc, end, s.windows[svc]))
		}
		sent, rec := h.take()
		var gotSent, gotRec []string
		for _, a := range sent {
			gotSent = append(gotSent, a.Rule+" "+string(a.State))
		}
		for _, tr := range rec {
			gotRec = append(gotRec, tr.Rule+" "+string(tr.State)+"/"+tr.Decision)
		}
		var gotActive []string
		for _, a := range h.eng.Active() {
			gotActive = append(gotActive, a.Rule+" "+a.Labels["service"]+" "+string(a.State))
		}
		slices.Sort(gotActive)
		if !slices.Equal(gotSent, s.sent) {
			t.Errorf("step %d: sent %q, want %q", i, gotSent, s.sent)
		}
		if !slices.Equal(gotRec, s.record) {
			t.Errorf("step %d: recorded %q, want %q", i, gotRec, s.record)
		}
		if !slices.Equal(gotActive, s.active) {
			t.Errorf("step %d: active %q, want %q", i, gotActive, s.active)
		}
	}
	return h
}

func both(v map[string]float64) map[string]map[string]float64 {
	return map[string]map[string]float64{"checkout": v, "search": good}
}

func only(v map[string]float64) map[string]map[string]float64 {
	return map[string]map[string]float64{"checkout": v}
}

const (
	hi   = "HighErrorRate"
	hiND = "HighErrorRateNoData"
)

func TestNoData(t *testing.T) {
	s := 10 * time.Second
	firingThenSilent := []ndStep{
		{advance: s, windows: only(bad), record: []string{hi + " pending/"}, active: []string{hi + " checkout pending"}},
		{advance: s, windows: only(bad), sent: []string{hi + " firing"}, record: []string{hi + " firing/queued"}, active: []string{hi + " checkout firing"}},
	}
	tests := []struct {
		name  string
		rule  config.Rule
		steps []ndStep
	}{
		{"reset: a firing group that stops sending resolves, and comes back pending", noDataRule("reset", 0, 0), append(slices.Clone(firingThenSilent),
			// 20s without a window: less than no_data_after (25s).
			ndStep{advance: 2 * s, active: []string{hi + " checkout firing"}},
			ndStep{advance: s, sent: []string{hi + " resolved"}, record: []string{hi + " resolved/resolved: no data for 25s", hi + " resolved/queued"}},
			// Acted on once: later ticks do nothing.
			ndStep{advance: time.Minute},
			// Back: the consecutive count starts over, so one bad window is pending, not firing.
			ndStep{advance: s, windows: only(bad), record: []string{hi + " pending/"}, active: []string{hi + " checkout pending"}},
		)},
		{"reset: a pending group that stops sending is dropped and its count restarts", noDataRule("reset", 0, 0), []ndStep{
			{advance: s, windows: both(bad), record: []string{hi + " pending/"}, active: []string{hi + " checkout pending"}},
			{advance: 3 * s, record: []string{hi + " inactive/reset: no data for 25s"}},
			{advance: s, windows: only(bad), record: []string{hi + " pending/"}, active: []string{hi + " checkout pending"}},
			{advance: s, windows: only(bad), sent: []string{hi + " firing"}, record: []string{hi + " firing/queued"}, active: []string{hi + " checkout firing"}},
		}},
		{"reset: a silent group that kept sending windows is untouched", noDataRule("reset", 0, 0), []ndStep{
			{advance: s, windows: both(bad), record: []string{hi + " pending/"}, active: []string{hi + " checkout pending"}},
			{advance: s, windows: both(bad), sent: []string{hi + " firing"}, record: []string{hi + " firing/queued"}, active: []string{hi + " checkout firing"}},
			{advance: s, windows: both(bad), record: []string{hi + " firing/suppressed: repeat"}, active: []string{hi + " checkout firing"}},
			{advance: s, windows: both(bad), active: []string{hi + " checkout firing"}},
			{advance: s, windows: both(bad), active: []string{hi + " checkout firing"}},
			{advance: 5 * time.Second, active: []string{hi + " checkout firing"}},
		}},
		{"reset: an inactive group that stops sending changes nothing", noDataRule("reset", 0, 0), []ndStep{
			{advance: s, windows: both(good)},
			{advance: time.Minute},
		}},
		{"keep: a firing group that stops sending stays firing", noDataRule("keep", 0, 0), append(slices.Clone(firingThenSilent),
			ndStep{advance: time.Hour, active: []string{hi + " checkout firing"}},
			ndStep{advance: s, windows: only(good), sent: []string{hi + " resolved"}, record: []string{hi + " resolved/queued"}},
		)},
		{"default is reset", noDataRule("", 0, 0), append(slices.Clone(firingThenSilent),
			ndStep{advance: 3 * s, sent: []string{hi + " resolved"}, record: []string{hi + " resolved/resolved: no data for 25s", hi + " resolved/queued"}},
		)},
		{"alert: a firing group that stops sending fires NoData, resolved when it comes back", noDataRule("alert", 0, 0), append(slices.Clone(firingThenSilent),
			ndStep{advance: 2 * s, active: []string{hi + " checkout firing"}},
			ndStep{advance: s, sent: []string{hiND + " firing"}, record: []string{hiND + " firing/queued"},
				active: []string{hi + " checkout firing", hiND + " checkout firing"}},
			// repeat 0: sent once.
			ndStep{advance: time.Hour, active: []string{hi + " checkout firing", hiND + " checkout firing"}},
			ndStep{advance: s, windows: only(good), sent: []string{hi + " resolved", hiND + " resolved"},
				record: []string{hi + " resolved/queued", hiND + " resolved/queued"}},
			// Silent again: a new NoData alert.
			ndStep{advance: time.Hour, sent: []string{hiND + " firing"}, record: []string{hiND + " firing/queued"}, active: []string{hiND + " checkout firing"}},
		)},
		{"alert: an inactive group that stops sending fires NoData", noDataRule("alert", 0, 0), []ndStep{
			{advance: s, windows: only(good)},
			{advance: 3 * s, sent: []string{hiND + " firing"}, record: []string{hiND + " firing/queued"}, active: []string{hiND + " checkout firing"}},
			{advance: s, windows: only(bad), sent: []string{hiND + " resolved"}, record: []string{hi + " pending/", hiND + " resolved/queued"},
				active: []string{hi + " checkout pending"}},
		}},
		{"alert: NoData is sent again after repeat", noDataRule("alert", time.Minute, 0), []ndStep{
			{advance: s, windows: only(good)},
			{advance: 3 * s, sent: []string{hiND + " firing"}, record: []string{hiND + " firing/queued"}, active: []string{hiND + " checkout firing"}},
			{advance: 30 * time.Second, active: []string{hiND + " checkout firing"}},
			{advance: 30 * time.Second, sent: []string{hiND + " firing"}, record: []string{hiND + " firing/queued"}, active: []string{hiND + " checkout firing"}},
		}},
		{"alert: a group silent for no_data_forget is forgotten and its alerts resolve", noDataRule("alert", 0, 10*time.Minute), append(slices.Clone(firingThenSilent),
			ndStep{advance: 3 * s, sent: []string{hiND + " firing"}, record: []string{hiND + " firing/queued"},
				active: []string{hi + " checkout firing", hiND + " checkout firing"}},
			ndStep{advance: 10 * time.Minute, sent: []string{hi + " resolved", hiND + " resolved"}, record: []string{
				hi + " resolved/resolved: no data for 10m, group forgotten", hi + " resolved/queued",
				hiND + " resolved/resolved: no data for 10m, group forgotten", hiND + " resolved/queued"}},
			ndStep{advance: 24 * time.Hour},
		)},
		{"reset after a restart: a firing group silent during the downtime resolves no_data_after later", noDataRule("reset", 0, 0), append(slices.Clone(firingThenSilent),
			// Down for an hour; the engine counts from the restart.
			ndStep{advance: time.Hour, restart: true, active: []string{hi + " checkout firing"}},
			ndStep{advance: 3 * s, sent: []string{hi + " resolved"}, record: []string{hi + " resolved/resolved: no data for 25s", hi + " resolved/queued"}},
		)},
		{"alert after a restart: a firing group silent during the downtime fires NoData", noDataRule("alert", 0, 0), append(slices.Clone(firingThenSilent),
			ndStep{advance: time.Hour, restart: true, active: []string{hi + " checkout firing"}},
			ndStep{advance: 3 * s, sent: []string{hiND + " firing"}, record: []string{hiND + " firing/queued"},
				active: []string{hi + " checkout firing", hiND + " checkout firing"}},
			// Restarted again while NoData fires: it stays, and is not re-sent...
			ndStep{advance: time.Minute, restart: true, active: []string{hi + " checkout firing", hiND + " checkout firing"}},
			ndStep{advance: time.Minute, active: []string{hi + " checkout firing", hiND + " checkout firing"}},
			// ...and resolves when the group is back.
			ndStep{advance: s, windows: only(good), sent: []string{hi + " resolved", hiND + " resolved"},
				record: []string{hi + " resolved/queued", hiND + " resolved/queued"}},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := runNoData(t, tt.rule, tt.steps)
			// Whatever is no longer active is no longer stored either.
			stored, err := h.store.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != len(h.eng.Active()) {
				t.Errorf("%d alerts stored, %d active", len(stored), len(h.eng.Active()))
			}
		})
	}
}

func TestNoDataAlertLabels(t *testing.T) {
	h := runNoData(t, noDataRule("alert", 0, 0), []ndStep{
		{advance: 10 * time.Second, windows: only(good)},
		{advance: 30 * time.Second, sent: []string{hiND + " firing"}, record: []string{hiND + " firing/queued"}, active: []string{hiND + " checkout firing"}},
	})
	a := h.eng.Active()[0]
	want := map[string]string{"alertname": hiND, "service": "checkout", "severity": "critical", "team": "web", "no_data": "true"}
	if !maps.Equal(a.Labels, want) {
		t.Errorf("labels %v, want %v", a.Labels, want)
	}
	if a.Fingerprint != Fingerprint(hiND, map[string]string{"service": "checkout"}) {
		t.Errorf("fingerprint %s is not the hash of %s and the group", a.Fingerprint, hiND)
	}
	if a.Value != 30 || !slices.Equal(a.Notify, []string{"ops"}) {
		t.Errorf("value %v notify %v; want 30 (seconds without data) and [ops]", a.Value, a.Notify)
	}
	if want := `HighErrorRate: no data from service="checkout" for 25s`; a.Summary != want {
		t.Errorf("summary %q, want %q", a.Summary, want)
	}
}

// The record of groups is bounded: reset forgets a group once it acted, and
// an inactive group with no alert state as soon as it is silent.
func TestNoDataForgetsGroups(t *testing.T) {
	h := newHarness(t, noDataRule("reset", 0, 0))
	for i := range 100 {
		h.eng.OnWindow(win("svc"+strings.Repeat("x", i), t0, good))
	}
	if n := len(h.eng.groups.m); n != 100 {
		t.Fatalf("%d groups recorded, want 100", n)
	}
	h.clk.Advance(30 * time.Second)
	h.eng.Tick(h.clk.Now())
	if n := len(h.eng.groups.m); n != 0 {
		t.Errorf("%d groups recorded after no_data_after, want 0", n)
	}
}

func TestNoDataAfterDefault(t *testing.T) {
	tests := []struct {
		name string
		pipe config.Pipeline
		want time.Duration
	}{
		{"tumbling: two windows plus lateness", config.Pipeline{Window: config.Window{Size: 10 * time.Second}, Lateness: config.Duration(2 * time.Second)}, 22 * time.Second},
		{"sliding: two steps plus lateness", config.Pipeline{Window: config.Window{Size: time.Minute, Every: 10 * time.Second}}, 20 * time.Second},
		{"count: no length, 5m", config.Pipeline{Window: config.Window{Count: 60}}, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pipe.Name = "api"
			tt.pipe.GroupBy = []string{"service"}
			tt.pipe.Aggregates = config.Aggregates{{Name: "error_rate", Expr: "ratio(x > 1)"}, {Name: "requests", Expr: "count()"}}
			e, err := New([]config.Rule{noDataRuleDefaultAfter()}, Options{Pipelines: []config.Pipeline{tt.pipe}})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.byName[hi].noData.after; got != tt.want {
				t.Errorf("no_data_after = %s, want %s", got, tt.want)
			}
		})
	}
}

func noDataRuleDefaultAfter() config.Rule {
	r := noDataRule("reset", 0, 0)
	r.NoDataAfter = 0
	return r
}

func TestNoDataNameClash(t *testing.T) {
	other := highErrors(config.For{}, 0)
	other.Name = hiND
	_, err := New([]config.Rule{noDataRule("alert", 0, 0), other}, Options{})
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Path != "no_data" || !strings.Contains(err.Error(), `"HighErrorRateNoData", which is another rule's name`) {
		t.Errorf("New = %v, want a no_data CompileError about the name clash", err)
	}
}

// A NoData alert that is muted is not lost: it goes out once nothing mutes it.
func TestNoDataMuted(t *testing.T) {
	h := newHarness(t, noDataRule("alert", 0, 0))
	muted := true
	h.mute = func(a event.Alert, _ iter.Seq[event.Alert]) string {
		if muted {
			return "silence 1"
		}
		return ""
	}
	h.restart() // a new Engine with the MuteFunc
	h.eng.OnWindow(win("checkout", t0, good))
	h.clk.Advance(30 * time.Second)
	h.eng.Tick(h.clk.Now())
	if sent, rec := h.take(); len(sent) != 0 || !slices.Equal(decisions(rec), []string{"firing/suppressed: silence 1"}) {
		t.Fatalf("muted: sent %d, recorded %q", len(sent), decisions(rec))
	}
	muted = false
	h.clk.Advance(time.Second)
	h.eng.Tick(h.clk.Now())
	if sent, _ := h.take(); !slices.Equal(states(sent), []event.AlertState{event.StateFiring}) {
		t.Errorf("unmuted: sent %v, want one firing", states(sent))
	}
}

// Tick scans at most every 250 ms, so a 20 ms caller costs little; the
// silence is then acted on at the next scan.
func TestNoDataTickThrottle(t *testing.T) {
	h := newHarness(t, noDataRule("alert", 0, 0))
	h.eng.OnWindow(win("checkout", t0, good))
	for _, s := range []struct {
		at   time.Duration
		sent int
	}{{24900 * time.Millisecond, 0}, {25 * time.Second, 0}, {25100 * time.Millisecond, 0}, {25150 * time.Millisecond, 1}} {
		h.clk.Set(t0.Add(s.at))
		h.eng.Tick(h.clk.Now())
		if sent, _ := h.take(); len(sent) != s.sent {
			t.Errorf("Tick at +%s sent %d, want %d", s.at, len(sent), s.sent)
		}
	}
}

// Tick runs concurrently with OnWindow (the app may call it from another
// goroutine): under -race, every firing alert sent is resolved exactly once
// once all groups are silent.
func TestNoDataConcurrent(t *testing.T) {
	h := newHarness(t, noDataRule("reset", 0, 0))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				vals := bad
				if i%7 == 6 {
					vals = good
				}
				h.eng.OnWindow(win(fmt.Sprintf("svc%d", g), t0.Add(time.Duration(i)*time.Second), vals))
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			h.clk.Advance(time.Second)
			h.eng.Tick(h.clk.Now())
		}
	})
	wg.Wait()
	h.clk.Advance(time.Minute)
	h.eng.Tick(h.clk.Now())
	if a := h.eng.Active(); len(a) != 0 {
		t.Errorf("%d alerts active after every group went silent", len(a))
	}
	sent, _ := h.take()
	n := map[string]int{}
	for _, a := range sent {
		if a.State == event.StateFiring {
			n[a.Fingerprint]++
		} else {
			n[a.Fingerprint]--
		}
	}
	for fp, d := range n {
		if d != 0 {
			t.Errorf("%s: %d more firing than resolved notifications", fp, d)
		}
	}
}
