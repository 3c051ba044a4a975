package ingest

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/window"
)

// DefaultQueue is how many batches may wait for the ingest goroutine. With
// the push API's batches of ~1,000 events that is about a second of full load.
const DefaultQueue = 1024

// DefaultMaxEvents bounds the events waiting for the ingest goroutine: about
// a second of work at the throughput measured with raw-event storage on (see
// docs/benchmarks.md). Beyond it the push API answers 429 and brokers wait.
const DefaultMaxEvents = 100_000

// tickEvery is how often the ingest goroutine closes windows by wall clock: the
// upper bound of the delay between a window's deadline and its emission.
const tickEvery = 20 * time.Millisecond

// ErrStopping is what Submit and Do return once Stop was called.
var ErrStopping = errors.New("lookout is stopping")

// Store is what the bus needs of the store's writer. AfterCommit calls fn
// once everything written before it is committed (or with the error that
// kept it from being), or returns an error when fn will never be called.
type Store interface {
	WriteEvents(ctx context.Context, evs []*event.Event) error
	WriteRejected(ctx context.Context, rej []event.Rejected) error
	AfterCommit(ctx context.Context, fn func(error)) error
}

// Options configure a Bus. Store and Emit are required.
type Options struct {
	Store Store
	// Emit receives every closed window, on the ingest goroutine, after the
	// bus has counted it. Pipelines are built with Bus.Emit, which calls it.
	Emit  func(*event.Window)
	Clock clock.Clock
	Log   *slog.Logger
	// DataDir holds the baseline checkpoints (<DataDir>/baselines); empty
	// keeps none.
	DataDir string
	// Tick runs on the ingest goroutine every tick, after the pipelines
	// closed what the wall clock allows (the rules' no_data check).
	Tick func(now time.Time)
	// Trace is called for every batch before it is folded in, and the
	// func it returns once the batch is done (tracing spans).
	Trace func(b event.Batch, ps []*window.Pipeline) (end func())
	// QueueSize and MaxEvents bound the batches and the events waiting;
	// zero means DefaultQueue and DefaultMaxEvents.
	QueueSize, MaxEvents int
}

// Routes is what the bus delivers to: the pipelines (each reads the sources
// window.Pipeline.Sources names) and the health of those sources, whose
// reported backlog ends a pipeline's catch-up.
type Routes struct {
	Pipelines []*window.Pipeline
	Health    map[string]*source.Health
}

// Bus is the delivery layer between the sources and the pipelines. It
// implements source.Sink. One goroutine, Run, owns the pipelines: every
// batch, tick, rebalance and reload is applied on it, in order. Submit,
// TrySubmit, Revoked, Do, Swap, Stop, Stats and Moved are safe for
// concurrent use; Restore is called once, before Run; Emit is called by the
// pipelines, so on the goroutine that owns them.
type Bus struct {
	o   Options
	ctx context.Context // for store writes, which must not be cut short

	queue    chan item
	control  chan func()
	stopping chan struct{}
	stopOnce sync.Once
	gate     *gate

	// Owned by the ingest goroutine (and by the caller before Run).
	routes    Routes
	bySource  map[string][]*window.Pipeline
	acks      acker
	catchup   catchup
	baselines *baselineSaver

	moved   movedStats
	events  atomic.Int64
	windows atomic.Int64
}

type item struct {
	batch    event.Batch
	rejected []event.Rejected
}

// New returns a bus that delivers nothing until Restore and Run.
func New(o Options) *Bus {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueue
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.Tick == nil {
		o.Tick = func(time.Time) {}
	}
	if o.Trace == nil {
		o.Trace = func(event.Batch, []*window.Pipeline) func() { return func() {} }
	}
	b := &Bus{
		o: o, ctx: context.Background(),
		queue:    make(chan item, o.QueueSize),
		control:  make(chan func()),
		stopping: make(chan struct{}),
		gate:     newGate(o.MaxEvents),
		bySource: map[string][]*window.Pipeline{},
	}
	b.acks = acker{store: o.Store, ctx: b.ctx}
	b.catchup = catchup{log: o.Log, state: map[*window.Pipeline]*replay{}, started: o.Clock.Now()}
	if o.DataDir != "" {
		b.baselines = newBaselineSaver(filepath.Join(o.DataDir, "baselines"), o.Log)
	}
	return b
}

