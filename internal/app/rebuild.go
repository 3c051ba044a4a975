package app

import (
	"context"
	"fmt"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
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

// lastWindowEnd is the end of the pipeline's newest stored window, leaving
// out windows that end more than max_future ahead of the clock: only a bad
// clock stamps those, and resuming from one would count every later event
// late and refill nothing.
func (a *App) lastWindowEnd(ctx context.Context, pc config.Pipeline) (time.Time, error) {
	return a.store.LastWindowEndBefore(ctx, pc.Name, a.clk.Now().Add(maxFuture(pc)))
}
