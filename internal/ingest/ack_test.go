package ingest

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/window"
)

// A broker's ack waits for the windows of its batch to close, without
// holding the batch's events in memory, and is released once they have.
func TestPendingAckDoesNotHoldEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got windows
		b := New(Options{Store: &memStore{}, Emit: got.emit})
		p := newPipeline(t, b, config.Pipeline{Name: "api", From: []string{"s"}, GroupBy: []string{"service"},
			Window: config.Window{Size: time.Minute}})
		b.Restore(Routes{Pipelines: []*window.Pipeline{p}})
		stop := run(b)
		defer stop()

		var acked atomic.Int64
		bt := batch("s", time.Now(), 0, 1)
		gone := weak.Make(bt.Events[0])
		bt.Ack = func(err error) {
			if err != nil {
				t.Errorf("ack error %v", err)
			}
			acked.Add(1)
		}
		if err := b.Submit(context.Background(), bt, nil); err != nil {
			t.Fatal(err)
		}
		bt = batch("", time.Time{}, 0, 0)
		synctest.Wait()
		runtime.GC()
		if gone.Value() != nil {
			t.Error("the pending ack keeps the batch's events alive until its window closes")
		}
		if acked.Load() != 0 {
			t.Fatal("acked before the window closed")
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if n := acked.Load(); n != 1 {
			t.Fatalf("acked %d times after the window closed, want 1", n)
		}
		if got.events() != 1 {
			t.Fatalf("%d events in emitted windows, want 1", got.events())
		}
	})
}