// Restore installs the first routes and loads the pipelines' baseline
// histories from their checkpoints. It is called once, before Run.
func (b *Bus) Restore(r Routes) {
	b.setRoutes(r)
	if b.baselines != nil {
		b.baselines.load(r.Pipelines)
	}
}

func (b *Bus) setRoutes(r Routes) {
	b.routes = r
	bySource := map[string][]*window.Pipeline{}
	for _, p := range r.Pipelines {
		for _, s := range p.Sources() {
			bySource[s] = append(bySource[s], p)
		}
	}
	b.bySource = bySource
}

// Emit is the emit function to build the pipelines with: it counts the
// window, notes the pipeline's baselines changed, and hands it to
// Options.Emit.
func (b *Bus) Emit(w *event.Window) {
	b.windows.Add(1)
	if b.baselines != nil {
		b.baselines.emitted(w.Pipeline)
	}
	b.o.Emit(w)
}

// Run is the ingest goroutine: it folds each batch into the pipelines,
// stores the events, closes windows by wall clock between batches, and
// releases acknowledgements. After Stop it processes what is queued, fails
// the acks still waiting (the broker redelivers), saves the baselines and
// returns.
func (b *Bus) Run() {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case it := <-b.queue:
			b.process(it)
		case fn := <-b.control:
			fn()
		case <-tick.C:
			b.tick()
		case <-b.stopping:
			for {
				select {
				case it := <-b.queue:
					b.process(it)
				default:
					b.acks.abandon()
					if b.baselines != nil {
						b.baselines.flush(b.routes.Pipelines)
					}
					return
				}
			}
		}
	}
}

func (b *Bus) tick() {
	now := b.o.Clock.Now()
	for _, p := range b.routes.Pipelines {
		p.Advance(b.catchup.tick(p, now, b.drained))
	}
	b.o.Tick(now)
	b.acks.release()
	if b.baselines != nil {
		b.baselines.tick(b.routes.Pipelines, now)
	}
}

// drained reports whether every source p reads has reported that nothing
// waits at its broker that lookout was not handed yet (source.Health
// SetLag), and nothing waits in the queue. The backlogs are read before the
// queue: a batch a source submitted before reporting is then either queued
// or already folded in.
func (b *Bus) drained(p *window.Pipeline) bool {
	for _, s := range p.Sources() {
		h := b.routes.Health[s]
		if h == nil {
			return false
		}
		if n, known := h.Backlog(); !known || n > 0 {
			return false
		}
	}
	return len(b.queue) == 0
}

// Stop makes Submit refuse new batches and Run return once it has drained
// the queue. Stop the sources first: what they submit after it is refused.
func (b *Bus) Stop() { b.stopOnce.Do(func() { close(b.stopping) }) }

func (b *Bus) process(it item) {
	defer b.releaseAfterStore(len(it.batch.Events) + len(it.rejected))
	ps := b.bySource[it.batch.Source]
	end := b.o.Trace(it.batch, ps)
	defer end()
	var writeErr error
	if len(it.batch.Events) > 0 {
		now := b.o.Clock.Now()
		for _, p := range ps {
			p.Add(it.batch.Events, b.catchup.clockFor(p, it.batch.Events, now))
		}
		b.events.Add(int64(len(it.batch.Events)))
		if err := b.o.Store.WriteEvents(b.ctx, it.batch.Events); err != nil {
			b.o.Log.Error("storing events", "source", it.batch.Source, "err", err)
			writeErr = err
		}
	}
	if it.batch.Ack != nil {
		b.acks.add(it.batch, ps)
	}
	if len(it.rejected) > 0 {
		if err := b.o.Store.WriteRejected(b.ctx, it.rejected); err != nil {
			b.o.Log.Error("storing rejected input", "source", it.batch.Source, "err", err)
			writeErr = errors.Join(writeErr, err)
		}
	}
	if stored := it.batch.Stored; stored != nil {
		if writeErr != nil {
			stored(writeErr)
		} else if err := b.o.Store.AfterCommit(b.ctx, stored); err != nil {
			stored(err)
		}
	}
}

