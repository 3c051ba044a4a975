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
// catch-up: only event time closes its windows, until
//
//   - an event arrives that is about current: the replay reached the present;
//   - every source it reads reports its backlog drained (source.Health
//     Backlog is 0: nothing waits at the broker that lookout was not handed
//     yet) and nothing waits in the queue; or
//   - no event arrives for the pipeline's idle_timeout: a quiet source, or
//     one that cannot say what waits.
//
// The wait for input must outlast a broker's redelivery delay (NATS
// ack_wait, 30 s by default), or the replay, coming after the wall clock took
// over, would all be late: idle_timeout is at least 30 s.
// Meanwhile a progress line says how far behind the pipeline is.
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

// progressEvery is how often a replaying pipeline logs its progress.
const progressEvery = 5 * time.Second

func (c *catchup) of(p *window.Pipeline, now time.Time) *replay {
	r := c.state[p]
	if r == nil {
		r = &replay{lastBatch: now}
		c.state[p] = r
	}
	return r
}

// clockFor returns the wall-clock time a pipeline may close windows by: now
// once it has caught up, the zero time (event time only) before.
func (c *catchup) clockFor(p *window.Pipeline, evs []*event.Event, now time.Time) time.Time {
	r := c.of(p, now)
	if r.done {
		return now
	}
	r.lastBatch = now
	r.events += int64(len(evs))
	// An event beyond max_future is flagged and kept out of windows by the
	// pipeline; it must not end the catch-up either, or the rest of the
	// backlog would count late.
	future := now.Add(p.MaxFuture())
	for _, e := range evs {
		if e.Time.After(r.latest) && !e.Time.After(future) {
			r.latest = e.Time
		}
	}
	slack := max(p.Lateness(), time.Second)
	if !r.latest.Before(now.Add(-slack)) && !p.PartsBehind(now.Add(-slack), now) {
		// The batch that reaches the present still goes in by event
		// time: a broker hands the rest of the backlog over with the new
		// messages, and the wall clock would close a window whose end
		// passed while lookout was down before its replayed events are
		// in it. From the next batch on the wall clock closes windows.
		c.end(p, r, now, "current events")
		return time.Time{}
	}
	if now.Sub(r.lastLog) >= progressEvery {
		r.lastLog = now
		c.log.Info("replaying backlog", "pipeline", p.Name(), "events", r.events,
			"behind", now.Sub(r.latest).Round(time.Second), "at", r.latest.UTC().Format(time.RFC3339))
	}
	return time.Time{}
}

// tick returns the time Advance may use for p: now once it has caught up,
// the zero time otherwise. drained reports whether every source of p has
// reported its backlog drained.
func (c *catchup) tick(p *window.Pipeline, now time.Time, drained func(*window.Pipeline) bool) time.Time {
	r := c.of(p, now)
	if !r.done {
		switch {
		case now.Sub(r.lastBatch) >= p.IdleTimeout():
			c.end(p, r, now, "no input for idle_timeout")
		case drained(p):
			c.end(p, r, now, "backlog drained")
		}
	}
	if r.done {
		return now
	}
	return time.Time{}
}

func (c *catchup) end(p *window.Pipeline, r *replay, now time.Time, why string) {
	r.done = true
	if r.events > 0 {
		c.log.Info("caught up with the backlog", "pipeline", p.Name(), "events", r.events,
			"took", now.Sub(c.started).Round(time.Millisecond), "by", why)
	}
}
