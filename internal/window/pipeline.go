package window

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window/agg"
)

// Defaults of the pipeline keys that config leaves at zero.
const (
	// DefaultUpdateFor is how long after end+lateness a window keeps its
	// state for corrections with late: update.
	DefaultUpdateFor = time.Minute
	// DefaultBaseline is how many earlier windows a group's baseline holds.
	DefaultBaseline = config.DefaultBaseline
	// DefaultMinBaseline is how many of them zscore and mad_score need
	// before they give a value (never more than baseline).
	DefaultMinBaseline = 5
	// MinIdleTimeout is the least default idle_timeout; the default is 10
	// window sizes, at least this.
	MinIdleTimeout = 30 * time.Second
	// DefaultMaxFuture is the max_future of a config that leaves it zero.
	DefaultMaxFuture = config.DefaultMaxFuture
)

// OverflowValue is the group value, for every group_by key, of the group that
// collects events of new groups once a pipeline has max_groups open groups.
// Folding them together keeps memory bounded against a cardinality explosion
// (a request id in group_by) while still counting every event.
const OverflowValue = "__overflow__"

// EmitFunc receives each closed window. It is called synchronously from the
// goroutine that called Add or Advance, which is why it must not call back
// into the same Pipeline; the callee owns w afterwards, except that
// w.GroupKeys and w.Names are shared by every window of the pipeline and must
// not be modified.
type EmitFunc func(w *event.Window)

// Stats are a pipeline's counters since it was built.
type Stats struct {
	// Events is every event handed to Add.
	Events int64
	// Filtered counts events skipped because where was not true.
	Filtered int64
	// Late counts events that arrived after a window they fall into had
	// closed; they were flagged event.FlagLate and left out of the results
	// already emitted.
	Late int64
	// Updates counts re-emissions of windows corrected by late events
	// (late: update).
	Updates int64
	// Overflow counts events folded into the __overflow__ group.
	Overflow int64
	// Future counts events stamped more than max_future ahead of the wall
	// clock: flagged event.FlagFuture, folded into no window and kept out
	// of the watermark, so one bad clock cannot close every window early
	// and make every later event late.
	Future int64
	// OpenWindows is the number of open panes (a pane is one `every` of one
	// group; in tumbling windows a pane is a window), including those kept
	// for late updates; for count windows, the number of groups holding
	// samples.
	OpenWindows int
	// Groups is the number of open groups.
	Groups int
}

// Plan is a compiled pipeline definition: its filter, grouping, aggregates
// and window shape, with every default applied. Compile returns it, and it
// is never changed afterwards, so one Plan may start any number of
// Pipelines (see NewPipeline) and be shared by goroutines.
type Plan struct {
	name      string
	sources   []string
	fields    []string
	names     []string
	groupKeys []string

	where     *fieldExpr
	inputs    []input
	outputs   []output
	baselines []baseline

	// Time windows, in ns: a window is size long and one starts every
	// `every` (every == size: tumbling). Events are folded into panes of
	// `every`; a window is the merge of its size/every panes.
	size, every, lateness int64
	keep                  int64 // update_for with late: update, else 0
	idle                  int64 // idle_timeout
	maxFuture             int64 // max_future
	update                bool
	count                 int // {count: N} windows
	maxGroups             int
	baseN, minBase        int

	overflow    string // the overflow group's key
	overflowKey []byte // the same as bytes
	baseSig     string // what a baseline checkpoint must match (see SaveBaselines)
	// fromCount[i]: input i is count() in time windows, whose value is
	// the window's event count; its column is not pushed (see Compile).
	fromCount []bool
}

// Name returns the pipeline's name.
func (pl *Plan) Name() string { return pl.name }

// MaxFuture is how far ahead of the wall clock an event may be stamped
// before Add flags it future: max_future, or its default.
func (pl *Plan) MaxFuture() time.Duration { return time.Duration(pl.maxFuture) }

// Sources returns the sources the pipeline reads (cfg.From).
func (pl *Plan) Sources() []string { return slices.Clone(pl.sources) }

// Fields returns the event fields read by where, group_by and the
// aggregates, sorted, so that sources can later decode only those.
func (pl *Plan) Fields() []string { return slices.Clone(pl.fields) }

// Names returns the aggregate names in config order, the order of every
// emitted Window's Values.
func (pl *Plan) Names() []string { return slices.Clone(pl.names) }

