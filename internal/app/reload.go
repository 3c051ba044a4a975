package app

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"
)

// reloadStats is what /metrics says about reloads.
type reloadStats struct {
	lastOK      atomic.Bool
	lastSuccess atomic.Int64 // Unix seconds
	failures    atomic.Int64
}

// Reload reads the config file again and applies it without losing state:
// unchanged pipelines keep their open windows, unchanged sources keep running
// (with their raw buffers and health), alert state of unchanged rules is kept
// (it lives in the state backend, keyed by fingerprint), and the outbox is
// untouched. A pipeline whose definition changed starts fresh, and says so. An
// invalid file is refused with its FILE:LINE errors and the running
// configuration stays. server.* and storage.* and state.* need a restart;
// changing them is refused rather than half-applied.
//
// It returns what changed.
func (a *App) Reload(ctx context.Context) ([]string, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	changes, err := a.reload(ctx)
	if err != nil {
		a.reloads.lastOK.Store(false)
		a.reloads.failures.Add(1)
		a.log.Error("reload refused", "err", err)
		return nil, err
	}
	a.reloads.lastOK.Store(true)
	a.reloads.lastSuccess.Store(a.clk.Now().Unix())
	if len(changes) == 0 {
		a.log.Info("config reloaded: no changes")
	}
	for _, c := range changes {
		a.log.Info("config reloaded", "change", c)
	}
	return changes, nil
}

func (a *App) reload(ctx context.Context) ([]string, error) {
	if a.runCtx == nil || a.runCtx.Err() != nil {
		return nil, errors.New("lookout is not running")
	}
	old := a.g.Load()
	if old.cfg.File == "" || old.cfg.File == "<default>" {
		return nil, nil // the built-in configuration cannot change
	}
	cfg, err := loadConfig(old.cfg.File)
	if err != nil {
		return nil, err
	}
	// Command-line overrides stay in force.
	cfg.Storage.Path, cfg.Server.Listen = old.cfg.Storage.Path, old.cfg.Server.Listen
	if err := Check(cfg); err != nil {
		return nil, err
	}
	switch {
	case !reflect.DeepEqual(cfg.Server, old.cfg.Server):
		return nil, errors.New("server settings changed: they need a restart (nothing was applied)")
	case !reflect.DeepEqual(cfg.Storage, old.cfg.Storage):
		return nil, errors.New("storage settings changed: they need a restart (nothing was applied)")
	case !reflect.DeepEqual(cfg.State, old.cfg.State):
		return nil, errors.New("state settings changed: they need a restart (nothing was applied)")
	}
	g, changes, err := a.buildGraph(old, cfg)
	if err != nil {
		return nil, err
	}
	notifiersChanged := !reflect.DeepEqual(stripLines(old.notifiers), stripLines(cfg.Notifiers))
	notifiers, err := a.buildNotifiers(cfg)
	if err != nil {
		return nil, err
	}

	// The swap happens on the ingest goroutine, between two batches: no window
	// is being evaluated, so the old rule engine has persisted everything and
	// the new one restores exactly that.
	if err := a.store.CreatePipelineViews(ctx, pipelineViews(g.cfg)); err != nil {
		return nil, fmt.Errorf("creating pipeline views: %w", err)
	}
	swap := func() error {
		// The old SQL rules stop first so that no evaluation of theirs
		// lands after the new engine restored the state.
		old.stopSQL()
		if err := g.rules.Restore(ctx); err != nil {
			a.startSQL(old)
			return fmt.Errorf("restoring alert state for the new rules: %w", err)
		}
		if notifiersChanged {
			// The outbox file is shared and single-opener: stop and close
			// the old dispatcher, then open the new one on the same file;
			// undelivered entries stay in the file and go to the new one.
			a.dispStop()
			if err := a.disp.Load().Close(); err != nil {
				a.log.Error("closing the old dispatcher", "err", err)
			}
			d, err := a.openDispatcher(cfg, notifiers)
			if err != nil {
				// Reopen with the old notifiers so alerts keep flowing.
				if d, err2 := a.newDispatcher(old.cfg); err2 == nil {
					a.disp.Store(d)
					a.startDispatcher()
				}
				return err
			}
			a.disp.Store(d)
			a.startDispatcher()
		}
		a.g.Store(g)
		a.startSQL(g)
		return nil
	}
	// The bus then forgets pending acks of replaced pipelines and carries
	// their baseline histories over.
	take, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.bus.Swap(take, g.routes(), swap); err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, errors.New("the ingest loop did not take the reload within 30s")
		}
		return nil, err
	}
	// Sources: stop the removed and changed ones, start the new ones.
	for _, rs := range old.sources {
		if g.byName[rs.cfg.Name] != rs {
			rs.stop()
		}
	}
	for _, rs := range g.sources {
		a.start(a.runCtx, rs)
	}
	return changes, nil
}
