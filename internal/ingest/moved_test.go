package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

// When parts of a source move to another lookout, the bus forgets the open
// windows they fed, drops their batches still queued, fails the acks of both
// (so the broker never commits them here), and keeps everything else.
func TestRevokedForgetsMovedOrigins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Options{Store: &memStore{}, Emit: func(*event.Window) {}})
		p := newPipeline(t, b, config.Pipeline{Name: "api", From: []string{"orders"}, GroupBy: []string{"service"},
			Window: config.Window{Size: time.Hour}, Lateness: config.Duration(time.Minute)})
		b.Restore(Routes{Pipelines: []*window.Pipeline{p}})
		stop := run(b)
		defer stop()

		var mu sync.Mutex
		acks := map[string]error{}
		mk := func(name, service string, origin int32, n int) event.Batch {
			bt := event.Batch{Source: "orders", Ack: func(err error) {
				mu.Lock()
				defer mu.Unlock()
				if _, dup := acks[name]; dup {
					t.Errorf("batch %s acknowledged twice", name)
				}
				acks[name] = err
			}}
			for range n {
				bt.Events = append(bt.Events, &event.Event{Time: time.Now(), Source: "orders", Origin: origin,
					Fields: map[string]any{"service": service}})
			}
			return bt
		}
		ctx := context.Background()
		for _, bt := range []event.Batch{mk("moved", "a", 1, 3), mk("stays", "b", 2, 2)} {
			if err := b.Submit(ctx, bt, nil); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if n := p.Stats().OpenWindows; n != 2 {
			t.Fatalf("open windows %d, want 2", n)
		}

		// Hold the ingest goroutine so that one more batch of the moved part
		// and one of another part wait in the queue, then forget there.
		queued, forgot := make(chan struct{}), make(chan struct{})
		b.control <- func() {
			<-queued
			b.forgetMoved("orders", []int32{1}, forgot)
		}
		for _, bt := range []event.Batch{mk("moved, queued", "a", 1, 4), mk("stays, queued", "c", 2, 1)} {
			if err := b.Submit(ctx, bt, nil); err != nil {
				t.Fatal(err)
			}
		}
		close(queued)
		<-forgot
		// A second move through the hook itself, of a part with nothing open.
		if err := b.Revoked(ctx, "orders", []int32{7}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		if got := p.Stats().OpenWindows; got != 2 {
			t.Errorf("open windows after the move: %d, want 2 (b's and c's)", got)
		}
		mu.Lock()
		for _, tc := range []struct {
			batch   string
			settled bool
			moved   bool
		}{
			{"moved", true, true},
			{"moved, queued", true, true},
			{"stays", false, false},
			{"stays, queued", false, false},
		} {
			err, settled := acks[tc.batch]
			if settled != tc.settled || errors.Is(err, errMoved) != tc.moved {
				t.Errorf("%s: ack settled %v with %v, want settled %v (moved %v)", tc.batch, settled, err, tc.settled, tc.moved)
			}
		}
		mu.Unlock()
		if m := b.Moved()["orders"]; m != (Moved{Forgotten: 1, Mixed: 0, Events: 4}) {
			t.Errorf("moved counts %+v, want 1 group forgotten, 4 queued events dropped", m)
		}
	})
}