// Pipeline is one running pipeline: its Plan and the open windows. One
// goroutine owns a Pipeline and calls Add, Advance, Resume and Forget; only
// Stats and the accessors may be called from others.
type Pipeline struct {
	Plan // by value: the hot path reads it without a pointer hop

	clock func() time.Time // judges max_future when Add has no now; nil: none
	emit  EmitFunc

	vm  vm.VM
	env map[string]any

	groupTable
	slotStore

	buckets  []bucket // open panes by start, ascending
	lastPane int64    // start of the pane of the last event added
	closed   int64    // every window with end <= closed has been emitted, ns
	// resumed holds, after ResumeGroups, the keys of the groups whose
	// window ending at resumeEnd (just after closed) is already stored;
	// nil otherwise, and again once closed passes resumeEnd.
	resumed   map[string]struct{}
	resumeEnd int64
	// nextWork is the least bound at which closeThrough has something to
	// do (a window end, a pane to release): below it, a watermark that
	// moves on only moves closed (see Add).
	nextWork int64
	marks    []mark // per-source-part watermarks
	last     int    // index into marks of the last event's source

	lateState
	hist  map[string]*history // baseline aggregates: group key → history
	rings []ring              // count windows, by group

	batchScratch

	// What emitted windows are cut from (see newWindow).
	spareWindows     []event.Window
	spareValues      []float64
	spareGroupValues []string

	events, filtered, late, updates, overflows, future atomic.Int64
	openWindows, nGroups                               atomic.Int64
}

// groupTable is a pipeline's open groups and the index that finds them by
// key.
type groupTable struct {
	index         groupIndex // group key → index into groups
	groups        []group
	freeGroups    []int32
	idleGroups    []int32 // groups left without panes, freed at the next release if still so
	freed         uint64  // groups freed so far: an index found before may name another group since
	marked        []int64 // sliding windows, by group: the end of the window last emitted (see emitWindow)
	retiredGroups []int32 // release: the groups left without panes by this release
	overflowHash  uint32  // the overflow group key's hash in the index
}

// slotStore is a pipeline's aggregate state. Every pane (and count-window
// group) has one slot, an index into the columns; slot 0 is the scratch
// slot panes are merged into.
type slotStore struct {
	cols      []agg.Column
	arena     *agg.Arena         // the simple columns' state, a row per slot
	touchers  []agg.Toucher      // the other columns prefetch reads ahead
	strCols   []agg.StringColumn // nil where the column takes no strings
	batchers  []agg.Batcher      // nil where the column cannot take a batch
	panes     []pane
	freeSlots []int32

	// Counter columns (rate, increase), by input, nil elsewhere; they get
	// each sample with its series key (see seriesKey).
	seriesCols   []agg.SeriesColumn
	hasSeries    bool
	lastForget   int64   // closed at the last sweep of idle series
	seriesBuf    []byte  // the series key being built
	seriesVal    []byte  // one label value of it
	seriesLabels []label // its labels, sorted

	tops []int          // inputs that are topk
	exOf []int          // input → index into ex, -1 when it keeps no exemplars
	ex   [][]*reservoir // exemplar reservoirs, by exemplar input and slot
}

// lateState is what a pipeline keeps about events that came late, or too
// early.
type lateState struct {
	// futureOf holds, by group key, the future events not yet reported
	// in an emitted window of the group; nil until there is one.
	futureOf map[string]int64

	lateWin map[winKey]int64    // late: update — late events per retained window
	dirty   map[winKey]struct{} // late: update — windows to re-emit
}

// batchScratch is what Add reuses from one batch to the next: the group
// keys being built, what prefetch read ahead, and the events whose values
// are still to be pushed into their slots (see flush) with flush's
// buffers.
type batchScratch struct {
	keyBytes   []byte // the group key of the event being added
	valueBytes []byte // one group_by value of it, while keyBytes is built

	keyHashes []uint32 // prefetch: the batch's key hashes
	keyGroups []int32  // prefetch: the groups they probably are, -1 when not found
	// prefetch: the batch's keys, event i's at batchKeys[batchKeyEnds[i]:batchKeyEnds[i+1]]
	batchKeys    []byte
	batchKeyEnds []int32
	prefetchSum  uint64 // prefetch: the sum of what it read

	queued []pending
	batch  []*event.Event // the events being added, which queued points into
	// Per input, the slots and values flush read for the queued events,
	// and which of them they came from; sameAs[i] >= 0 when input i reads
	// the same argument as that earlier input, whose values it reuses, and
	// shared[j] when a later input does so.
	inputSlots  [][]int32
	inputValues [][]float64
	inputEvents [][]int32
	sameAs      []int
	shared      []bool
	ones        []float64 // 1s, for count()
	traced      []bool    // flush: whether each queued event has a trace id
}

// input is one aggregate column that reads events.
type input struct {
	fn     agg.Func
	params []float64
	arg    *fieldExpr // nil for count()
	kind   agg.Input
}

// output is one aggregate of the pipeline in config order: an input's
// column, a baseline aggregate or an expression over earlier outputs.
type output struct {
	in   int // index into inputs, -1 otherwise
	base int // index into baselines, -1 otherwise
	expr *aggExpr
}

