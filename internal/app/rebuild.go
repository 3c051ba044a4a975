package app

import (
	"context"
	"fmt"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

// maxReplay bounds the events read back at start to refill open windows.
const maxReplay = 5_000_000

// redelivers reports whether a source's broker hands unacknowledged messages
// to lookout again after a restart. Those sources refill their windows
// themselves (lookout acknowledges only after windows close), so replaying
// their stored events too would count them twice.
func redelivers(s config.Source) bool {
	switch s.Type {
	case "kafka", "mqtt":
		return true
	case "logfile":
		// Resumes from its saved position, which advances only past lines
		// whose windows were stored (source.Positions).
		return true
	case "redis", "nats":
		return s.Redelivers()
	}
	return false
}

// rebuildOpenWindows refills, at start, the windows that were open when
// lookout stopped: the events of sources that cannot redeliver are read back
// from the store (everything after the pipeline's newest stored window) and
// folded in by event time, so a restart — even a kill -9 — does not lose a
// half-filled window (beyond the store's last flush interval) and does not
// count it twice. With raw-event storage off there is nothing to read back.
func (a *App) rebuildOpenWindows(ctx context.Context, g *graph) error {
	if !a.storeEvents {
		return nil
	}
	start := time.Now()
	for _, p := range g.pipelines {
		pc := g.pipeCfg[p.Name()]
		if pc.Window.IsCount() {
			continue
		}
		var sources []string
		for _, name := range pc.From {
			if rs, ok := g.byName[name]; ok && !redelivers(rs.cfg) {
				sources = append(sources, name)
			}
		}
		since, err := a.lastWindowEnd(ctx, pc)
		if err != nil {
			return err
		}
		// Events stamped beyond max_future were kept out of the windows
		// when they came; a store written before they were flagged may
		// still hold some unflagged.
		future := a.clk.Now().Add(maxFuture(pc))
		if since.IsZero() {
			// Nothing was ever emitted, so nothing replayed can count twice:
			// refill the windows that could have been open when lookout
			// stopped — those around its newest stored event, however long
			// it was down (back from now, a restart later than the lateness
			// would leave the start of its only window out). Two windows and
			// the lateness back cover a window closed by the wall clock but
			// not stored, and the panes of a sliding window.
			newest, err := a.store.NewestEventTime(ctx, sources, future)
			if err != nil {
				return fmt.Errorf("refilling the open windows of %s: %w", p.Name(), err)
			}
			if newest.IsZero() {
				continue
			}
			since = newest.Add(-2*pc.Window.Size - pc.Lateness.D())
		}
		batch := make([]*event.Event, 0, 1024)
		flush := func() {
			p.Add(batch, time.Time{}) // event time only: the wall clock may not close them mid-replay
			batch = batch[:0]
		}
		n, err := a.store.ReplayEvents(ctx, sources, since, maxReplay, func(e *event.Event) error {
			if e.Time.After(future) {
				return nil
			}
			batch = append(batch, e)
			if len(batch) == cap(batch) {
				flush()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("refilling the open windows of %s: %w", p.Name(), err)
		}
		flush()
		if n > 0 {
			a.log.Info("refilled open windows from the store", "pipeline", p.Name(), "events", n,
				"since", since.UTC().Format(time.RFC3339), "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return nil
}

// maxFuture is the pipeline's max_future, defaulted.
func maxFuture(pc config.Pipeline) time.Duration {
	if d := pc.MaxFuture.D(); d > 0 {
		return d
	}
	return config.DefaultMaxFuture
}

// resume makes a new pipeline carry on from its stored windows: windows
// already stored before a restart stay emitted, so redelivered broker
// messages for them count as late instead of as a second copy, and windows
// not stored stay open, so their redelivered messages count into them once.
//
// The newest stored end alone cannot say which windows are stored: a kill
// can come between two commits of one close (the store commits by size and
// by time, not by close), leaving that end stored for some groups only, and
// resuming from it would count the others' redelivered events late and
// lose their windows. Three ways out were weighed: committing each close
// whole, which would tie the store's batching to the pipelines' closes and
// hold a close of many groups in memory until its last window; keeping a
// "closed through" mark per pipeline in the transaction of its windows,
// which needs a table and a request per close; and resuming per group,
// which needs only what the windows table holds once the store commits a
// pipeline's windows in the order they closed (store.takeWindows): then
// every window ending before the newest end is stored, and at the newest
// end exactly the groups found there are. This is the last.
func (a *App) resume(ctx context.Context, pc config.Pipeline, p *window.Pipeline) error {
	if pc.Window.IsCount() {
		return nil // count windows keep nothing to resume (window.Pipeline.Resume)
	}
	last, err := a.lastWindowEnd(ctx, pc)
	if err != nil || last.IsZero() {
		return err
	}
	stored, err := a.store.GroupsAt(ctx, pc.Name, last)
	if err != nil {
		return err
	}
	p.ResumeGroups(last, stored)
	return nil
}

// lastWindowEnd is the end of the pipeline's newest stored window, leaving
// out windows that end more than max_future ahead of the clock: only a bad
// clock stamps those, and resuming from one would count every later event
// late and refill nothing.
func (a *App) lastWindowEnd(ctx context.Context, pc config.Pipeline) (time.Time, error) {
	return a.store.LastWindowEndBefore(ctx, pc.Name, a.clk.Now().Add(maxFuture(pc)))
}
