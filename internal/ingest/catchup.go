package ingest

import (
	"log/slog"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

// catchup keeps the wall clock from closing windows while a pipeline replays
// a backlog. ARCHITECTURE.md lets a window close by wall clock so that quiet
// sources do not hold results back; but right after a (re)start a broker may
// hand over minutes of older messages, and closing their windows by wall
// clock would count every one of them as late. So a pipeline starts in
// catch-up: only event time closes its windows, until either an event arrives
// that is about current (the backlog is drained) or no event arrives for
// idleCatchup (a quiet source: nothing to wait for). Meanwhile a progress line
// says how far behind it is.
//
// It is owned by the ingest goroutine.
type catchup struct {
	log     *slog.Logger
	state   map[*window.Pipeline]*replay
	started time.Time
}

type replay struct {
	lastBatch time.Time // wall clock of the last batch the pipeline got
	latest    time.Time // newest event time seen
	events    int64
	lastLog   time.Time
	done      bool
}

// idleCatchup is how long a pipeline without input stays in catch-up.
const idleCatchup = 10 * time.Second

// progressEvery is how often a replaying pipeline logs its progress.
const progressEvery = 5 * time.Second

// clockFor returns the wall-clock time a pipeline may close windows by: now
// once it has caught up, the zero time (event time only) before.
func (c *catchup) clockFor(p *window.Pipeline, evs []*event.Event, now time.Time) time.Time {
	r := c.state[p]
	if r == nil {
		r = &replay{lastBatch: now}
		c.state[p] = r
	}
	if r.done {
		return now
	}
	r.lastBatch = now
	r.events += int64(len(evs))
	for _, e := range evs {
		if e.Time.After(r.latest) {
			r.latest = e.Time
		}
	}
	slack := max(p.Lateness(), time.Second)
	if !r.latest.Before(now.Add(-slack)) {
		r.done = true
		if r.events > int64(len(evs)) {
			c.log.Info("caught up with the backlog", "pipeline", p.Name(), "events", r.events,
				"took", now.Sub(c.started).Round(time.Millisecond))
		}
		return now
	}
	if now.Sub(r.lastLog) >= progressEvery {
		r.lastLog = now
		c.log.Info("replaying backlog", "pipeline", p.Name(), "events", r.events,
			"behind", now.Sub(r.latest).Round(time.Second), "at", r.latest.UTC().Format(time.RFC3339))
	}
	return time.Time{}
}

// tick returns the time Advance may use for p: now once it has caught up or
// has been idle for idleCatchup, the zero time otherwise.
func (c *catchup) tick(p *window.Pipeline, now time.Time) time.Time {
	r := c.state[p]
	if r == nil {
		r = &replay{lastBatch: now}
		c.state[p] = r
	}
	if !r.done && now.Sub(r.lastBatch) >= idleCatchup {
		r.done = true
	}
	if r.done {
		return now
	}
	return time.Time{}
}