// group is one set of group_by values.
type group struct {
	key       string // the value, or with several keys the values joined by appendKey
	headStart int64  // start of the head pane, so that the current pane is found without reading it
	late      int64  // late events not yet reported in an emitted window (late: drop)
	head      int32  // first (newest) pane slot of the group, -1 when none
	npane     int32
	ring      int32 // count windows: index into rings
	origin    int32 // the event.Origin of its open panes' events
	idle      bool  // retired: no pane left (see retire)
	mixed     bool  // its open panes hold events of more than one origin
	// pre holds the key's first bytes, so that a lookup compares a
	// short key without reading the key's own bytes, elsewhere in memory:
	// at a million groups, one cache miss less per event. It makes the
	// struct 64 bytes, one cache line.
	pre [14]byte
}

// is reports whether the group's key is key.
func (gr *group) is(key []byte) bool {
	if len(gr.key) != len(key) {
		return false
	}
	n := min(len(key), len(gr.pre))
	if string(gr.pre[:n]) != string(key[:n]) {
		return false
	}
	return n == len(key) || gr.key[n:] == string(key[n:])
}

// pending is one event whose aggregate inputs are still to be pushed into
// slot s. It holds no pointer, so that queueing it costs no GC write
// barrier.
type pending struct {
	s int32
	i int32 // index into p.batch
	t int64
}

// pane is the metadata of one slot: `every` of one group.
type pane struct {
	start int64
	count int64
	g     int32
	next  int32 // the group's next pane slot, -1 at the end
}

// bucket is every open pane starting at start, across groups.
type bucket struct {
	start int64
	slots []int32
}

// winKey names one window of one group.
type winKey struct {
	g   int32
	end int64
}

// Compile compiles cfg into a Plan. Every problem in the definition is
// reported: the error is a *CompileError, or a join of them (see
// CompileErrors). The shape of the pipeline (window, group_by, late,
// min_baseline) is judged by config.Pipeline.ShapeErrors, the rules config
// validation applies, in the same words; the expressions only here.
func Compile(cfg config.Pipeline) (*Plan, error) {
	pl := &Plan{
		name:      cfg.Name,
		sources:   slices.Clone(cfg.From),
		groupKeys: slices.Clone(cfg.GroupBy),
		lateness:  int64(cfg.Lateness),
		maxGroups: cfg.MaxGroups,
		baseN:     cfg.Baseline,
		minBase:   cfg.MinBaseline,
		baseSig:   baselineSignature(cfg),
	}
	if pl.maxGroups <= 0 {
		pl.maxGroups = config.DefaultMaxGroups
	}
	if pl.baseN <= 0 {
		pl.baseN = DefaultBaseline
	}
	if pl.minBase <= 0 {
		pl.minBase = min(DefaultMinBaseline, pl.baseN)
	}
	var errs []error
	bad := func(path string, err error) { errs = append(errs, &CompileError{Path: path, Err: err}) }
	for _, e := range cfg.ShapeErrors() {
		bad(e.Key, e)
	}
	if len(errs) == 0 {
		if w := cfg.Window; w.Count > 0 {
			pl.count = w.Count
		} else {
			pl.size, pl.every = int64(w.Size), int64(w.Every)
			if pl.every == 0 {
				pl.every = pl.size
			}
		}
	}
	if cfg.Late == "update" {
		pl.update = true
		pl.keep = int64(cfg.UpdateFor)
		if pl.keep <= 0 {
			pl.keep = int64(DefaultUpdateFor)
		}
	}
	pl.idle = int64(cfg.IdleTimeout)
	if pl.idle <= 0 {
		pl.idle = max(10*pl.size, int64(MinIdleTimeout))
	}
	pl.maxFuture = int64(cfg.MaxFuture)
	if pl.maxFuture <= 0 {
		pl.maxFuture = int64(DefaultMaxFuture)
	}

	fields := map[string]bool{}
	if cfg.Where != "" {
		x, err := compileFieldExpr(cfg.Where)
		if err != nil {
			bad("where", err)
		} else {
			pl.where = x
			for _, f := range x.fields {
				fields[f] = true
			}
		}
	}
	for _, k := range pl.groupKeys {
		fields[k] = true
	}
	var ob []byte
	for range pl.groupKeys {
		ob = appendKey(ob, []byte(OverflowValue))
	}
	if len(pl.groupKeys) == 1 {
		ob = []byte(OverflowValue) // one key: the key is the value (see key)
	}
	pl.overflow, pl.overflowKey = string(ob), ob

	pl.compileAggregates(cfg.Aggregates, fields, bad)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for f := range fields {
		pl.fields = append(pl.fields, f)
	}
	slices.Sort(pl.fields)
	// In time windows count() is the number of events folded into the
	// window's panes, which each pane keeps anyway: its column is left
	// empty and result reads the count instead.
	pl.fromCount = make([]bool, len(pl.inputs))
	for i, in := range pl.inputs {
		pl.fromCount[i] = pl.count == 0 && in.kind == agg.InputNone
	}
	return pl, nil
}

