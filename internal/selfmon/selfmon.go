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

// VitalsFunc returns a fresh reading of lookout's vital signs. It is called
// from the source's goroutine and must be safe for concurrent use.
type VitalsFunc func() Vitals

// Source emits lookout's vital signs as one event per component every
// interval.
type Source struct {
	cfg    config.Source
	deps   source.Deps
	vitals VitalsFunc
	mon    *Monitor
	host   string
}

// New returns the self-monitoring source.
func New(cfg config.Source, deps source.Deps, vitals VitalsFunc) *Source {
	host, _ := os.Hostname()
	return &Source{cfg: cfg, deps: deps, vitals: vitals, mon: NewMonitor(deps.Clock.Now()), host: host}
}

// Name returns the source's configured name.
func (s *Source) Name() string { return s.cfg.Name }

// DefaultInterval is the sampling interval when the config gives none.
const DefaultInterval = 10 * time.Second

// SourceType is the config type of the source self-monitoring adds.
const SourceType = "self"

func init() {
	config.RegisterSourceKind(SourceType, func() config.KindConfig { return &SourceConfig{} })
}

// SourceConfig is the settings of a self source, besides name, type and
// preprocessing.
type SourceConfig struct {
	// Interval is how often lookout samples itself. Default DefaultInterval.
	Interval config.Duration `yaml:"interval"`
}

// Defaults sets the interval.
func (c *SourceConfig) Defaults() { c.Interval = config.Duration(DefaultInterval) }

// Validate checks the interval.
func (c *SourceConfig) Validate(v *config.Validator) { v.Positive("interval", c.Interval <= 0) }

// Run emits until ctx is done.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	every := source.SettingsOf[SourceConfig](s.cfg).Interval.D()
	if every <= 0 {
		every = DefaultInterval
	}
	// In process: up while it runs, not only after the first sample an
	// interval from now (else the dashboard shows lookout_self down until
	// then).
	s.deps.Health.SetConnected(true)
	defer s.deps.Health.SetConnected(false)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Sample(ctx, sink); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// Sample reads the vital signs once and submits them as one batch.
func (s *Source) Sample(ctx context.Context, sink source.Sink) error {
	now := s.deps.Clock.Now()
	samples := s.mon.Events(s.vitals(), now)
	b := event.Batch{Source: s.cfg.Name, Events: make([]*event.Event, 0, len(samples))}
	size := 0
	for _, fields := range samples {
		fields["host"] = s.host
		raw, _ := json.Marshal(fields) // numbers and strings: cannot fail
		e := &event.Event{Time: now, Source: s.cfg.Name, Raw: raw, Fields: fields}
		s.deps.Pre.Apply(e, now)
		s.deps.Raw.Add(now, raw)
		size += len(raw)
		b.Events = append(b.Events, e)
	}
	s.deps.Health.Received(len(b.Events), size)
	s.deps.Health.Success()
	return sink.Submit(ctx, b, nil)
}

var _ source.Source = (*Source)(nil)
