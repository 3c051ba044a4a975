package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lookout-dev/lookout/internal/api"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/push"
	"github.com/lookout-dev/lookout/internal/store"
)

// backend implements api.Backend over the running stages.
type backend struct{ a *App }

func (b backend) Ingest(ctx context.Context, name string, body []byte, waitStored bool) (push.Result, error) {
	rs, ok := b.a.g.Load().byName[name]
	if !ok || rs.push == nil {
		var names []string
		for _, s := range b.a.g.Load().sources {
			if s.push != nil {
				names = append(names, s.cfg.Name)
			}
		}
		return push.Result{}, fmt.Errorf("%w %q (push sources: %s)", api.ErrUnknownSource, name, strings.Join(names, ", "))
	}
	if waitStored {
		return rs.push.IngestStored(ctx, body, b.a.bus)
	}
	return rs.push.Ingest(body, b.a.bus)
}

func (b backend) Windows(ctx context.Context, q store.WindowQuery) ([]event.Window, error) {
	return b.a.store.Windows(ctx, q)
}

func (b backend) ActiveAlerts() []event.Alert { return b.a.g.Load().rules.Active() }

func (b backend) History(ctx context.Context, limit int) ([]event.Transition, error) {
	return b.a.store.History(ctx, limit)
}

func (b backend) Raw(name string, n int) ([]source.RawMessage, error) {
	rs, ok := b.a.g.Load().byName[name]
	if !ok {
		return nil, api.ErrNotFound
	}
	return rs.ring.Last(n), nil
}

func (b backend) Sources() []source.HealthSnapshot {
	out := make([]source.HealthSnapshot, 0, len(b.a.g.Load().sources))
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

var _ api.Backend = backend{}