// compileAggregates compiles the aggregates in config order into the plan's
// inputs and outputs, noting the event fields they read in fields and each
// problem with bad.
func (pl *Plan) compileAggregates(aggs config.Aggregates, fields map[string]bool, bad func(path string, err error)) {
	for _, a := range aggs {
		pl.names = append(pl.names, a.Name)
	}
	for i, a := range aggs {
		path := "aggregates." + a.Name
		if a.Name == "" {
			bad("aggregates", fmt.Errorf("aggregate %d has no name", i))
			continue
		}
		if slices.Index(pl.names, a.Name) != i {
			bad(path, errors.New("defined twice"))
			continue
		}
		n := len(pl.inputs)
		out, err := pl.compileAggregate(a.Expr, pl.names[:i], pl.names[i+1:])
		if err != nil {
			bad(path, err)
			continue
		}
		for _, in := range pl.inputs[n:] {
			if in.arg != nil {
				for _, f := range in.arg.fields {
					fields[f] = true
				}
			}
		}
		pl.outputs = append(pl.outputs, out)
	}
}

// New compiles cfg and starts a Pipeline of it: Compile, then
// Plan.NewPipeline.
func New(cfg config.Pipeline, emit EmitFunc) (*Pipeline, error) {
	if emit == nil {
		return nil, errors.New("building pipeline " + cfg.Name + ": nil EmitFunc")
	}
	pl, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	return pl.NewPipeline(emit), nil
}

// NewPipeline returns a Pipeline of the plan with no open window, which
// hands each closed window to emit (not nil).
func (pl *Plan) NewPipeline(emit EmitFunc) *Pipeline {
	p := &Pipeline{
		Plan:       *pl,
		emit:       emit,
		env:        map[string]any{},
		groupTable: groupTable{index: newGroupIndex()},
		closed:     math.MinInt64,
		nextWork:   math.MinInt64,
		lastPane:   math.MaxInt64,                // no pane yet: t < lastPane for every t
		slotStore:  slotStore{panes: []pane{{}}}, // slot 0: scratch
	}
	p.overflowHash = p.index.hash(p.overflowKey)
	arena := agg.NewArena() // one row of state per slot for the simple columns
	p.arena = arena
	for i, in := range p.inputs {
		c := in.fn.New(in.params)
		if pc, ok := c.(agg.Packer); ok {
			pc.Pack(arena)
		} else if tc, ok := c.(agg.Toucher); ok {
			p.touchers = append(p.touchers, tc)
		}
		p.cols = append(p.cols, c)
		sc, _ := c.(agg.StringColumn)
		if !in.fn.Strings {
			sc = nil
		}
		p.strCols = append(p.strCols, sc)
		bc, _ := c.(agg.Batcher)
		if sc != nil {
			bc = nil // strings and numbers must reach it in event order
		}
		p.batchers = append(p.batchers, bc)
		ser, _ := c.(agg.SeriesColumn)
		if !in.fn.Counter {
			ser = nil
		}
		p.seriesCols = append(p.seriesCols, ser)
		p.hasSeries = p.hasSeries || ser != nil
		if _, ok := c.(agg.Topper); ok {
			p.tops = append(p.tops, i)
		}
	}
	for _, c := range p.cols {
		c.Grow(1) // the scratch slot
	}
	p.inputSlots, p.inputValues, p.inputEvents = make([][]int32, len(p.inputs)), make([][]float64, len(p.inputs)), make([][]int32, len(p.inputs))
	p.sameAs, p.shared = make([]int, len(p.inputs)), make([]bool, len(p.inputs))
	for i, in := range p.inputs {
		p.sameAs[i] = -1
		if p.batchers[i] == nil || in.kind != agg.InputValue {
			continue
		}
		for j, o := range p.inputs[:i] {
			if p.batchers[j] != nil && o.kind == agg.InputValue && o.arg.src == in.arg.src {
				p.sameAs[i], p.shared[j] = j, true
				break
			}
		}
	}
	p.setupExemplars()
	if p.update {
		p.lateWin = map[winKey]int64{}
		p.dirty = map[winKey]struct{}{}
	}
	if len(p.baselines) > 0 {
		p.hist = map[string]*history{}
	}
	return p
}

// SetClock gives the pipeline the wall clock that judges max_future when Add
// is called without one (a replay that closes windows by event time only):
// an event stamped too far ahead is future however windows are closed, and
// must not move the watermark then either. It must be called before the
// first Add, by the goroutine that owns the Pipeline.
func (p *Pipeline) SetClock(now func() time.Time) { p.clock = now }

