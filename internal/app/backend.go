package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/internal/api"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/store"
)

// backend implements the API's parts over the running stages.
type backend struct{ a *App }

// parts returns b as every part of the API's Backend.
func (b backend) parts() api.Backend {
	return api.Backend{
		Ingest: b, Windows: b, Alerts: b, History: b, Acks: b, Silences: b, Raw: b,
		Sources: b, Query: b, Thresholds: b, Reload: b, Ready: b,
	}
}

func (b backend) Ingest(ctx context.Context, name string, body []byte, waitStored bool) (event.PushResult, error) {
	rs, ok := b.a.g.Load().byName[name]
	if !ok || rs.push == nil {
		var names []string
		for _, s := range b.a.g.Load().sources {
			if s.push != nil {
				names = append(names, s.cfg.Name)
			}
		}
		return event.PushResult{}, fmt.Errorf("%w %q (push sources: %s)", api.ErrUnknownSource, name, strings.Join(names, ", "))
	}
	if waitStored {
		return rs.push.IngestStored(ctx, body, b.a.bus)
	}
	return rs.push.Ingest(body, b.a.bus)
}

func (b backend) Windows(ctx context.Context, q event.WindowQuery) ([]event.Window, error) {
	ws, err := b.a.store.Windows(ctx, q)
	if _, ok := b.a.g.Load().pipeCfg[q.Pipeline]; !ok && err == nil && len(ws) == 0 {
		// A typo answers 404, not an empty list; a pipeline removed by a
		// reload still shows the windows it left.
		return nil, api.ErrNotFound
	}
	return ws, err
}

func (b backend) ActiveAlerts() []event.Alert { return b.a.g.Load().rules.Active() }

func (b backend) History(ctx context.Context, limit int) ([]event.Transition, error) {
	return b.a.store.History(ctx, limit)
}

func (b backend) Raw(name string, n int) ([]event.RawMessage, error) {
	rs, ok := b.a.g.Load().byName[name]
	if !ok {
		return nil, api.ErrNotFound
	}
	return rs.ring.Last(n), nil
}

func (b backend) AlertRaw(ctx context.Context, rule string, group map[string]string, since time.Time, n int) ([]event.RawMessage, error) {
	g := b.a.g.Load()
	i := slices.IndexFunc(g.cfg.Rules, func(r config.Rule) bool { return r.Name == rule })
	if i < 0 || g.cfg.Rules[i].Pipeline == "" {
		return nil, api.ErrNotFound
	}
	p, ok := g.pipeCfg[g.cfg.Rules[i].Pipeline]
	if !ok {
		return nil, api.ErrNotFound
	}
	// An alert's labels are its group's values and the rule's own labels;
	// only the first are fields of the events.
	q := store.EventQuery{Sources: p.From, Fields: map[string]string{}, Since: since, Limit: n}
	for _, k := range p.GroupBy {
		if v, ok := group[k]; ok {
			q.Fields[k] = v
		}
	}
	evs, err := b.a.store.Events(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]event.RawMessage, len(evs))
	for i, e := range evs {
		out[i] = event.RawMessage{Time: e.Time, Data: e.Raw, Source: e.Source}
	}
	return out, nil
}

func (b backend) Sources() []event.HealthSnapshot {
	out := make([]event.HealthSnapshot, 0, len(b.a.g.Load().sources))
	for _, rs := range b.a.g.Load().sources {
		out = append(out, rs.health.Snapshot())
	}
	return out
}

func (b backend) Query(ctx context.Context, sql string) (*store.Result, error) {
	return b.a.store.Query(ctx, sql)
}

func (b backend) QueryStream(ctx context.Context, sql string, maxBytes int64, begin func(cols, types []string) error, emit func(row []any) (bool, error)) (bool, error) {
	return b.a.store.Stream(ctx, sql, maxBytes, begin, emit)
}

func (b backend) Thresholds(ctx context.Context) (map[string]float64, error) {
	return b.a.state.Thresholds(ctx)
}

func (b backend) SetThreshold(ctx context.Context, name string, v float64) error {
	if name == "" {
		return errors.New("threshold name is empty")
	}
	return b.a.state.SetThreshold(ctx, name, v)
}

func (b backend) Reload(ctx context.Context) ([]string, error) { return b.a.Reload(ctx) }

func (b backend) Ready() (bool, string) {
	if !b.a.ready.Load() {
		return false, "starting or stopping"
	}
	return true, ""
}
