package app

import (
	"context"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

type commitNow struct{}

func (commitNow) AfterCommit(_ context.Context, fn func(error)) error { fn(nil); return nil }

// A pending ack waits for its windows to close without holding the batch's
// events in memory, and is released once they have closed.
func TestPendingAckDoesNotHoldEvents(t *testing.T) {
	p, err := window.New(config.Pipeline{Name: "api", GroupBy: []string{"service"}, Window: config.Window{Size: time.Minute},
		Aggregates: config.Aggregates{{Name: "n", Expr: "count()"}}}, func(*event.Window) {})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := acker{store: commitNow{}, ctx: context.Background()}
	acked := 0
	e := &event.Event{Time: t0.Add(time.Second), Source: "s", Fields: map[string]any{"service": "a"}}
	gone := weak.Make(e)
	b := event.Batch{Source: "s", Events: []*event.Event{e}, Ack: func(err error) {
		if err != nil {
			t.Errorf("ack error %v", err)
		}
		acked++
	}}
	p.Add(b.Events, time.Time{})
	k.add(b, []*window.Pipeline{p})
	b, e = event.Batch{}, nil
	runtime.GC()
	if gone.Value() != nil {
		t.Error("the pending ack keeps the batch's events alive until its window closes")
	}
	if acked != 0 {
		t.Fatalf("acked before the window closed")
	}
	p.Advance(t0.Add(time.Minute))
	k.release()
	if acked != 1 {
		t.Fatalf("acked %d times after the window closed, want 1", acked)
	}
}