// Stats returns the counters. It is safe to call from any goroutine.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Events:      p.events.Load(),
		Filtered:    p.filtered.Load(),
		Late:        p.late.Load(),
		Updates:     p.updates.Load(),
		Overflow:    p.overflows.Load(),
		Future:      p.future.Load(),
		OpenWindows: int(p.openWindows.Load()),
		Groups:      int(p.nGroups.Load()),
	}
}

// Add folds events into their windows. now is the wall clock: windows whose
// end+lateness <= now close first, as in Advance. An event that arrives after
// a window it falls into has closed gets event.FlagLate and is counted in
// Stats.Late (and in the Late of the group's next emitted window); with
// late: update it also corrects the windows still kept for updates, which
// are re-emitted. An event stamped more than max_future after now gets
// event.FlagFuture, is counted in Stats.Future (and in the Future of the
// group's next emitted window) and goes into no window and not into the
// watermark: a year-ahead clock must not close every open window. Closed windows are emitted before Add returns. Add is not
// safe for concurrent use, and it writes e.Flags, so an event must not be in
// two pipelines' Add at the same time.
func (p *Pipeline) Add(events []*event.Event, now time.Time) {
	p.Advance(now)
	var nowNS int64
	if !now.IsZero() {
		nowNS = now.UnixNano()
	}
	futureAt := int64(math.MaxInt64) // without a wall clock nothing is future
	wall := now
	if wall.IsZero() && p.clock != nil {
		wall = p.clock() // catching up or refilling: windows close by event time, but a bad clock is still one
	}
	if !wall.IsZero() {
		if w := wall.UnixNano(); w < math.MaxInt64-p.maxFuture {
			futureAt = w + p.maxFuture
		}
	}
	var filtered, late, overflow, future int64
	p.batch = events
	defer func() { p.batch = nil }() // do not keep the events alive
	hs := p.prefetch(events)
	// The groups prefetch found stay valid until a group is freed (a
	// close in the middle of the batch may free some).
	freed := p.freed
	for i, e := range events {
		if p.where != nil && !p.where.cond(e.Fields, &p.vm) {
			filtered++
			continue
		}
		t := e.Time.UnixNano()
		if p.count > 0 {
			if p.addSample(e.Fields, t) {
				overflow++
			}
			continue
		}
		var key []byte
		var h uint32
		g := int32(-1)
		if hs != nil {
			key, h = p.batchKeys[p.batchKeyEnds[i]:p.batchKeyEnds[i+1]], hs[i]
			if p.freed == freed {
				g = p.keyGroups[i]
			}
		} else {
			key = p.key(e.Fields)
			h = p.index.hash(key)
		}
		if t > futureAt {
			e.Flags |= event.FlagFuture
			future++
			p.noteFuture(key)
			continue
		}
		l, of := p.addTimed(e, int32(i), t, key, h, g)
		if l {
			late++
		}
		if of {
			overflow++
		}
		if wm, moved := p.observe(e.Source, e.Origin, t, nowNS); moved && wm-p.lateness > p.closed {
			// Event time closes windows too, so a replayed backlog closes
			// them at replay speed instead of all at once at the end.
			// Between two window ends the watermark only moves closed:
			// flushing and closing at every new timestamp would fold the
			// batch event by event.
			if b := wm - p.lateness; b < p.nextWork {
				p.closed = b
			} else {
				p.flush()
				p.closeThrough(b)
			}
		}
	}
	p.flush()
	if p.update && len(p.dirty) > 0 {
		p.flushDirty()
	}
	p.events.Add(int64(len(events)))
	p.filtered.Add(filtered)
	p.late.Add(late)
	p.overflows.Add(overflow)
	if future > 0 {
		p.future.Add(future)
	}
}

// noteFuture counts a future event of the group with key for the group's
// next emitted window. The map is bounded like the groups are: beyond
// max_groups keys such events are only in Stats.Future.
func (p *Pipeline) noteFuture(key []byte) {
	if p.futureOf == nil {
		p.futureOf = map[string]int64{}
	}
	if n, ok := p.futureOf[string(key)]; ok {
		p.futureOf[string(key)] = n + 1
	} else if len(p.futureOf) < p.maxGroups {
		p.futureOf[string(key)] = 1
	}
}

// Advance closes and emits every window whose end+lateness <= now (wall
// clock), or whose end+lateness <= the watermark once idle sources no longer
// hold it back. It is the app's timer tick for quiet pipelines.
//
// A zero now is ignored: time.Time{} has no Unix nanosecond value, and a
// caller without a clock (a replay tool) would otherwise close everything.
func (p *Pipeline) Advance(now time.Time) {
	if p.count > 0 || now.IsZero() {
		return
	}
	ns := now.UnixNano()
	b := ns - p.lateness
	if wm, ok := p.watermark(ns); ok {
		b = max(b, wm-p.lateness)
	}
	if b > p.closed {
		p.closeThrough(b)
	}
}

