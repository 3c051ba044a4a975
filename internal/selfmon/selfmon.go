// Package selfmon is lookout watching itself: the `self` source turns lookout's
// own vital signs (queue depths, writer backlog, outbox, goroutines, heap) into
// events every interval, so ordinary pipelines and rules can alert on them
// through the ordinary notifiers.
package selfmon

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// StatsFunc returns the current vital signs as event fields. Safe for concurrent use.
type StatsFunc func() map[string]any

// Source emits one event of lookout's own stats every interval.
type Source struct {
	cfg   config.Source
	deps  source.Deps
	stats StatsFunc
	host  string
}

// New returns the self-monitoring source.
func New(cfg config.Source, deps source.Deps, stats StatsFunc) *Source {
	host, _ := os.Hostname()
	return &Source{cfg: cfg, deps: deps, stats: stats, host: host}
}

// Name returns the source's configured name.
func (s *Source) Name() string { return s.cfg.Name }

// Run emits until ctx is done.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	every := s.cfg.Interval.D()
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := s.deps.Clock.Now()
		fields := s.stats()
		fields["host"] = s.host
		raw, _ := json.Marshal(fields) // map of numbers and strings: cannot fail
		e := &event.Event{Time: now, Source: s.cfg.Name, Raw: raw, Fields: fields}
		s.deps.Pre.Apply(e, now)
		s.deps.Raw.Add(now, raw)
		s.deps.Health.Received(1, len(raw))
		s.deps.Health.Success()
		if err := sink.Submit(ctx, event.Batch{Source: s.cfg.Name, Events: []*event.Event{e}}, nil); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

var _ source.Source = (*Source)(nil)
