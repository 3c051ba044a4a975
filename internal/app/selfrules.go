package app

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/selfmon"
)

// withSelf returns cfg with the built-in self-monitoring added — the
// lookout_self source and pipeline and the Lookout* rules — unless
// self.enabled is false. cfg itself is not modified: it stays what the user
// wrote, for Check and for reload's comparisons.
func withSelf(cfg *config.Config) *config.Config {
	if !cfg.Self.IsEnabled() {
		return cfg
	}
	src, pl, rules := selfmon.Builtin(cfg)
	c := *cfg
	c.Sources = append(append(make([]config.Source, 0, len(cfg.Sources)+1), cfg.Sources...), src)
	c.Pipelines = append(append(make([]config.Pipeline, 0, len(cfg.Pipelines)+1), cfg.Pipelines...), pl)
	c.Rules = append(append(make([]config.Rule, 0, len(cfg.Rules)+len(rules)), cfg.Rules...), rules...)
	return &c
}

// pipelineOf returns the pipeline a rule of the running config reads, or ""
// for an SQL rule or an unknown name.
func (a *App) pipelineOf(name string) string {
	for _, r := range a.g.Load().cfg.Rules {
		if r.Name == name {
			return r.Pipeline
		}
	}
	return ""
}

// vitals reads the running stages for the self source.
func (a *App) vitals() selfmon.Vitals {
	g := a.g.Load()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d := a.disp.Load()
	bs := a.bus.Stats()
	v := selfmon.Vitals{
		Process: selfmon.Process{
			Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc,
			IngestQueue: bs.QueuedEvents, IngestCapacity: bs.EventCapacity, OutboxPending: d.Pending(),
			EventsTotal: bs.Events, WindowsTotal: bs.Windows,
		},
		Store:       selfmon.StoreVitals{Backlog: a.store.Backlog()},
		SilentAfter: g.cfg.Self.SilentAfter.D(),
	}
	for _, rs := range g.sources {
		h := rs.health.Snapshot()
		sv := selfmon.SourceVitals{Name: h.Name, Type: h.Type, Up: h.Up, LastSuccess: h.LastSuccess, Events: h.Events, Lag: h.Lag}
		sv.Interval = rs.cfg.PullInterval()
		v.Sources = append(v.Sources, sv)
	}
	for _, p := range g.pipelines {
		s := p.Stats()
		// Events its where skipped are not the pipeline's: they would
		// dilute the late ratio of a pipeline that reads a busy source.
		v.Pipelines = append(v.Pipelines, selfmon.PipelineVitals{
			Name: p.Name(), Events: s.Events - s.Filtered, Late: s.Late, Overflow: s.Overflow, OpenWindows: s.OpenWindows,
		})
	}
	backlog, err := d.Backlog()
	if err != nil {
		a.log.Debug("reading outbox backlog", "err", err)
	}
	for _, n := range g.cfg.Notifiers {
		s := a.obs.notifier(n.Name)
		b := backlog[n.Name]
		v.Notifiers = append(v.Notifiers, selfmon.NotifierVitals{
			Name: n.Name, Pending: b.Pending, Oldest: b.Oldest, Attempts: b.Attempts,
			Sent: s.sent.Load(), Failed: s.failed.Load(), ConsecutiveFailures: s.consecutive.Load(),
		})
	}
	return v
}

// runDeadman runs the dead-man's switch until ctx is done; it idles while
// self.deadman.url is empty.
func (a *App) runDeadman(ctx context.Context) {
	d := &selfmon.Deadman{
		Settings: func() (string, time.Duration) {
			dm := a.g.Load().cfg.Self.Deadman
			return dm.URL.Reveal(), dm.Interval.D()
		},
		Healthy: a.healthy,
		HTTP:    &http.Client{},
		Log:     a.log,
	}
	d.Run(ctx)
}

// ingestProbe is how long the ingest loop may take to answer a liveness
// probe before lookout counts as stalled.
const ingestProbe = 5 * time.Second

// healthy says whether lookout works well enough to tell the outside world
// so: the ingest loop answers, and the store writer is not further behind
// than LookoutStoreBehind allows.
func (a *App) healthy(ctx context.Context) (bool, string) {
	probe, cancel := context.WithTimeout(ctx, ingestProbe)
	defer cancel()
	if err := a.bus.Do(probe, func() {}); err != nil {
		if ctx.Err() == nil && probe.Err() != nil {
			return false, "the ingest loop did not answer within " + ingestProbe.String()
		}
		return false, "stopping"
	}
	limit := float64(selfmon.DefaultStoreBacklog)
	if v, ok := a.state.Threshold(selfmon.ThresholdStoreBacklog); ok {
		limit = v
	}
	if b := a.store.Backlog(); float64(b) > limit {
		return false, "the store writer is behind"
	}
	return true, ""
}