// Closed reports whether every window that an event at time t falls into has
// closed (and so has been emitted): for sliding windows the one that closes
// last. A {count: N} window emits on every event, so it is always true there.
// The app acknowledges broker messages to their source only once this holds
// for every pipeline they fed. (With late: update a window may still be
// re-emitted after this, from a later event.)
func (p *Pipeline) Closed(t time.Time) bool {
	if p.count > 0 {
		return true
	}
	return p.paneStart(t.UnixNano())+p.size <= p.closed
}

// Resume declares every window that ends at or before t as already closed,
// without emitting anything: events for them count as late. After a restart
// the app calls it with the end of the newest stored window, so that replayed
// broker messages of windows already emitted are not counted into a second,
// partial copy of them.
func (p *Pipeline) Resume(t time.Time) {
	if p.count > 0 {
		return
	}
	if ns := t.UnixNano(); ns > p.closed {
		p.closed = ns
		p.nextWork = minInt64
	}
}

// ResumeGroups is Resume for a store that holds the windows ending at t of
// only the groups in stored (each a window's group_by values by key): every
// window that ends before t is closed, and so are the stored groups'
// windows ending at t; the other groups' windows ending at t stay open, and
// the events redelivered for them count into them once. The app calls it
// after a restart with the newest stored window's end, since a crash may
// have come between the commits of one close's windows.
//
// It relies on the store committing a pipeline's windows in the order they
// were emitted, which is the order of their ends: then a stored window at t
// means every window emitted before it, ending before t, is stored too, and
// only the windows ending at t can be stored for some groups and not for
// others. That keeps what a restart reads back to one end's groups,
// whatever the time between commits or how many windows a replay closed.
func (p *Pipeline) ResumeGroups(t time.Time, stored []map[string]string) {
	if p.count > 0 || t.IsZero() {
		return
	}
	ns := t.UnixNano()
	if ns-1 <= p.closed {
		return
	}
	p.closed = ns - 1
	p.nextWork = minInt64
	p.resumeEnd = ns
	p.resumed = make(map[string]struct{}, len(stored))
	var key, val []byte
	for _, g := range stored {
		key = key[:0]
		if len(p.groupKeys) == 1 {
			key = append(key, g[p.groupKeys[0]]...)
		} else {
			for _, k := range p.groupKeys {
				val = append(val[:0], g[k]...)
				key = appendKey(key, val)
			}
		}
		p.resumed[string(key)] = struct{}{}
	}
}

// resumedAt reports whether the window ending at end of the group with key
// was stored before a restart (see ResumeGroups).
func (p *Pipeline) resumedAt(key []byte, end int64) bool {
	if p.resumed == nil || end != p.resumeEnd {
		return false
	}
	_, ok := p.resumed[string(key)]
	return ok
}

// value kinds of one extracted input.
const (
	kindSkip uint8 = iota
	kindNum
	kindStr
)

// extract reads one aggregate's input from an event.
func (p *Pipeline) extract(i int, fields map[string]any) (uint8, float64, string) {
	in := &p.inputs[i]
	switch in.kind {
	case agg.InputNone:
		return kindNum, 1, ""
	case agg.InputCond:
		if in.arg.cond(fields, &p.vm) {
			return kindNum, 1, ""
		}
		return kindNum, 0, ""
	}
	x := in.arg.value(fields, &p.vm)
	if v, ok := number(x); ok {
		if v != v { // NaN from an expression like 0/0: not a number to aggregate
			return kindSkip, 0, ""
		}
		return kindNum, v, ""
	}
	if s, ok := x.(string); ok && p.strCols[i] != nil {
		return kindStr, 0, s
	}
	return kindSkip, 0, ""
}

// prefetchFrom is the number of groups from which Add prefetches: below it
// the index, groups and slot states stay in the CPU cache and the extra
// passes would cost more than they save.
var prefetchFrom = 1 << 10 // a variable so that tests can run both paths

