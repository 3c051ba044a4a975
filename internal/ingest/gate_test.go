package ingest

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// The queue is bounded in events, not batches: a full one refuses
// TrySubmit and holds Submit until processed events make room; a batch
// larger than the bound still gets into an empty queue.
func TestQueueBoundsEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Options{Store: &memStore{}, Emit: func(*event.Window) {}, MaxEvents: 10})
		b.Restore(Routes{})
		now := time.Now()
		if err := b.TrySubmit(batch("s", now, 0, 8), nil); err != nil {
			t.Fatal(err)
		}
		if err := b.TrySubmit(batch("s", now, 0, 3), nil); !errors.Is(err, source.ErrFull) {
			t.Fatalf("3 more events into 8 of 10: %v, want ErrFull", err)
		}
		if err := b.TrySubmit(batch("s", now, 0, 2), nil); err != nil {
			t.Fatal(err)
		}
		if q := b.Stats().QueuedEvents; q != 10 {
			t.Fatalf("queued events %d, want 10", q)
		}
		got := make(chan error, 1)
		go func() { got <- b.Submit(context.Background(), batch("s", now, 0, 5), nil) }()
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("Submit returned %v while the queue was full", err)
		default:
		}
		stop := run(b)
		synctest.Wait()
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if q := b.Stats().QueuedEvents; q != 0 {
			t.Fatalf("queued events %d after processing, want 0", q)
		}
		stop()
	})
	synctest.Test(t, func(t *testing.T) {
		b := New(Options{Store: &memStore{}, Emit: func(*event.Window) {}, MaxEvents: 10})
		b.Restore(Routes{})
		if err := b.TrySubmit(batch("s", time.Now(), 0, 25), nil); err != nil {
			t.Fatalf("an oversize batch refused by an empty queue: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Submit(ctx, batch("s", time.Now(), 0, 1), nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Submit into a full queue with a cancelled ctx = %v", err)
		}
		b.Stop()
		if err := b.Submit(context.Background(), batch("s", time.Now(), 0, 1), nil); !errors.Is(err, ErrStopping) {
			t.Fatalf("Submit after Stop = %v", err)
		}
		if err := b.TrySubmit(batch("s", time.Now(), 0, 1), nil); !errors.Is(err, ErrStopping) {
			t.Fatalf("TrySubmit after Stop = %v", err)
		}
	})
}
