package rule

import (
	"iter"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// newMutedHarness is newHarness with a MuteFunc.
func newMutedHarness(t *testing.T, mute MuteFunc, rules ...config.Rule) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0), path: filepath.Join(t.TempDir(), "state.db"), rules: rules, mute: mute}
	h.open(nil)
	return h
}

// pairs counts the firing and resolved notifications.
func pairs(sent []event.Alert) (firing, resolved int) {
	for _, a := range sent {
		switch a.State {
		case event.StateFiring:
			firing++
		case event.StateResolved:
			resolved++
		}
	}
	return firing, resolved
}

// TestFlappingKeepFiringFor feeds alternating bad and good 10 s windows for
// five minutes: without hysteresis every bad window fires and every good one
// resolves; with keep_firing_for: 1m there is one firing while it flaps and
// one resolved a minute after the last bad window.
func TestFlappingKeepFiringFor(t *testing.T) {
	tests := []struct {
		name         string
		keep         time.Duration
		resolveAfter int
		wantFiring   int
		wantResolved int
		// resolvedAfterLastBad is how long after the last bad window's end
		// the resolve comes (event time), when there is hysteresis.
		resolvedAfterLastBad time.Duration
	}{
		{name: "no hysteresis", wantFiring: 15, wantResolved: 15},
		{name: "keep_firing_for 1m", keep: time.Minute, wantFiring: 1, wantResolved: 1, resolvedAfterLastBad: time.Minute},
		{name: "resolve_after 2", resolveAfter: 2, wantFiring: 1, wantResolved: 1, resolvedAfterLastBad: 20 * time.Second},
		{name: "both: the later wins", keep: 30 * time.Second, resolveAfter: 2, wantFiring: 1, wantResolved: 1, resolvedAfterLastBad: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := highErrors(config.For{Count: 1}, time.Hour)
			r.KeepFiringFor = config.Duration(tt.keep)
			r.ResolveAfter = tt.resolveAfter
			h := newHarness(t, r)
			end := t0
			var lastBad time.Time
			var resolvedAt time.Time
			var rec []event.Transition
			for i := range 30 + 12 { // 30 flapping windows, then two minutes of good ones
				end = end.Add(10 * time.Second)
				h.clk.Set(end)
				vals := good
				if i < 30 && i%2 == 0 {
					vals, lastBad = bad, end
				}
				h.eng.OnWindow(win("api", end, vals))
				sent, r := h.take()
				rec = append(rec, r...)
				for _, a := range sent {
					if a.State == event.StateResolved {
						resolvedAt = a.ResolvedAt
					}
				}
				h.mu.Lock()
				h.sent = append(h.sent, sent...)
				h.mu.Unlock()
			}
			sent, _ := h.take()
			f, r2 := pairs(sent)
			if f != tt.wantFiring || r2 != tt.wantResolved {
				t.Fatalf("sent %d firing and %d resolved, want %d and %d", f, r2, tt.wantFiring, tt.wantResolved)
			}
			if tt.resolvedAfterLastBad > 0 {
				if got := resolvedAt.Sub(lastBad); got != tt.resolvedAfterLastBad {
					t.Errorf("resolved %s after the last bad window, want %s", got, tt.resolvedAfterLastBad)
				}
				// The held-back resolve is recorded, once.
				n := 0
				for _, tr := range rec {
					if strings.HasPrefix(tr.Decision, DecisionFlapping) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("recorded %d flapping decisions, want 1: %q", n, decisions(rec))
				}
			}
			if len(h.eng.Active()) != 0 {
				t.Errorf("still active after the input stayed good: %+v", h.eng.Active())
			}
		})
	}
}

// TestKeepFiringSurvivesRestart: a restart in the middle of a clean streak
// keeps holding the resolve until keep_firing_for has passed.
func TestKeepFiringSurvivesRestart(t *testing.T) {
	r := highErrors(config.For{Count: 1}, time.Hour)
	r.KeepFiringFor = config.Duration(time.Minute)
	h := newHarness(t, r)
	end := t0.Add(10 * time.Second)
	h.clk.Set(end)
	h.eng.OnWindow(win("api", end, bad))
	for range 3 {
		end = end.Add(10 * time.Second)
		h.clk.Set(end)
		h.eng.OnWindow(win("api", end, good))
	}
	h.restart()
	for range 2 {
		end = end.Add(10 * time.Second)
		h.clk.Set(end)
		h.eng.OnWindow(win("api", end, good))
	}
	sent, _ := h.take()
	if f, r := pairs(sent); f != 1 || r != 0 {
		t.Fatalf("50s after the last bad window: %d firing, %d resolved; want 1 and 0", f, r)
	}
	end = end.Add(10 * time.Second)
	h.eng.OnWindow(win("api", end, good))
	sent, _ = h.take()
	if len(sent) != 1 || sent[0].State != event.StateResolved || !sent[0].ResolvedAt.Equal(t0.Add(70*time.Second)) {
		t.Fatalf("60s after the last bad window sent %+v, want the resolve", sent)
	}
}

