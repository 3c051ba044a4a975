package window

import (
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// An event a year ahead of the wall clock, with the default max_future,
// must not move the watermark: the windows of the events around it close
// by the wall clock, nothing later is late, and the event is flagged and
// counted in its group's next window.
func TestFutureEventDoesNotMoveTheWatermark(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		Window:     config.Window{Size: 10 * time.Second},
		Lateness:   config.Duration(time.Second),
		GroupBy:    []string{"service"},
		Aggregates: aggs("n", "count()"),
	})
	year := ev(365*24*time.Hour, "service", "x")
	batch := []*event.Event{ev(time.Second, "service", "x"), year, ev(2*time.Second, "service", "x")}
	p.Add(batch, at(2*time.Second))
	if year.Flags&event.FlagFuture == 0 {
		t.Fatalf("year-ahead event flags = %v, want future", year.Flags)
	}
	if batch[2].Flags != 0 {
		t.Fatalf("event after the future one has flags %v, want none", batch[2].Flags)
	}
	if got := r.take(); len(got) != 0 {
		t.Fatalf("windows emitted before their end: %+v", got)
	}
	later := ev(12*time.Second, "service", "x")
	p.Add([]*event.Event{later}, at(12*time.Second))
	if later.Flags != 0 {
		t.Fatalf("event after the future one has flags %v, want none", later.Flags)
	}
	got := r.take()
	if len(got) != 1 || got[0].End != at(10*time.Second) || got[0].Count != 2 || got[0].Future != 1 || got[0].Late != 0 {
		t.Fatalf("first window = %+v, want [0,10s) count 2 future 1 late 0", got)
	}
	p.Advance(at(21 * time.Second))
	got = r.take()
	if len(got) != 1 || got[0].End != at(20*time.Second) || got[0].Count != 1 || got[0].Future != 0 {
		t.Fatalf("second window = %+v, want [10s,20s) count 1 future 0", got)
	}
	if s := p.Stats(); s.Future != 1 || s.Late != 0 || s.OpenWindows != 0 {
		t.Errorf("stats = %+v, want Future 1, Late 0 and no window open a year ahead", s)
	}
}

func TestMaxFuture(t *testing.T) {
	p, _ := mustNew(t, config.Pipeline{
		Window:     config.Window{Size: 10 * time.Second},
		MaxFuture:  config.Duration(time.Minute),
		Aggregates: aggs("n", "count()"),
	})
	near, far := ev(time.Minute, "v", 1.0), ev(time.Minute+time.Millisecond, "v", 1.0)
	p.Add([]*event.Event{near, far}, at(0))
	if near.Flags != 0 || far.Flags != event.FlagFuture {
		t.Fatalf("flags at max_future = %v, just beyond = %v; want none and future", near.Flags, far.Flags)
	}
	// Without a wall clock (a replay tool) nothing is future.
	p2, _ := mustNew(t, config.Pipeline{Window: config.Window{Size: 10 * time.Second}, Aggregates: aggs("n", "count()")})
	e := ev(365*24*time.Hour, "v", 1.0)
	p2.Add([]*event.Event{e}, time.Time{})
	if e.Flags != 0 || p2.Stats().Future != 0 {
		t.Fatalf("replayed event flags = %v, want none", e.Flags)
	}
}

// While it catches up, a pipeline closes windows by event time only (Add
// gets no now), but its clock still tells a year-ahead event: it must not
// close the windows the replay is filling.
func TestFutureWhileCatchingUp(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		Window:     config.Window{Size: 10 * time.Second},
		Aggregates: aggs("n", "count()"),
	})
	p.SetClock(func() time.Time { return at(time.Hour) }) // the replayed events are an hour old
	year := ev(365*24*time.Hour, "v", 1.0)
	p.Add([]*event.Event{ev(time.Second, "v", 1.0), year, ev(2*time.Second, "v", 1.0)}, time.Time{})
	if year.Flags != event.FlagFuture {
		t.Fatalf("year-ahead event flags = %v, want future", year.Flags)
	}
	if got := r.take(); len(got) != 0 {
		t.Fatalf("the year-ahead event closed %d windows of the replay", len(got))
	}
	p.Add([]*event.Event{ev(15*time.Second, "v", 1.0)}, time.Time{})
	if got := r.take(); len(got) != 1 || got[0].Count != 2 || got[0].Future != 1 {
		t.Fatalf("windows = %+v, want [0,10s) with count 2 and future 1 closed by event time", got)
	}
}
