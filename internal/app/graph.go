package app

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"sync"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/ingest"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/preprocess"
	"github.com/lookout-dev/lookout/internal/rule"
	"github.com/lookout-dev/lookout/internal/selfmon"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/push"
	"github.com/lookout-dev/lookout/internal/store"
	"github.com/lookout-dev/lookout/internal/window"
)

// graph is the part of lookout a config reload may replace: sources,
// pipelines, rules and notifiers. A published graph is never modified; a
// reload builds a new one that shares every unchanged part with the old one,
// so unchanged pipelines keep their open windows and unchanged sources their
// connections, raw buffers and health.
type graph struct {
	cfg       *config.Config
	pipelines []*window.Pipeline
	pipeCfg   map[string]config.Pipeline
	bySource  map[string][]*window.Pipeline
	rules     *rule.Engine
	sqlStop   func() // stops rules.RunSQL; set when started
	notifiers []config.Notifier
	sources   []*runningSource
	byName    map[string]*runningSource
}

type runningSource struct {
	cfg    config.Source
	src    source.Source
	push   *push.Source
	pre    *preprocess.Processor
	ring   *source.Ring
	health *source.Health

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// buildGraph builds the graph for cfg, reusing from old (which may be nil)
// every source and pipeline whose configuration did not change. It returns
// what changed, for the log and the reload answer. Nothing is started.
func (a *App) buildGraph(old *graph, cfg *config.Config) (*graph, []string, error) {
	cfg = withSelf(cfg) // the built-in self-monitoring (selfrules.go)
	g := &graph{
		cfg: cfg, pipeCfg: map[string]config.Pipeline{}, bySource: map[string][]*window.Pipeline{},
		byName: map[string]*runningSource{}, notifiers: cfg.Notifiers,
	}
	var changes []string
	oldPipes := map[string]*window.Pipeline{}
	oldSources := map[string]*runningSource{}
	if old != nil {
		for _, p := range old.pipelines {
			oldPipes[p.Name()] = p
		}
		for _, rs := range old.sources {
			oldSources[rs.cfg.Name] = rs
		}
	}
	for _, pc := range cfg.Pipelines {
		g.pipeCfg[pc.Name] = pc
		var p *window.Pipeline
		if op, ok := oldPipes[pc.Name]; ok && samePipeline(old.pipeCfg[pc.Name], pc) {
			p = op
		} else {
			np, err := window.New(pc, a.bus.Emit)
			if err != nil {
				return nil, nil, fmt.Errorf("pipeline %s: %w", pc.Name, err)
			}
			if err := a.resume(a.ctx, pc, np); err != nil {
				return nil, nil, err
			}
			np.SetClock(a.clk.Now)
			p = np
			if old != nil {
				if ok {
					changes = append(changes, "pipeline "+pc.Name+" changed: its windows start fresh")
				} else {
					changes = append(changes, "pipeline "+pc.Name+" added")
				}
			}
		}
		g.pipelines = append(g.pipelines, p)
		for _, s := range pc.From {
			g.bySource[s] = append(g.bySource[s], p)
		}
	}
	if old != nil {
		for name := range oldPipes {
			if _, ok := g.pipeCfg[name]; !ok {
				changes = append(changes, "pipeline "+name+" removed")
			}
		}
	}
	for _, sc := range cfg.Sources {
		if rs, ok := oldSources[sc.Name]; ok && sameSource(rs.cfg, sc) {
			g.sources = append(g.sources, rs)
			g.byName[sc.Name] = rs
			continue
		}
		rs, err := a.newSource(sc)
		if err != nil {
			return nil, nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		g.sources = append(g.sources, rs)
		g.byName[sc.Name] = rs
		if old != nil {
			if _, ok := oldSources[sc.Name]; ok {
				changes = append(changes, "source "+sc.Name+" changed: restarted")
			} else {
				changes = append(changes, "source "+sc.Name+" added")
			}
		}
	}
	// Without stored raw events nothing but the pipelines reads an
	// event's fields: decode only those (and the trace fields exemplars
	// read). Set on reused sources too, since the pipelines may have changed.
	for _, rs := range g.sources {
		if rs.pre == nil {
			continue
		}
		if a.storeEvents {
			rs.pre.Keep(nil)
			continue
		}
		keep := []string{"traceparent", "trace_id"}
		for _, p := range g.bySource[rs.cfg.Name] {
			keep = append(keep, p.Fields()...)
		}
		rs.pre.Keep(keep)
	}
	if old != nil {
		for name := range oldSources {
			if _, ok := g.byName[name]; !ok {
				changes = append(changes, "source "+name+" removed")
			}
		}
		if !reflect.DeepEqual(stripLines(old.cfg.Rules), stripLines(cfg.Rules)) {
			changes = append(changes, "rules changed: unchanged rules keep their alert state")
		}
		if !reflect.DeepEqual(stripLines(old.notifiers), stripLines(cfg.Notifiers)) {
			changes = append(changes, "notifiers changed")
		}
	}
	rules, err := rule.New(cfg.Rules, rule.Options{
		Store: a.state, Clock: a.clk, Log: a.log, Record: a.recordRule, Notify: a.notify,
		Threshold: a.state.Threshold, Pipelines: cfg.Pipelines, Query: a.querySQL,
		Mute:    a.muter(cfg).Reason, // silences, inhibition, acks (silences.go)
		Claimer: a.state,             // one notification across lookouts sharing Redis
	})
	if err != nil {
		return nil, nil, err
	}
	g.rules = rules
	return g, changes, nil
}

// newDispatcher opens the durable outbox with the notifiers of cfg.
func (a *App) newDispatcher(cfg *config.Config) (*notify.Dispatcher, error) {
	notifiers, err := a.buildNotifiers(cfg)
	if err != nil {
		return nil, err
	}
	return a.openDispatcher(cfg, notifiers)
}

// buildNotifiers builds the notifiers of cfg; nothing is opened.
func (a *App) buildNotifiers(cfg *config.Config) (map[string]notify.Notifier, error) {
	notifiers := map[string]notify.Notifier{}
	deps := notify.Deps{Log: a.log, HTTP: &http.Client{Transport: traceTransport{}}, ExternalURL: externalURL(cfg),
		TraceURL: cfg.Server.TraceURL}
	for _, n := range cfg.Notifiers {
		nt, err := notify.New(n, deps)
		if err != nil {
			return nil, fmt.Errorf("notifier %s: %w", n.Name, err)
		}
		notifiers[n.Name] = a.obs.wrap(n.Name, nt) // traced and counted
	}
	return notifiers, nil
}

// openDispatcher opens the outbox file (one process, one dispatcher at a time).
func (a *App) openDispatcher(cfg *config.Config, notifiers map[string]notify.Notifier) (*notify.Dispatcher, error) {
	maxAge, maxAges := dispatchMaxAges(cfg) // silences.go
	d, err := notify.NewDispatcher(notify.Options{
		Notifiers: notifiers, OutboxPath: filepath.Join(a.dir, "outbox.db"), Clock: a.clk,
		Record: a.record, Log: a.log, ExternalURL: externalURL(cfg),
		MaxAge: maxAge, MaxAges: maxAges,
	})
	if err != nil {
		return nil, fmt.Errorf("opening outbox: %w", err)
	}
	return d, nil
}

// notify hands a decided notification to the current dispatcher.
func (a *App) notify(al event.Alert) {
	al = a.obs.decided(al, a.pipelineOf) // trace and timing for the send
	d := a.disp.Load()
	if d == nil {
		a.log.Error("no dispatcher for notification", "rule", al.Rule)
		return
	}
	if err := d.Enqueue(al); err != nil {
		a.log.Error("enqueueing notification", "rule", al.Rule, "err", err)
	}
}

func (a *App) newSource(sc config.Source) (*runningSource, error) {
	pre, err := preprocess.New(sc)
	if err != nil {
		return nil, err
	}
	n := sc.RawBuffer
	if n <= 0 {
		n = source.DefaultRawBuffer
	}
	rs := &runningSource{cfg: sc, pre: pre, ring: source.NewRing(n), health: source.NewHealth(sc.Name, sc.Type, a.clk)}
	deps := source.Deps{
		Log: a.log.With("source", sc.Name), Clock: a.clk, Pre: pre, Raw: rs.ring, Health: rs.health,
		HTTP: &http.Client{}, Tracer: a.obs.tr.Tracer,
		Origins: &a.origins, Revoked: a.bus.Revoked, Positions: a.positions, DataDir: a.dir,
	}
	if sc.Type == "self" {
		rs.src = selfmon.New(sc, deps, a.vitals)
		return rs, nil
	}
	rs.src, err = source.New(sc, deps)
	if err != nil {
		return nil, err
	}
	if p, ok := rs.src.(*push.Source); ok {
		rs.push = p
	}
	return rs, nil
}

// start runs the source until stop; a failing source is restarted with backoff.
func (a *App) start(ctx context.Context, rs *runningSource) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.done != nil {
		return // already running (kept across a reload)
	}
	ctx, rs.cancel = context.WithCancel(ctx)
	rs.done = make(chan struct{})
	go func() {
		defer close(rs.done)
		a.runSource(ctx, rs)
	}()
}

// stop cancels the source and waits until it has returned.
func (rs *runningSource) stop() {
	rs.mu.Lock()
	cancel, done := rs.cancel, rs.done
	rs.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func samePipeline(a, b config.Pipeline) bool {
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(stripLines(a.Aggregates), stripLines(b.Aggregates)) &&
		reflect.DeepEqual(withoutAggs(a), withoutAggs(b))
}

func withoutAggs(p config.Pipeline) config.Pipeline {
	p.Aggregates = nil
	return p
}

func sameSource(a, b config.Source) bool {
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

// stripLines returns a copy of a slice of config structs with their Line
// fields zeroed, so that moving a block in the file is not a change.
func stripLines[T any](xs []T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		v := reflect.ValueOf(&x).Elem()
		if f := v.FieldByName("Line"); f.IsValid() && f.CanSet() {
			f.SetInt(0)
		}
		out[i] = x
	}
	return out
}

// querySQL runs an SQL rule's statement on the store's read-only path.
func (a *App) querySQL(ctx context.Context, q string) (*rule.QueryResult, error) {
	r, err := a.store.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return &rule.QueryResult{Columns: r.Columns, Types: r.Types, Rows: r.Rows, Truncated: r.Truncated}, nil
}

// startSQL runs the graph's SQL rules on their own goroutines, each on its
// `every`, until stopSQL: a slow analytical query never holds up ingest.
func (a *App) startSQL(g *graph) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(a.ctx))
	done := make(chan struct{})
	go func() { g.rules.RunSQL(ctx); close(done) }()
	g.sqlStop = func() { cancel(); <-done }
}

func (g *graph) stopSQL() {
	if g.sqlStop != nil {
		g.sqlStop()
	}
}

// pipelineViews describes the pipelines for the store's typed w_<pipeline> views.
func pipelineViews(cfg *config.Config) []store.PipelineView {
	views := make([]store.PipelineView, 0, len(cfg.Pipelines))
	for _, p := range cfg.Pipelines {
		v := store.PipelineView{Name: p.Name, GroupBy: p.GroupBy}
		for _, ag := range p.Aggregates {
			v.Aggregates = append(v.Aggregates, ag.Name)
		}
		views = append(views, v)
	}
	return views
}

// routes is what the delivery layer needs of g.
func (g *graph) routes() ingest.Routes {
	r := ingest.Routes{Pipelines: g.pipelines, Health: make(map[string]*source.Health, len(g.sources))}
	for _, rs := range g.sources {
		r.Health[rs.cfg.Name] = rs.health
	}
	return r
}
