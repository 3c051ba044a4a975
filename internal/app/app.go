package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lookout-dev/lookout/internal/api"
	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/gctune"
	"github.com/lookout-dev/lookout/internal/ingest"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/preprocess"
	"github.com/lookout-dev/lookout/internal/retry"
	"github.com/lookout-dev/lookout/internal/rule"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/state"
	redisstate "github.com/lookout-dev/lookout/internal/state/redis"
	"github.com/lookout-dev/lookout/internal/store"
	"github.com/lookout-dev/lookout/internal/telemetry"
	"github.com/lookout-dev/lookout/internal/web"
	"github.com/lookout-dev/lookout/internal/window"

	// Every source and notifier kind: their packages register themselves.
	_ "github.com/lookout-dev/lookout/internal/plugin/all"
)

// Options are the command-line settings of `lookout run`.
type Options struct {
	ConfigPath     string
	DataDir        string
	Listen         string
	InsecureListen bool
	LogFormat      string
	LogLevel       string
	Build          Build
	Stderr         io.Writer
	Clock          clock.Clock
}

// storeQueue bounds the write requests waiting for the DuckDB writer.
const storeQueue = 128

// App is a running lookout.
type App struct {
	log   *slog.Logger
	clk   clock.Clock
	build Build
	dir   string
	ctx   context.Context // the app's lifetime, for writes from callbacks
	// flagData and flagListen are -data and -listen, which override the
	// file's storage.path and server.listen on every reload too; empty
	// when not given.
	flagData, flagListen string

	store *store.Store
	state state.Backend
	feed  *api.Feed
	reg   *promRegistry
	// bus delivers the sources' batches to the pipelines and the store
	// (internal/ingest); its goroutine owns the pipelines.
	bus *ingest.Bus
	// storeEvents: raw events are stored (and can refill windows at start).
	storeEvents bool

	// g is the reloadable part: sources, pipelines, rules, notifiers. The
	// bus's goroutine swaps it (see Reload); everyone else only loads it.
	g    atomic.Pointer[graph]
	disp atomic.Pointer[notify.Dispatcher]
	// dispStop stops the current dispatcher's Run; only the holder of
	// reloadMu uses it.
	dispStop func()

	reloadMu sync.Mutex
	runCtx   context.Context // set by run: sources started by a reload live in it
	reloads  reloadStats

	ready atomic.Bool

	// positions: how far each logfile source got, across restarts.
	positions *source.FilePositions

	// obs traces the pipeline and counts per rule and notifier (observe.go).
	obs *observer

	// origins numbers the parts of all sources (event.Event.Origin).
	origins source.Origins
}