// releaseAfterStore gives n events' room in the queue back once the store
// has committed what was written before — not when the ingest goroutine is
// done with them — so the events held in memory ahead of DuckDB stay within
// the gate's bound too, and an overloaded lookout answers 429 instead of
// growing.
func (b *Bus) releaseAfterStore(n int) {
	if n == 0 {
		return
	}
	if err := b.o.Store.AfterCommit(b.ctx, func(error) { b.gate.release(n) }); err != nil {
		b.gate.release(n) // the store is closed: nothing will be written
	}
}

// Submit queues a batch, waiting while the queue is full.
func (b *Bus) Submit(ctx context.Context, batch event.Batch, rejected []event.Rejected) error {
	n := len(batch.Events) + len(rejected)
	if err := b.gate.acquire(ctx, b.stopping, n); err != nil {
		return err
	}
	select {
	case b.queue <- item{batch, rejected}:
		return nil
	case <-ctx.Done():
		b.gate.release(n)
		return ctx.Err()
	case <-b.stopping:
		b.gate.release(n)
		return ErrStopping
	}
}

// TrySubmit queues a batch or returns source.ErrFull at once.
func (b *Bus) TrySubmit(batch event.Batch, rejected []event.Rejected) error {
	select {
	case <-b.stopping:
		return ErrStopping
	default:
	}
	n := len(batch.Events) + len(rejected)
	if !b.gate.tryAcquire(n) {
		return source.ErrFull
	}
	select {
	case b.queue <- item{batch, rejected}:
		return nil
	default:
		b.gate.release(n)
		return source.ErrFull
	}
}

var _ source.Sink = (*Bus)(nil)

// Do runs fn on the ingest goroutine, between two batches, and returns when
// it has. It returns ctx's error if the goroutine did not take fn before ctx
// was done, and ErrStopping once Stop was called.
func (b *Bus) Do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case b.control <- func() { fn(); close(done) }:
	case <-b.stopping:
		return ErrStopping
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// Swap replaces the routes after a reload, on the ingest goroutine: first
// prepare runs there (the app swaps its rules and notifiers); if it fails
// nothing changes. Then pending acks stop waiting for pipelines that are
// gone (their windows will never close; the events are stored), and the
// baseline histories of rebuilt pipelines carry over when their meaning
// did not change. ctx bounds the wait for the ingest goroutine to take it.
func (b *Bus) Swap(ctx context.Context, r Routes, prepare func() error) error {
	var err error
	if derr := b.Do(ctx, func() {
		if err = prepare(); err != nil {
			return
		}
		old := b.routes.Pipelines
		b.acks.forget(dropped(old, r.Pipelines))
		if b.baselines != nil {
			b.baselines.carry(old, r.Pipelines)
		}
		b.setRoutes(r)
	}); derr != nil {
		return derr
	}
	return err
}

// dropped lists the pipelines of old that cur no longer has.
func dropped(old, cur []*window.Pipeline) []*window.Pipeline {
	keep := map[*window.Pipeline]bool{}
	for _, p := range cur {
		keep[p] = true
	}
	var out []*window.Pipeline
	for _, p := range old {
		if !keep[p] {
			out = append(out, p)
		}
	}
	return out
}

// Stats is what the bus tells /metrics and the self source.
type Stats struct {
	QueuedBatches, QueueCapacity int
	QueuedEvents, EventCapacity  int
	// Events and Windows count the events folded in and the windows
	// emitted since start.
	Events, Windows int64
}

// Stats returns the bus's current figures; safe from any goroutine.
func (b *Bus) Stats() Stats {
	return Stats{
		QueuedBatches: len(b.queue), QueueCapacity: cap(b.queue),
		QueuedEvents: b.gate.queued(), EventCapacity: b.o.MaxEvents,
		Events: b.events.Load(), Windows: b.windows.Load(),
	}
}