// TestMute: a muted alert fires without a notification and with the reason
// recorded once; when the mute lifts it is sent on the next window; repeat
// counts from then; an alert resolved while still muted sends no resolved.
func TestMute(t *testing.T) {
	var muted atomic.Value
	muted.Store("silence s1")
	var sawFiring atomic.Int32
	h := newMutedHarness(t, func(a event.Alert, firing iter.Seq[event.Alert]) string {
		for f := range firing {
			if f.Fingerprint == a.Fingerprint {
				sawFiring.Add(1)
			}
		}
		return muted.Load().(string)
	}, highErrors(config.For{Count: 1}, time.Hour))

	end := t0
	next := func(vals map[string]float64) ([]event.AlertState, []string) {
		end = end.Add(10 * time.Second)
		h.clk.Set(end)
		h.eng.OnWindow(win("api", end, vals))
		sent, rec := h.take()
		return states(sent), decisions(rec)
	}
	steps := []struct {
		name   string
		vals   map[string]float64
		unmute bool
		sent   []event.AlertState
		record []string
	}{
		{name: "fires muted", vals: bad, record: []string{"firing/suppressed: silence s1"}},
		{name: "still muted, not recorded again", vals: bad},
		{name: "silence ends: sent", vals: bad, unmute: true, sent: []event.AlertState{event.StateFiring}, record: []string{"firing/queued"}},
		{name: "repeat holds after the late send", vals: bad, record: []string{"firing/suppressed: repeat"}},
		{name: "resolves", vals: good, sent: []event.AlertState{event.StateResolved}, record: []string{"resolved/queued"}},
		{name: "fires muted again", vals: bad, record: []string{"firing/suppressed: silence s1"}},
		{name: "resolves unsent", vals: good, record: []string{"resolved/" + DecisionResolvedUnsent}},
	}
	for _, st := range steps {
		if st.unmute {
			muted.Store("")
		}
		if st.name == "fires muted again" {
			muted.Store("silence s1")
		}
		sent, rec := next(st.vals)
		if !slices.Equal(sent, st.sent) || !slices.Equal(rec, st.record) {
			t.Fatalf("%s: sent %v recorded %q; want %v and %q", st.name, sent, rec, st.sent, st.record)
		}
	}
	if sawFiring.Load() == 0 {
		t.Error("MuteFunc never saw the muted alert among the firing ones")
	}
}

// TestMuteRestart: an alert that fired muted is not sent after a restart
// while the mute holds, and is sent once it lifts.
func TestMuteRestart(t *testing.T) {
	var muted atomic.Bool
	muted.Store(true)
	h := newMutedHarness(t, func(event.Alert, iter.Seq[event.Alert]) string {
		if muted.Load() {
			return "inhibited by Other 00"
		}
		return ""
	}, highErrors(config.For{Count: 1}, time.Hour))
	end := t0.Add(10 * time.Second)
	h.eng.OnWindow(win("api", end, bad))
	h.restart()
	end = end.Add(10 * time.Second)
	h.eng.OnWindow(win("api", end, bad))
	if sent, _ := h.take(); len(sent) != 0 {
		t.Fatalf("sent %v while muted across a restart", states(sent))
	}
	muted.Store(false)
	end = end.Add(10 * time.Second)
	h.eng.OnWindow(win("api", end, bad))
	if sent, _ := h.take(); !slices.Equal(states(sent), []event.AlertState{event.StateFiring}) {
		t.Fatalf("after the mute lifted sent %v, want one firing", states(sent))
	}
}

// TestGroupingCarried: the rule's grouping travels with its alerts.
func TestGroupingCarried(t *testing.T) {
	r := highErrors(config.For{Count: 1}, time.Hour)
	r.GroupBy, r.GroupWait, r.GroupInterval = []string{"team"}, config.Duration(5*time.Second), config.Duration(time.Minute)
	h := newHarness(t, r)
	h.eng.OnWindow(win("api", t0, bad))
	sent, _ := h.take()
	want := event.Grouping{By: []string{"team"}, Wait: 5 * time.Second, Interval: time.Minute}
	if len(sent) != 1 || !slices.Equal(sent[0].Group.By, want.By) || sent[0].Group.Wait != want.Wait || sent[0].Group.Interval != want.Interval {
		t.Fatalf("sent %+v, want grouping %+v", sent, want)
	}
}

// TestAckStopsRepeats: once acknowledged (the MuteFunc says so), a firing
// alert is not re-sent by repeat, the hold is recorded once, and its
// resolved message still goes out.
func TestAckStopsRepeats(t *testing.T) {
	var acked atomic.Bool
	h := newMutedHarness(t, func(event.Alert, iter.Seq[event.Alert]) string {
		if acked.Load() {
			return "acknowledged by alice: on it"
		}
		return ""
	}, highErrors(config.For{Count: 1}, time.Minute))
	end := t0
	next := func(vals map[string]float64, advance time.Duration) ([]event.AlertState, []string) {
		end = end.Add(advance)
		h.clk.Set(end)
		h.eng.OnWindow(win("api", end, vals))
		sent, rec := h.take()
		return states(sent), decisions(rec)
	}
	if sent, _ := next(bad, 10*time.Second); !slices.Equal(sent, []event.AlertState{event.StateFiring}) {
		t.Fatalf("first window sent %v, want firing", sent)
	}
	acked.Store(true)
	var got []string
	for range 5 { // five minutes of repeats due
		sent, rec := next(bad, time.Minute)
		if len(sent) != 0 {
			t.Fatalf("an acknowledged alert was re-sent: %v", sent)
		}
		got = append(got, rec...)
	}
	if want := []string{"firing/suppressed: acknowledged by alice: on it"}; !slices.Equal(got, want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
	if sent, rec := next(good, 10*time.Second); !slices.Equal(sent, []event.AlertState{event.StateResolved}) || !slices.Equal(rec, []string{"resolved/queued"}) {
		t.Errorf("resolve of an acknowledged alert: sent %v recorded %q, want the resolved sent", sent, rec)
	}
}
