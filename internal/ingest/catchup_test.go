package ingest

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
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

// A restart after kill -9 on a broker that redelivers only after a delay —
// NATS JetStream redelivers what the dead run had not acknowledged after
// ack_wait (30 s), and the source waits for it before reading anything new —
// with traffic that stops 3 s after the restart. The restarted lookout gets
// nothing for 30 s, then the dead run's 200 messages, then the 30 written
// since. Every replayed event must end up in exactly one closed window, none
// late, and the windows must close once the source reports that nothing
// else waits — not only when traffic resumes.
func TestCatchupOutlastsRedeliveryAndEndsWhenDrained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got windows
		h := source.NewHealth("s", "redis", nil)
		b := New(Options{Store: &memStore{}, Emit: got.emit})
		p := newPipeline(t, b, config.Pipeline{Name: "p", From: []string{"s"}, GroupBy: []string{"service"},
			Window: config.Window{Size: 10 * time.Second}, Lateness: config.Duration(time.Second)})
		b.Restore(Routes{Pipelines: []*window.Pipeline{p}, Health: map[string]*source.Health{"s": h}})
		stop := run(b)
		defer stop()
		ctx := context.Background()
		restart := time.Now()
		var acked, handed atomic.Int64
		submit := func(bt event.Batch) {
			n := int64(len(bt.Events))
			bt.Ack = func(err error) {
				if err != nil {
					t.Errorf("ack: %v", err)
				}
				acked.Add(n)
			}
			if err := b.Submit(ctx, bt, nil); err != nil {
				t.Fatal(err)
			}
			handed.Add(n)
		}

		time.Sleep(30 * time.Second) // ack_wait: nothing comes
		// The dead run's 200 unacknowledged messages, of the 20 s before
		// the crash; the 30 written after the restart wait unread.
		for i := range 4 {
			submit(batch("s", restart.Add(-21*time.Second+time.Duration(i*50)*100*time.Millisecond), 100*time.Millisecond, 50))
		}
		// From now on the source reports its lag every 5 s: the messages
		// it has not handed over yet.
		quit := make(chan struct{})
		defer close(quit)
		go func() {
			for {
				h.SetLag(230 - handed.Load())
				select {
				case <-quit:
					return
				case <-time.After(5 * time.Second):
				}
			}
		}()
		time.Sleep(time.Second)
		synctest.Wait()
		if p.Stats().OpenWindows == 0 {
			t.Fatal("the wall clock closed the windows while entries still waited unread")
		}
		submit(batch("s", restart, 100*time.Millisecond, 30)) // read 31 s after the restart
		time.Sleep(6 * time.Second)                           // its next lag report, and a tick
		synctest.Wait()

		if s := p.Stats(); s.Late != 0 || s.OpenWindows != 0 || got.events() != 230 {
			t.Fatalf("6 s after the source read its backlog: %d of 230 events in closed windows, %d late, %d windows open",
				got.events(), s.Late, s.OpenWindows)
		}
		if acked.Load() != 230 {
			t.Fatalf("%d of 230 entries acknowledged", acked.Load())
		}
	})
}

// A pipeline whose sources cannot say what waits goes back to the wall
// clock after idle_timeout without input — not earlier, or a broker's
// delayed redelivery would be counted late.
func TestCatchupEndsAfterIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got windows
		b := New(Options{Store: &memStore{}, Emit: got.emit})
		p := newPipeline(t, b, config.Pipeline{Name: "p", From: []string{"s"}, GroupBy: []string{"service"},
			Window: config.Window{Size: 10 * time.Second}, Lateness: config.Duration(time.Second),
			IdleTimeout: config.Duration(40 * time.Second)})
		b.Restore(Routes{Pipelines: []*window.Pipeline{p}})
		stop := run(b)
		defer stop()

		time.Sleep(35 * time.Second) // a redelivery delay within idle_timeout
		if err := b.Submit(context.Background(), batch("s", time.Now().Add(-time.Minute), time.Second, 20), nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(39 * time.Second)
		synctest.Wait()
		if p.Stats().OpenWindows == 0 {
			t.Fatal("the wall clock took over before idle_timeout without input")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s := p.Stats(); s.Late != 0 || s.OpenWindows != 0 || got.events() != 20 {
			t.Fatalf("after idle_timeout: %d of 20 events in closed windows, %d late, %d windows open",
				got.events(), s.Late, s.OpenWindows)
		}
	})
}

// After a restart a Kafka source hands each partition's backlog over in a
// batch of its own. The first partition's newer events must not close the
// windows the second partition's backlog still feeds: every batch names the
// partitions the member owns (event.Batch.Parts), and the pipeline waits
// for each. A far-future event in the backlog does not end the catch-up.
func TestCatchupWaitsForEveryPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got windows
		b := New(Options{Store: &memStore{}, Emit: got.emit})
		p := newPipeline(t, b, config.Pipeline{Name: "p", From: []string{"k"}, Window: config.Window{Size: 10 * time.Second}})
		b.Restore(Routes{Pipelines: []*window.Pipeline{p}})
		stop := run(b)
		defer stop()
		ctx := context.Background()
		start := time.Now().Add(-time.Hour).Truncate(10 * time.Second)
		parts := []int32{1, 2}
		part := func(origin int32, step time.Duration, n int) event.Batch {
			bt := batch("k", start, step, n)
			for _, e := range bt.Events {
				e.Origin = origin
			}
			bt.Parts = parts
			return bt
		}
		// Partition 1's whole backlog (60 s), with one event a year ahead.
		p1 := part(1, time.Second, 60)
		p1.Events = append(p1.Events, &event.Event{Time: time.Now().Add(365 * 24 * time.Hour), Source: "k", Origin: 1,
			Fields: map[string]any{"service": "a"}})
		if err := b.Submit(ctx, p1, nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := got.len(); n != 0 {
			t.Fatalf("%d windows closed before partition 2's backlog came", n)
		}
		// Then partition 2's (60 s too).
		if err := b.Submit(ctx, part(2, time.Second, 60), nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s := p.Stats(); s.Late != 0 {
			t.Fatalf("%d replayed events counted late", s.Late)
		}
		if got.len() != 5 || got.events() != 100 {
			t.Fatalf("%d windows with %d events after both backlogs, want 5 with 100 (10 of each partition per window)", got.len(), got.events())
		}
	})
}

// A restart right after a window's end: the broker hands over the window's
// unacknowledged events together with the new ones, in one batch. The
// window, whose end and lateness passed while lookout was down, must get
// its replayed events, not count them late.
func TestCatchupBatchReachingThePresentGoesInByEventTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got windows
		b := New(Options{Store: &memStore{}, Emit: got.emit})
		p := newPipeline(t, b, config.Pipeline{Name: "p", From: []string{"s"}, Window: config.Window{Size: 2 * time.Second},
			Lateness: config.Duration(time.Second)})
		b.Restore(Routes{Pipelines: []*window.Pipeline{p}})
		stop := run(b)
		defer stop()
		now := time.Now()
		// Four events a second apart, from 3.5 s ago to now.
		if err := b.Submit(context.Background(), batch("s", now.Add(-3500*time.Millisecond), time.Second, 4), nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s := p.Stats(); s.Late != 0 {
			t.Fatalf("%d replayed events counted late", s.Late)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got.events() != 4 {
			t.Fatalf("windows hold %d events, want all 4", got.events())
		}
	})
}
