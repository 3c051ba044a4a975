package app

import (
	"log/slog"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

// TestCatchupClosesByEventTimeWhileReplaying: a backlog replayed after a
// restart is not counted as late by the wall clock; live data and quiet
// pipelines go back to wall-clock closing.
func TestCatchupClosesByEventTimeWhileReplaying(t *testing.T) {
	var got []*event.Window
	p, err := window.New(config.Pipeline{
		Name: "p", From: []string{"s"}, Window: config.Window{Size: 10 * time.Second},
		Lateness:   config.Duration(time.Second),
		Aggregates: config.Aggregates{{Name: "n", Expr: "count()"}},
	}, func(w *event.Window) { got = append(got, w) })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_750_000_000, 0)
	c := catchup{log: slog.New(slog.DiscardHandler), state: map[*window.Pipeline]*replay{}, started: now,
		lateOf: func(*window.Pipeline) time.Duration { return time.Second }}
	// A backlog an hour old, replayed in order: nothing of it is late.
	var backlog []*event.Event
	for i := range 60 {
		backlog = append(backlog, &event.Event{Time: now.Add(-time.Hour + time.Duration(i)*time.Second), Fields: map[string]any{}})
	}
	p.Add(backlog[:30], c.clockFor(p, backlog[:30], now))
	p.Advance(c.tick(p, now.Add(100*time.Millisecond)))
	p.Add(backlog[30:], c.clockFor(p, backlog[30:], now.Add(200*time.Millisecond)))
	if s := p.Stats(); s.Late != 0 {
		t.Fatalf("%d replayed events counted late", s.Late)
	}
	if len(got) != 5 { // windows closed by event time: the 6th is still open
		t.Fatalf("%d windows emitted during replay, want 5", len(got))
	}
	// A current event ends catch-up: the wall clock closes the rest.
	live := []*event.Event{{Time: now.Add(300 * time.Millisecond), Fields: map[string]any{}}}
	if c.clockFor(p, live, now.Add(300*time.Millisecond)).IsZero() {
		t.Fatal("still in catch-up after a current event")
	}
	// A pipeline that hears nothing goes back to the wall clock after idleCatchup.
	q, _ := window.New(config.Pipeline{Name: "q", From: []string{"s"}, Window: config.Window{Size: time.Second},
		Aggregates: config.Aggregates{{Name: "n", Expr: "count()"}}}, func(*event.Window) {})
	if !c.tick(q, now).IsZero() || c.tick(q, now.Add(idleCatchup)).IsZero() {
		t.Fatal("an idle pipeline should close by wall clock after idleCatchup, not before")
	}
}
