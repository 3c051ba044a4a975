package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/internal/api"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/state"
)

// muter is what decides, for the rules of cfg, whether a firing notification
// is held back by a silence, an inhibit rule or an acknowledgement. Its Reason
// is rule.Options.Mute.
func (a *App) muter(cfg *config.Config) notify.Muter {
	return notify.Muter{Mutes: a.state, Inhibit: cfg.Inhibit, Clock: a.clk}
}

// dispatchMaxAges returns notify_max_age and the notifiers' own max_age, for
// notify.Options.MaxAge and MaxAges.
func dispatchMaxAges(cfg *config.Config) (time.Duration, map[string]time.Duration) {
	ages := map[string]time.Duration{}
	for _, n := range cfg.Notifiers {
		if n.MaxAge > 0 {
			ages[n.Name] = n.MaxAge.D()
		}
	}
	return cfg.NotifyMaxAge.D(), ages
}

func (b backend) Silences(ctx context.Context) ([]state.Silence, error) {
	return b.a.state.Silences(ctx)
}

func (b backend) AddSilence(ctx context.Context, s state.Silence) (state.Silence, error) {
	s.ID = state.NewID()
	if err := s.Validate(); err != nil {
		return state.Silence{}, fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	}
	if err := b.a.state.PutSilence(ctx, s); err != nil {
		return state.Silence{}, fmt.Errorf("adding silence: %w", err)
	}
	return s, nil
}

func (b backend) ExpireSilence(ctx context.Context, id string) error {
	sils, err := b.a.state.Silences(ctx)
	if err != nil {
		return err
	}
	now := b.a.clk.Now()
	for _, s := range sils {
		if s.ID != id {
			continue
		}
		switch s.State(now) {
		case state.SilenceExpired:
			return nil
		case state.SilencePending:
			// It never muted anything: nothing to keep.
			return b.a.state.DeleteSilence(ctx, id)
		}
		s.EndsAt = now
		if !s.EndsAt.After(s.StartsAt) {
			s.EndsAt = s.StartsAt.Add(time.Nanosecond)
		}
		if err := b.a.state.PutSilence(ctx, s); err != nil {
			return fmt.Errorf("expiring silence %s: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("%w: no silence %q", api.ErrNotFound, id)
}

func (b backend) Ack(ctx context.Context, fp string, ttl time.Duration, by, comment string) (state.Ack, error) {
	for _, al := range b.a.g.Load().rules.Active() {
		if al.Fingerprint != fp {
			continue
		}
		if al.State != event.StateFiring {
			return state.Ack{}, fmt.Errorf("%w: alert %s is %s, not firing", api.ErrBadRequest, fp, al.State)
		}
		now := b.a.clk.Now()
		ack := state.Ack{Fingerprint: fp, Since: al.Since, By: by, Comment: comment, At: now, Until: now.Add(ttl)}
		if err := b.a.state.PutAck(ctx, ack); err != nil {
			return state.Ack{}, fmt.Errorf("acknowledging %s: %w", fp, err)
		}
		return ack, nil
	}
	return state.Ack{}, fmt.Errorf("%w: no active alert %q", api.ErrNotFound, fp)
}

func (b backend) Unack(ctx context.Context, fp string) error {
	if err := b.a.state.DeleteAck(ctx, fp); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("%w: alert %q is not acknowledged", api.ErrNotFound, fp)
		}
		return err
	}
	return nil
}

func (b backend) Muting(al event.Alert) api.Muting {
	g := b.a.g.Load()
	m := b.a.muter(g.cfg).Status(al, g.rules.Firing())
	return api.Muting{SilencedBy: m.SilencedBy, InhibitedBy: m.InhibitedBy, Ack: m.Ack}
}

// HistoryFor reads the alerts table through the store's read-only query
// path, narrowed to a rule and/or fingerprint.
func (b backend) HistoryFor(ctx context.Context, q api.HistoryQuery) ([]event.Transition, error) {
	var where []string
	if q.Rule != "" {
		where = append(where, "rule = "+sqlString(q.Rule))
	}
	if q.Fingerprint != "" {
		where = append(where, "fingerprint = "+sqlString(q.Fingerprint))
	}
	sql := `SELECT ts, rule, fingerprint, CAST(labels AS VARCHAR) AS labels, state, value, summary, decision FROM alerts`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += fmt.Sprintf(" ORDER BY ts DESC, seq DESC LIMIT %d", max(q.Limit, 1))
	res, err := b.a.store.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("querying alert history: %w", err)
	}
	out := make([]event.Transition, 0, len(res.Rows))
	for _, row := range res.Rows {
		if len(row) < 8 {
			continue
		}
		t := event.Transition{Value: math.NaN()}
		if s, ok := row[0].(string); ok {
			t.Time, _ = time.Parse(time.RFC3339Nano, s)
		} else if tm, ok := row[0].(time.Time); ok {
			t.Time = tm
		}
		t.Rule, _ = row[1].(string)
		t.Fingerprint, _ = row[2].(string)
		if s, ok := row[3].(string); ok {
			_ = json.Unmarshal([]byte(s), &t.Labels)
		}
		st, _ := row[4].(string)
		t.State = event.AlertState(st)
		if v, ok := row[5].(float64); ok {
			t.Value = v
		}
		t.Summary, _ = row[6].(string)
		t.Decision, _ = row[7].(string)
		out = append(out, t)
	}
	return out, nil
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
