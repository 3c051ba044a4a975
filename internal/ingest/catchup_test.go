package ingest

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/window"
)

// A backlog replayed after a restart is closed by event time, not counted
// as late by the wall clock; a current event ends the catch-up and the wall
// clock closes the rest.
func TestCatchupClosesByEventTimeWhileReplaying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got windows
		b := New(Options{Store: &memStore{}, Emit: got.emit})
		p := newPipeline(t, b, config.Pipeline{Name: "p", From: []string{"s"}, Window: config.Window{Size: 10 * time.Second},
			Lateness: config.Duration(time.Second)})
		b.Restore(Routes{Pipelines: []*window.Pipeline{p}})
		stop := run(b)
		defer stop()
		ctx := context.Background()
		now := time.Now()

		// A backlog an hour old, in order: nothing of it is late.
		if err := b.Submit(ctx, batch("s", now.Add(-time.Hour), time.Second, 30), nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := b.Submit(ctx, batch("s", now.Add(-time.Hour+30*time.Second), time.Second, 30), nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if s := p.Stats(); s.Late != 0 {
			t.Fatalf("%d replayed events counted late", s.Late)
		}
		if got.len() != 5 { // closed by event time: the 6th is still open
			t.Fatalf("%d windows emitted during the replay, want 5", got.len())
		}
		if err := b.Submit(ctx, batch("s", time.Now(), 0, 1), nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got.len() != 6 || got.events() != 60 {
			t.Fatalf("after a current event: %d windows with %d events, want 6 with the 60 replayed", got.len(), got.events())
		}
	})
}