// prefetch returns the hash of each event's group key, or nil when there are
// too few groups to bother; the keys themselves it leaves in p.batchKeys, and
// in p.keyGroups each event's group, -1 when it is not found (yet). On the way it reads, for the whole batch, the
// index entries, the groups and the newest panes the events will need, one
// pass per step: the loads of one pass do not depend on each other, so the
// CPU has many cache misses in flight at once, where the event-by-event
// loop would wait for each miss in turn. Only the reads matter; their sum
// is kept so that the compiler cannot drop them.
func (p *Pipeline) prefetch(events []*event.Event) []uint32 {
	if p.count > 0 || p.index.len() < prefetchFrom {
		return nil
	}
	hs := p.keyHashes[:0]
	ka, kend := p.batchKeys[:0], append(p.batchKeyEnds[:0], 0)
	x := &p.index
	for _, e := range events {
		k := p.key(e.Fields)
		ka = append(ka, k...)
		kend = append(kend, int32(len(ka)))
		hs = append(hs, x.hash(k))
	}
	p.batchKeys, p.batchKeyEnds = ka, kend
	// Each pass below is a short loop of independent loads, so that many
	// of them are in flight at once.
	var sum uint64
	for _, h := range hs {
		sum += x.entries[h&x.mask]
	}
	gs := p.keyGroups[:0]
	for _, h := range hs {
		g := x.peek(h)
		gs = append(gs, g)
		if g >= 0 {
			sum += uint64(p.groups[g].head)
		}
	}
	p.keyGroups = gs
	// The keys: a group whose key differs (another key with the same
	// hash) is left to Add's lookup.
	for i, g := range gs {
		if g >= 0 && !p.groups[g].is(ka[kend[i]:kend[i+1]]) {
			gs[i] = -1
		}
	}
	for _, g := range gs {
		if g >= 0 {
			if s := p.groups[g].head; s >= 0 {
				sum += uint64(p.panes[s].count)
				sum += uint64(p.arena.Touch(s))
			}
		}
	}
	for _, tc := range p.touchers {
		f := 0.0
		for _, g := range gs {
			if g >= 0 {
				if s := p.groups[g].head; s >= 0 {
					f += tc.Touch(s)
				}
			}
		}
		sum += uint64(f)
	}
	p.keyHashes, p.prefetchSum = hs, sum
	return hs
}

// flush pushes the values of the events in p.queued into their slots, one
// column at a time: a column that takes batches gets them in one call.
// Events are folded into panes in two steps so that the per-column loops run
// over a whole batch (see agg.Batcher); Add flushes before any window closes,
// so a window never misses an event that arrived before it closed.
func (p *Pipeline) flush() {
	if len(p.queued) == 0 {
		return
	}
	// Whether each event carries a trace id, read once per event rather
	// than once per exemplar column (two map lookups).
	traced := p.traced[:0]
	if len(p.ex) > 0 {
		for _, x := range p.queued {
			traced = append(traced, hasTrace(p.batch[x.i].Fields))
		}
	}
	p.traced = traced
	for i, c := range p.cols {
		bc := p.batchers[i]
		if bc == nil {
			for _, x := range p.queued {
				p.pushOne(i, c, x.s, p.batch[x.i].Fields, x.t)
			}
			continue
		}
		ex := p.exOf[i]
		if j := p.sameAs[i]; j >= 0 {
			// Same argument as column j (avg, quantile and max of one
			// field): its values are already read.
			slots, vals := p.inputSlots[j], p.inputValues[j]
			if ex >= 0 {
				for n, k := range p.inputEvents[j] {
					if x := &p.queued[k]; traced[k] {
						p.observeExemplar(ex, x.s, vals[n], x.t, p.batch[x.i].Fields)
					}
				}
			}
			bc.PushBatch(slots, vals)
			continue
		}
		in := &p.inputs[i]
		if p.fromCount[i] {
			continue // the panes count the events (see New)
		}
		if in.kind == agg.InputNone {
			// count(): a 1 for every event, into the slots of all of them.
			slots := p.inputSlots[i][:0]
			for _, x := range p.queued {
				slots = append(slots, x.s)
			}
			for len(p.ones) < len(slots) {
				p.ones = append(p.ones, 1)
			}
			bc.PushBatch(slots, p.ones[:len(slots)])
			p.inputSlots[i] = slots
			continue
		}
		slots, vals, kept := p.inputSlots[i][:0], p.inputValues[i][:0], p.inputEvents[i][:0]
		keep := p.shared[i]
		for k, x := range p.queued {
			fields := p.batch[x.i].Fields
			var v float64
			switch in.kind {
			case agg.InputNone:
				v = 1
			case agg.InputCond:
				if in.arg.cond(fields, &p.vm) {
					v = 1
				}
			default:
				n, ok := number(in.arg.value(fields, &p.vm))
				if !ok || n != n {
					continue
				}
				v = n
				if ex >= 0 && traced[k] {
					p.observeExemplar(ex, x.s, v, x.t, fields)
				}
			}
			slots, vals = append(slots, x.s), append(vals, v)
			if keep {
				kept = append(kept, int32(k))
			}
		}
		bc.PushBatch(slots, vals)
		p.inputSlots[i], p.inputValues[i], p.inputEvents[i] = slots, vals, kept
	}
	p.queued = p.queued[:0]
}

