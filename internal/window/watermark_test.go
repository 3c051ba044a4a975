package window

import (
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// TestWatermarkPerSource: with two sources, the fast one cannot close a
// window the slow one is still filling, until the slow one has been idle
// for idle_timeout.
func TestWatermarkPerSource(t *testing.T) {
	src := func(name string, d time.Duration) *event.Event {
		e := ev(d, "v", 1.0)
		e.Source = name
		return e
	}
	p, r := mustNew(t, config.Pipeline{
		Window: config.Window{Size: 10 * time.Second}, IdleTimeout: config.Duration(time.Minute),
		// The events must not count as future for the wall clock below.
		MaxFuture:  config.Duration(2 * time.Hour),
		Aggregates: aggs("n", "count()"),
	})
	wall := at(-time.Hour) // the wall clock is far behind: a replay
	p.Add([]*event.Event{src("live", time.Second), src("replay", 2*time.Second)}, wall)
	p.Add([]*event.Event{src("replay", 45*time.Second)}, wall) // replay races ahead
	if got := r.take(); len(got) != 0 {
		t.Fatalf("emitted %d windows while live was still at 1s", len(got))
	}
	p.Add([]*event.Event{src("live", 5*time.Second)}, wall) // live fills window 0
	p.Add([]*event.Event{src("live", 12*time.Second)}, wall)
	got := r.take()
	if len(got) != 1 || got[0].Count != 3 || !got[0].End.Equal(at(10*time.Second)) {
		t.Fatalf("got %v, want window 0..10s with 3 events once live passed 10s+lateness", got)
	}
	// live goes quiet: after idle_timeout the replay's watermark rules.
	p.Advance(wall.Add(30 * time.Second))
	if got := r.take(); len(got) != 0 {
		t.Fatalf("emitted %d windows before live was idle for idle_timeout", len(got))
	}
	p.Add([]*event.Event{src("replay", 46*time.Second)}, wall.Add(2*time.Minute))
	// The replay's 46s now closes 10s..20s (live's 12s); 40s..50s stays open.
	if got := r.take(); len(got) != 1 || !got[0].End.Equal(at(20*time.Second)) {
		t.Fatalf("got %v once live was idle, want window 10s..20s", got)
	}
}

// TestWatermarkPerPartition: after a restart, one Kafka partition replaying
// ahead of the others cannot close a window the others' backlog still
// feeds; and a partition that moved to another lookout stops holding the
// watermark back at once.
func TestWatermarkPerPartition(t *testing.T) {
	part := func(origin int32, d time.Duration) *event.Event {
		e := ev(d, "v", 1.0)
		e.Source, e.Origin = "kafka", origin
		return e
	}
	p, r := mustNew(t, config.Pipeline{
		Window: config.Window{Size: 10 * time.Second}, IdleTimeout: config.Duration(time.Minute),
		MaxFuture:  config.Duration(2 * time.Hour),
		Aggregates: aggs("n", "count()"),
	})
	wall := at(-time.Hour) // a replay: only event time closes windows
	p.ExpectParts("kafka", []int32{1, 2}, wall)
	p.Add([]*event.Event{part(1, time.Second), part(1, 25*time.Second)}, wall)
	p.Add([]*event.Event{part(2, 2*time.Second)}, wall)
	if got := r.take(); len(got) != 0 {
		t.Fatalf("emitted %v while partition 2 was still at 2s", got)
	}
	p.Add([]*event.Event{part(2, 8*time.Second), part(2, 11*time.Second)}, wall)
	got := r.take()
	if len(got) != 1 || got[0].Count != 3 || !got[0].End.Equal(at(10*time.Second)) {
		t.Fatalf("got %v, want window 0..10s with both partitions' 3 events", got)
	}
	// Partition 2 moves away: partition 1's 25s closes 10s..20s at once.
	p.Forget(func(origin int32) bool { return origin == 2 })
	p.Add([]*event.Event{part(1, 26*time.Second)}, wall)
	if got := r.take(); len(got) != 1 || !got[0].End.Equal(at(20*time.Second)) {
		t.Fatalf("got %v after partition 2 moved, want window 10s..20s", got)
	}
	// A partition announced but without events holds the watermark back
	// only until it has been idle for idle_timeout.
	p.ExpectParts("kafka", []int32{3}, wall)
	p.Add([]*event.Event{part(1, 45*time.Second)}, wall.Add(30*time.Second))
	if got := r.take(); len(got) != 0 {
		t.Fatalf("emitted %v while partition 3 had sent nothing yet", got)
	}
	p.Add([]*event.Event{part(1, 46*time.Second)}, wall.Add(2*time.Minute))
	if got := r.take(); len(got) != 1 || got[0].Count != 2 || !got[0].End.Equal(at(30*time.Second)) {
		t.Fatalf("got %v once partition 3 was idle, want window 20s..30s with 2 events", got)
	}
}

// TestLateCounts: late events show in the Late of the group's next window
// (late: drop), or in the corrected re-emission (late: update).
func TestLateCounts(t *testing.T) {
	for _, mode := range []string{"drop", "update"} {
		t.Run(mode, func(t *testing.T) {
			p, r := mustNew(t, config.Pipeline{
				GroupBy: []string{"k"}, Window: config.Window{Size: 10 * time.Second}, Late: mode,
				Aggregates: aggs("n", "count()", "s", "sum(v)"),
			})
			p.Add([]*event.Event{ev(time.Second, "k", "a", "v", 1.0), ev(15*time.Second, "k", "a", "v", 2.0)}, at(0))
			p.Advance(at(11 * time.Second)) // window 0..10s closes
			if got := r.take(); len(got) != 1 || got[0].Values[1] != 1 {
				t.Fatalf("got %v, want window 0..10s with sum 1", got)
			}
			late := ev(2*time.Second, "k", "a", "v", 10.0)
			p.Add([]*event.Event{late}, at(12*time.Second))
			if late.Flags&event.FlagLate == 0 {
				t.Error("late event not flagged")
			}
			got := r.take()
			if mode == "update" {
				if len(got) != 1 || !got[0].Update || got[0].Late != 1 || got[0].Values[1] != 11 || got[0].Count != 2 {
					t.Fatalf("got %+v, want a corrected window 0..10s: sum 11, count 2, late 1", got)
				}
			} else if len(got) != 0 {
				t.Fatalf("late: drop re-emitted %+v", got)
			}
			p.Advance(at(time.Hour))
			got = r.take()
			wantLate := int64(1)
			if mode == "update" {
				wantLate = 0 // already reported with the correction
			}
			if len(got) != 1 || got[0].Late != wantLate {
				t.Fatalf("next window: %+v, want Late %d", got, wantLate)
			}
			if s := p.Stats(); s.Late != 1 || s.OpenWindows != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestBaselineOverWindows: zscore over a group's earlier windows, with the
// cold start, and zscore of an earlier aggregate's value.
func TestBaselineOverWindows(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		Window: config.Window{Size: time.Second}, Baseline: 4, MinBaseline: 3,
		Aggregates: aggs("n", "count()", "nz", "zscore(n)", "vz", "zscore(v)", "d", "change(n)"),
	})
	counts := []int{10, 12, 10, 12, 30}
	for w, c := range counts {
		var batch []*event.Event
		for i := range c {
			batch = append(batch, ev(time.Duration(w)*time.Second+time.Duration(i)*time.Millisecond, "v", float64(w)))
		}
		p.Add(batch, time.Time{})
	}
	p.Advance(at(time.Hour))
	got := r.take()
	if len(got) != 5 {
		t.Fatalf("got %d windows, want 5", len(got))
	}
	for i := range 3 {
		if nz := got[i].Values[1]; nz == nz {
			t.Errorf("window %d: zscore %v during cold start, want NaN", i, nz)
		}
	}
	// window 3: baseline 10, 12, 10 → mean 32/3, sd sqrt(8/9)
	if nz := got[3].Values[1]; !sameFloat(nz, (12-32.0/3)/(2*1.4142135623730951/3)) {
		t.Errorf("window 3 zscore(n) = %v", nz)
	}
	// window 4: baseline 10, 12, 10, 12 → mean 11, sd 1
	if nz, d := got[4].Values[1], got[4].Values[3]; nz != 19 || d != 18 {
		t.Errorf("window 4 zscore(n) = %v, change(n) = %v; want 19 and 18", nz, d)
	}
	// zscore(v): v is the window number; baseline 0,1,2,3 → mean 1.5, sd sqrt(1.25)
	if vz := got[4].Values[2]; !sameFloat(vz, 2.5/1.118033988749895) {
		t.Errorf("window 4 zscore(v) = %v", vz)
	}
}