// Run loads the configuration, runs lookout until ctx is done or a fatal error,
// then shuts down in order.
func Run(ctx context.Context, opts Options) error {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	log, err := telemetry.NewLogger(opts.Stderr, opts.LogFormat, defaultStr(opts.LogLevel, "info"))
	if err != nil {
		return err
	}
	cfg, err := loadConfig(opts.ConfigPath)
	if err != nil {
		return err
	}
	if opts.DataDir != "" {
		cfg.Storage.Path = opts.DataDir
	}
	if opts.Listen != "" {
		cfg.Server.Listen = opts.Listen
	}
	if err := Check(cfg); err != nil {
		return err
	}
	if err := checkListen(cfg, opts.InsecureListen); err != nil {
		return err
	}
	a, err := New(ctx, cfg, log, opts.Clock, opts.Build)
	if err != nil {
		return err
	}
	a.flagData, a.flagListen = opts.DataDir, opts.Listen
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		_ = a.Close()
		return fmt.Errorf("listening on %s: %w", cfg.Server.Listen, err)
	}
	// Read bounds a request's body as well as its headers, so a client
	// sending a byte now and then cannot hold a connection for ever.
	to := cfg.Server.Timeouts
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: to.Header.D(), ReadTimeout: to.Read.D(), IdleTimeout: to.Idle.D()}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Every goroutine of lookout's lifetime runs in g, and is stopped in
	// this order and waited for before the store is closed.
	var g group
	quit := make(chan struct{})
	g.add(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-quit:
				return nil
			case <-hup:
				_, _ = a.Reload(ctx) // the outcome is logged and in /metrics
			}
		}
	}, func(error) {
		log.Info("shutting down")
		a.ready.Store(false)
		close(quit)
	})
	g.add(func() error {
		var err error
		if tc := cfg.Server.TLS; tc.CertFile != "" {
			err = srv.ServeTLS(ln, tc.CertFile, tc.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving http: %w", err)
	}, func(error) {
		shutCtx, shutCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer shutCancel()
		a.feed.Close()            // live-feed clients would hold Shutdown up
		_ = srv.Shutdown(shutCtx) // stop taking pushes first
	})
	runCtx, cancel := context.WithCancel(ctx)
	g.add(func() error { a.run(runCtx); return nil }, func(error) { cancel() })
	gcCtx, gcCancel := context.WithCancel(ctx)
	g.add(func() error { gctune.Run(gcCtx, gctune.DefaultFloor, time.Second); return nil }, func(error) { gcCancel() })
	log.Info("lookout started", "version", opts.Build.Version, "listen", ln.Addr().String(),
		"data", a.dir, "config", cfg.File, "sources", len(cfg.Sources), "pipelines", len(cfg.Pipelines),
		"rules", len(cfg.Rules), "notifiers", len(cfg.Notifiers))

	runErr := g.run()
	if err := a.Close(); err != nil && runErr == nil {
		runErr = err
	}
	log.Info("stopped")
	return runErr
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func defaultStr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// checkListen refuses an open API on a non-loopback address (CONTRACT.md auth).
func checkListen(cfg *config.Config, insecure bool) error {
	if len(cfg.Server.Auth.Tokens) > 0 || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen %q: %w", cfg.Server.Listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without API tokens: configure server.auth.tokens or pass -insecure-listen", cfg.Server.Listen)
}

// Check compiles everything in cfg that config validation cannot judge alone
// (pipeline and rule expressions, preprocessing, notifiers) and reports the
// problems as config errors at their lines.
func Check(cfg *config.Config) error {
	var errs config.Errors
	// On a config from config.LoadPartial, what compiling a part that
	// already has a problem says about it is that problem again: keep only
	// what is news (an expression error next to a bad window size).
	keep := func(path string, es ...config.Error) {
		if !cfg.Failed(path) {
			errs = append(errs, es...)
		}
	}
	for i, p := range cfg.Pipelines {
		if _, err := window.Compile(p); err != nil {
			for _, ce := range pipelineErrors(cfg, i, err) {
				keep(ce.Path, ce.Error)
			}
		}
	}
	// SQL rules are bound against the real schema and the pipelines' views
	// in an empty in-memory database.
	checkSQL := func(context.Context, string) error { return nil }
	if checker, err := store.NewChecker(context.Background(), pipelineViews(cfg)); err != nil {
		errs = append(errs, cfg.Errorf("rules", "preparing the SQL checker: %v", err))
	} else {
		defer checker.Close()
		checkSQL = checker.Check
	}
	if _, err := rule.New(cfg.Rules, rule.Options{Pipelines: cfg.Pipelines, CheckSQL: checkSQL}); err != nil {
		for _, ce := range ruleErrors(cfg, err) {
			keep(ce.Path, ce.Error)
		}
	}
	for i, s := range cfg.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		if _, err := preprocess.New(s); err != nil {
			keep(path, cfg.Errorf(path, "%v", err))
		}
		if s.Type != "self" && !contains(source.Kinds(), s.Type) {
			keep(path, cfg.Errorf(path+".type",
				"source type %q is not available in this build (available: %v, self)", s.Type, source.Kinds()))
		}
	}
	for i, n := range cfg.Notifiers {
		path := fmt.Sprintf("notifiers[%d]", i)
		if _, err := notify.New(n, notify.Deps{Log: slog.New(slog.DiscardHandler)}); err != nil {
			keep(path, cfg.Errorf(path, "%v", err))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// pathError is a config error and the path it is about.
type pathError struct {
	Path  string
	Error config.Error
}

// pipelineErrors maps the window engine's compile errors to config lines.
func pipelineErrors(cfg *config.Config, i int, err error) []pathError {
	path := fmt.Sprintf("pipelines[%d]", i)
	ces := window.CompileErrors(err)
	if len(ces) == 0 {
		return []pathError{{path, cfg.Errorf(path, "%v", err)}}
	}
	out := make([]pathError, 0, len(ces))
	for _, ce := range ces {
		out = append(out, pathError{path + "." + ce.Path, cfg.Errorf(path+"."+ce.Path, "%v", ce.Err)})
	}
	return out
}

// ruleErrors maps the rule engine's compile errors (joined) to config lines.
func ruleErrors(cfg *config.Config, err error) []pathError {
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var out []pathError
	for _, e := range list {
		var ce *rule.CompileError
		if errors.As(e, &ce) {
			path := fmt.Sprintf("rules[%d].%s", ce.Index, ce.Path)
			if cfg.Failed(fmt.Sprintf("rules[%d].pipeline", ce.Index)) && ce.Path != "summary" {
				continue // its expression names aggregates of a pipeline that is not there
			}
			out = append(out, pathError{path, cfg.Errorf(path, "%v", ce.Err)})
		} else {
			out = append(out, pathError{"rules", cfg.Errorf("rules", "%v", e)})
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// New builds every stage from cfg. It opens the store, state and outbox under
// the data directory; Close releases them. Nothing runs until run.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, clk clock.Clock, build Build) (_ *App, err error) {
	if clk == nil {
		clk = clock.Real{}
	}
	dir := cfg.Storage.Path
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	a := &App{
		log: log, clk: clk, build: build, dir: dir, ctx: ctx,
		feed: api.NewFeed(),
	}
	defer func() {
		if err != nil {
			_ = a.Close() // a, not the nil the error return carries
		}
	}()
	a.positions, err = source.OpenPositions(filepath.Join(dir, "positions"), log)
	if err != nil {
		return nil, err
	}
	storeEvents := cfg.Storage.Events == nil || *cfg.Storage.Events
	a.storeEvents = storeEvents
	a.store, err = store.Open(store.Options{
		Dir: dir, FlushInterval: cfg.Storage.FlushInterval.D(), StoreEvents: storeEvents, Log: log,
		ArchiveDir: cfg.Storage.Archive.Dir, MemoryLimit: cfg.Storage.MemoryLimit,
		Compression: cfg.Storage.Compression,
		// Each event batch is one request: 128 of them bound the rows held in
		// memory ahead of DuckDB to about a second of work, so under overload
		// the ingest goroutine waits on the writer and the push API says 429
		// instead of memory growing.
		QueueSize: storeQueue,
		Retention: store.Retention{
			Events:  cfg.Storage.Retention.Events.D(),
			Windows: cfg.Storage.Retention.Windows.D(),
			Alerts:  cfg.Storage.Retention.Alerts.D(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	a.state, err = openState(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("opening alert state: %w", err)
	}
	a.obs, err = newObserver(ctx, log, clk, build.Version)
	if err != nil {
		return nil, err
	}
	d, err := a.newDispatcher(cfg)
	if err != nil {
		return nil, err
	}
	a.disp.Store(d)
	a.bus = ingest.New(ingest.Options{
		Store: a.store, Emit: a.emit, Clock: clk, Log: log, DataDir: dir,
		Tick:  func(now time.Time) { a.g.Load().rules.Tick(now) }, // no_data: groups that stopped getting windows
		Trace: a.obs.ingestBatch,
	})
	g, _, err := a.buildGraph(nil, cfg)
	if err != nil {
		return nil, err
	}
	if err := a.store.CreatePipelineViews(ctx, pipelineViews(g.cfg)); err != nil {
		return nil, fmt.Errorf("creating pipeline views: %w", err)
	}
	if err := g.rules.Restore(ctx); err != nil {
		return nil, fmt.Errorf("restoring alert state: %w", err)
	}
	a.g.Store(g)
	a.bus.Restore(g.routes())
	if err := a.rebuildOpenWindows(ctx, g); err != nil {
		return nil, err
	}
	a.reloads.lastOK.Store(true)
	a.reloads.lastSuccess.Store(clk.Now().Unix())
	a.reg = newPromRegistry(a)
	return a, nil
}

func externalURL(cfg *config.Config) string {
	if cfg.Server.TLS.CertFile != "" {
		return "https://" + cfg.Server.Listen
	}
	return "http://" + cfg.Server.Listen
}

// run starts the sources, the dispatcher, the SQL rules, the bus, pruning
// and the dead-man's switch, and returns when ctx is done and all of them
// have stopped. Sources stop first so that the bus can drain what they
// handed over. Sources, dispatcher and SQL rules are restarted by reloads,
// which start and stop them under reloadMu; the rest run in a group.
func (a *App) run(ctx context.Context) {
	srcCtx, stopSources := context.WithCancel(ctx)
	a.reloadMu.Lock()
	a.runCtx = srcCtx
	for _, rs := range a.g.Load().sources {
		a.start(srcCtx, rs)
	}
	a.startDispatcher()
	a.startSQL(a.g.Load())
	a.reloadMu.Unlock()

	var g group
	quit := make(chan struct{})
	g.add(func() error {
		select {
		case <-ctx.Done():
		case <-quit:
		}
		return nil
	}, func(error) {
		close(quit)
		a.reloadMu.Lock() // no reload from here on; unlocked when run returns
		stopSources()
		for _, rs := range a.g.Load().sources {
			rs.stop()
		}
		a.g.Load().stopSQL()
	})
	// After the sources: the bus drains the queue, then returns.
	g.add(func() error { a.bus.Run(); return nil }, func(error) { a.bus.Stop() })
	bgCtx, stopBg := context.WithCancel(ctx)
	g.add(func() error { a.pruneLoop(bgCtx); return nil }, func(error) { stopBg() })
	g.add(func() error { a.runDeadman(bgCtx); return nil }, func(error) { stopBg() })
	a.ready.Store(true)
	_ = g.run()
	defer a.reloadMu.Unlock()
	// Give the dispatcher a moment to deliver what the last windows decided;
	// whatever is left stays in the outbox for the next start.
	a.disp.Load().Drain(context.WithoutCancel(ctx), drainGrace)
	a.dispStop()
}

// drainGrace is how long shutdown waits for the dispatcher to deliver what
// is pending: long enough for a healthy receiver, short enough that a dead
// one does not hold up the exit (its entries stay in the outbox).
const drainGrace = 2 * time.Second

// startDispatcher runs the current dispatcher until dispStop.
func (a *App) startDispatcher() {
	d := a.disp.Load()
	ctx, cancel := context.WithCancel(context.WithoutCancel(a.ctx))
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	a.dispStop = func() { cancel(); <-done }
}

// pruneEvery is how often rows older than storage.retention are deleted. The
// delete runs on the store's writer between batches, so ingest does not wait
// on a separate lock.
const pruneEvery = 10 * time.Minute

func (a *App) pruneLoop(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := a.store.Prune(ctx, a.clk.Now())
			if err != nil {
				a.log.Error("pruning expired rows", "err", err)
			} else if n > 0 {
				a.log.Info("pruned expired rows", "rows", n)
			}
		}
	}
}

// restartBackoff spaces the restarts of a source whose Run returned: 1s
// doubling to a 1m cap, without jitter. Broker sources reconnect, with
// jitter, inside Run; a Run that returns failed locally, so there is no herd
// of lookouts to spread out.
var restartBackoff = retry.Backoff{Min: time.Second, Max: time.Minute, Jitter: -1}

func (a *App) runSource(ctx context.Context, rs *runningSource) {
	for attempt := 0; ; attempt++ {
		err := rs.src.Run(ctx, a.bus)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("source stopped")
		}
		rs.health.Failure(err)
		backoff := restartBackoff.Delay(attempt)
		a.log.Error("source failed, restarting", "source", rs.cfg.Name, "err", err, "backoff", backoff)
		if !source.Sleep(ctx, backoff) {
			return
		}
	}
}

// emit receives each closed window from a pipeline, on the ingest goroutine.
func (a *App) emit(w *event.Window) {
	g := a.g.Load()
	endSpan := a.obs.windowClosed(g, w)
	defer endSpan()
	if err := a.store.WriteWindow(context.WithoutCancel(a.ctx), w); err != nil {
		a.log.Error("storing window", "pipeline", w.Pipeline, "err", err)
	}
	a.obs.evaluate(g.rules, g.cfg.Rules, w) // g.rules.OnWindow(w), traced and counted
	// Without live-feed clients Publish drops the message; building it
	// anyway cost more garbage per closed window than storing it.
	if a.feed.Clients() > 0 {
		a.feed.Publish("window", api.WindowToJSON(w).LinkTraces(g.cfg.Server.TraceURL))
	}
}

// record receives every alert transition and notification decision.
func (a *App) record(t event.Transition) {
	if err := a.store.WriteTransition(context.WithoutCancel(a.ctx), t); err != nil {
		a.log.Error("storing alert transition", "rule", t.Rule, "err", err)
	}
	a.feed.Publish("alert", api.TransitionToJSON(t))
}

// Handler returns the HTTP API and dashboard.
func (a *App) Handler() http.Handler {
	g := a.g.Load()
	var toks []api.Token
	for _, t := range g.cfg.Server.Auth.Tokens {
		at := api.Token{Name: t.Name, Secret: t.Token.Reveal()}
		for _, s := range t.Scopes {
			at.Scopes = append(at.Scopes, api.Scope(s))
		}
		toks = append(toks, at)
	}
	receivers := map[string]http.Handler{}
	for _, rs := range g.sources {
		if r, ok := rs.src.(source.Receiver); ok {
			receivers[r.Pattern()] = r.Handler(a.bus)
		}
	}
	return api.New(api.Options{
		Backend: backend{a}.parts(), Tokens: toks, MaxBodyBytes: g.cfg.Server.MaxBodyBytes,
		Metrics: a.reg.handler(), Static: web.Handler(), Feed: a.feed, Log: a.log,
		Receivers: receivers,
		RateLimit: g.cfg.Server.RateLimit.PerSecond, Burst: g.cfg.Server.RateLimit.Burst,
		TraceURL: g.cfg.Server.TraceURL,
		Listen:   g.cfg.Server.Listen, AllowedHosts: g.cfg.Server.AllowedHosts,
		QueryMaxBytes: g.cfg.Query.MaxBytes, QueryTimeout: store.DefaultQueryTimeout,
	})
}

// Close releases the outbox, state and store, flushing the store's writes.
func (a *App) Close() error {
	var errs []error
	if d := a.disp.Load(); d != nil {
		errs = append(errs, d.Close())
	}
	if a.state != nil {
		errs = append(errs, a.state.Close())
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	// After the store: its last commit acknowledges batches, which saves
	// logfile positions.
	if a.positions != nil {
		errs = append(errs, a.positions.Close())
	}
	if a.obs != nil {
		errs = append(errs, a.obs.close())
	}
	return errors.Join(errs...)
}

// openState opens the state backend cfg names: the bbolt file under the
// data directory, or a Redis shared with other lookouts.
func openState(ctx context.Context, cfg *config.Config, log *slog.Logger) (state.Backend, error) {
	// Return a nil interface on error, not a typed nil: Close checks
	// a.state != nil.
	if cfg.State.Backend == "redis" {
		r := cfg.State.Redis
		b, err := redisstate.Open(ctx, redisstate.Options{Addr: r.Addr, Password: r.Password.Reveal(), DB: r.DB,
			KeyPrefix: r.KeyPrefix, Log: log})
		if err != nil {
			return nil, fmt.Errorf("opening redis state at %s: %w", r.Addr, err)
		}
		return b, nil
	}
	l, err := state.OpenLocal(filepath.Join(cfg.Storage.Path, "state.db"))
	if err != nil {
		return nil, err
	}
	return l, nil
}