// pushOne folds one event's input i into column c at slot s.
func (p *Pipeline) pushOne(i int, c agg.Column, s int32, fields map[string]any, t int64) {
	switch k, v, str := p.extract(i, fields); k {
	case kindNum:
		if sc := p.seriesCols[i]; sc != nil {
			sc.PushSample(s, p.seriesKey(s, p.inputs[i].arg.fields, fields), v, t)
		} else {
			c.Push(s, v, t)
		}
		if j := p.exOf[i]; j >= 0 {
			p.observeExemplar(j, s, v, t, fields)
		}
	case kindStr:
		p.strCols[i].PushString(s, str)
	}
}

// value returns input i's aggregate in slot s, a window of count events.
func (p *Pipeline) value(i int, s int32, count int64) float64 {
	if p.fromCount[i] {
		return float64(count)
	}
	return p.cols[i].Value(s)
}

// newSlot returns an empty slot, reusing a freed one when there is one.
func (p *Pipeline) newSlot() int32 {
	if n := len(p.freeSlots); n > 0 {
		s := p.freeSlots[n-1]
		p.freeSlots = p.freeSlots[:n-1]
		return s
	}
	p.panes = append(p.panes, pane{})
	s := int32(len(p.panes) - 1)
	for _, c := range p.cols {
		c.Grow(len(p.panes))
	}
	p.growExemplars(len(p.panes))
	return s
}

// freeSlot empties slot s for reuse.
func (p *Pipeline) freeSlot(s int32) {
	for _, c := range p.cols {
		c.Reset(s)
	}
	p.resetExemplars(s)
	p.panes[s] = pane{}
	p.freeSlots = append(p.freeSlots, s)
}

// result builds the emitted window from slot s (a pane or the scratch slot
// holding a merged window).
func (p *Pipeline) result(g *group, s int32, start, end, count int64, update bool) *event.Window {
	w, vals := p.newWindow()
	var h *history
	if len(p.baselines) > 0 {
		h = p.history(g.key)
	}
	var xs []float64
	for i, o := range p.outputs {
		switch {
		case o.in >= 0:
			vals[i] = p.value(o.in, s, count)
		case o.base >= 0:
			b := &p.baselines[o.base]
			x := math.NaN()
			if b.ref >= 0 {
				x = vals[b.ref]
			} else {
				x = p.value(b.hidden, s, count)
			}
			vals[i] = p.evalBaseline(h, o.base, x, end)
			xs = append(xs, x)
		default:
			vals[i] = o.expr.eval(vals, p.names, p.env, &p.vm)
		}
	}
	if h != nil {
		h.record(end, xs, p.baseN, len(p.baselines), update)
	}
	*w = event.Window{
		Pipeline:  p.name,
		Start:     time.Unix(0, start).UTC(),
		End:       time.Unix(0, end).UTC(),
		GroupKeys: p.groupKeys,
		Group:     p.groupValues(g.key),
		Names:     p.names,
		Values:    vals,
		Count:     count,
		Update:    update,
	}
	if len(p.ex) > 0 {
		w.Exemplars = p.exemplars(s, vals)
	}
	if len(p.tops) > 0 {
		w.Top = make(map[string][]event.TopItem, len(p.tops))
		for i, o := range p.outputs {
			if o.in >= 0 && slices.Contains(p.tops, o.in) {
				w.Top[p.names[i]] = p.cols[o.in].(agg.Topper).Top(s)
			}
		}
	}
	return w
}

// windowChunk is how many emitted windows share one allocation.
const windowChunk = 128

// newWindow returns an emitted window and its values, cut from chunks
// allocated windowChunk at a time: a window per group and close is the
// engine's main source of garbage otherwise (a Window, its values and its
// group: three allocations each). Emitted windows are not kept by their
// consumers (store, rules, feed), so a chunk lives only as long as the
// close that filled it.
func (p *Pipeline) newWindow() (*event.Window, []float64) {
	if len(p.spareWindows) == 0 {
		p.spareWindows = make([]event.Window, windowChunk)
		p.spareValues = make([]float64, windowChunk*len(p.outputs))
	}
	w := &p.spareWindows[0]
	p.spareWindows = p.spareWindows[1:]
	n := len(p.outputs)
	vals := p.spareValues[:n:n]
	p.spareValues = p.spareValues[n:]
	return w, vals
}

// groupValues returns the group_by values of a group key, for an emitted
// window, cut from a chunk like newWindow's.
func (p *Pipeline) groupValues(key string) []string {
	n := len(p.groupKeys)
	if n != 1 {
		return splitKey(key, n)
	}
	if len(p.spareGroupValues) == 0 {
		p.spareGroupValues = make([]string, windowChunk)
	}
	g := p.spareGroupValues[:1:1]
	p.spareGroupValues = p.spareGroupValues[1:]
	g[0] = key
	return g
}

// compareGroups orders groups by key, the order windows are emitted in.
func (p *Pipeline) compareGroups(a, b int32) int {
	return strings.Compare(p.groups[a].key, p.groups[b].key)
}
