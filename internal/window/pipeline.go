package window

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window/agg"
)

// DefaultMaxGroups bounds the open groups of a pipeline whose config does
// not set max_groups.
const DefaultMaxGroups = 100000

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
	// Late counts events whose window had already closed; they were flagged
	// event.FlagLate and left out of every result.
	Late int64
	// Overflow counts events folded into the __overflow__ group.
	Overflow int64
	// OpenWindows is the number of (group, window) pairs not yet closed; for
	// count windows, the number of groups holding samples.
	OpenWindows int
	// Groups is the number of open groups.
	Groups int
}

// Pipeline is one compiled pipeline: its filter, grouping, aggregates and the
// open windows. One goroutine owns a Pipeline and calls Add and Advance; only
// Stats and the accessors may be called from others.
type Pipeline struct {
	name      string
	sources   []string
	fields    []string
	names     []string
	groupKeys []string

	where   *fieldExpr
	inputs  []input
	outputs []output

	size, lateness int64 // tumbling windows, ns
	count          int   // {count: N} windows
	maxGroups      int
	emit           EmitFunc

	vm          vm.VM
	env         map[string]any
	keyBuf      []byte
	overflowKey string
	overflowVal []string
	groups      map[string]*group
	buckets     []bucket // open tumbling windows by end, ascending
	freeWins    []*win
	maxEvent    int64 // highest event time seen, ns
	closed      int64 // every window with end <= closed has closed, ns

	events, filtered, late, overflow atomic.Int64
	openWindows, nGroups             atomic.Int64
}

// input is one aggregate that reads events.
type input struct {
	fn     agg.Func
	params []float64
	arg    *fieldExpr // nil for count()
	kind   agg.Input
}

// output is one aggregate of the pipeline in config order: either an input's
// state or an expression over earlier outputs.
type output struct {
	in   int // index into inputs, -1 for an expression
	expr *aggExpr
}

// group is one set of group_by values.
type group struct {
	key    string
	values []string
	wins   []*win // open tumbling windows, usually one
	ring   *ring  // count windows
}

// win is one open tumbling window of one group.
type win struct {
	g      *group
	start  int64
	count  int64
	states []agg.State
}

// bucket is every open window ending at end, across groups.
type bucket struct {
	end  int64
	wins []*win
}

// New compiles cfg. Every problem in the definition is reported: the error is
// a *CompileError, or a join of them (see CompileErrors).
func New(cfg config.Pipeline, emit EmitFunc) (*Pipeline, error) {
	if emit == nil {
		return nil, errors.New("building pipeline " + cfg.Name + ": nil EmitFunc")
	}
	p := &Pipeline{
		name:      cfg.Name,
		sources:   slices.Clone(cfg.From),
		groupKeys: slices.Clone(cfg.GroupBy),
		lateness:  int64(cfg.Lateness),
		maxGroups: cfg.MaxGroups,
		emit:      emit,
		env:       map[string]any{},
		groups:    map[string]*group{},
		maxEvent:  math.MinInt64,
		closed:    math.MinInt64,
	}
	if p.maxGroups <= 0 {
		p.maxGroups = DefaultMaxGroups
	}
	var errs []error
	bad := func(path string, err error) { errs = append(errs, &CompileError{Path: path, Err: err}) }
	fields := map[string]bool{}

	w := cfg.Window
	switch {
	case w.Count < 0:
		bad("window", fmt.Errorf("count must be positive, got %d", w.Count))
	case w.Count > 0 && (w.Size != 0 || w.Every != 0):
		bad("window", errors.New("count cannot be combined with size or every"))
	case w.Count > 0:
		p.count = w.Count
	case w.Every != 0:
		bad("window", errors.New("sliding windows are not supported yet"))
	case w.Size <= 0:
		bad("window", errors.New("window size must be positive"))
	default:
		p.size = int64(w.Size)
	}

	if cfg.Where != "" {
		x, err := compileFieldExpr(cfg.Where)
		if err != nil {
			bad("where", err)
		} else {
			p.where = x
			for _, f := range x.fields {
				fields[f] = true
			}
		}
	}

	for i, k := range p.groupKeys {
		switch {
		case k == "":
			bad("group_by", fmt.Errorf("entry %d is empty", i))
		case slices.Index(p.groupKeys, k) != i:
			bad("group_by", fmt.Errorf("%q is listed twice", k))
		}
		fields[k] = true
	}
	p.overflowVal = make([]string, len(p.groupKeys))
	for i := range p.overflowVal {
		p.overflowVal[i] = OverflowValue
	}
	p.overflowKey = strings.Join(p.overflowVal, "\x00")

	for _, a := range cfg.Aggregates {
		p.names = append(p.names, a.Name)
	}
	for i, a := range cfg.Aggregates {
		path := "aggregates." + a.Name
		if a.Name == "" {
			bad("aggregates", fmt.Errorf("aggregate %d has no name", i))
			continue
		}
		if slices.Index(p.names, a.Name) != i {
			bad(path, errors.New("defined twice"))
			continue
		}
		in, out, err := p.compileAggregate(a.Expr, p.names[:i], p.names[i+1:])
		if err != nil {
			bad(path, err)
			continue
		}
		if in != nil {
			out.in = len(p.inputs)
			p.inputs = append(p.inputs, *in)
			if in.arg != nil {
				for _, f := range in.arg.fields {
					fields[f] = true
				}
			}
		}
		p.outputs = append(p.outputs, out)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for f := range fields {
		p.fields = append(p.fields, f)
	}
	slices.Sort(p.fields)
	return p, nil
}

// compileAggregate compiles one aggregate: an aggregate function call over
// event fields, or an expression over earlier aggregates.
func (p *Pipeline) compileAggregate(src string, earlier, later []string) (*input, output, error) {
	name, args, isCall := splitCall(src)
	fn, ok := agg.Lookup(name)
	if !isCall {
		x, err := compileAggExpr(src, earlier, later)
		return nil, output{in: -1, expr: x}, err
	}
	if !ok {
		x, err := compileAggExpr(src, earlier, later)
		if err != nil {
			return nil, output{}, fmt.Errorf("unknown function %q: not an aggregate function (%s), and as an expression over aggregates: %w",
				name, strings.Join(agg.Names(), ", "), err)
		}
		return nil, output{in: -1, expr: x}, nil
	}
	want := 1 + len(fn.Params)
	if fn.Optional && len(args) == want-1 {
		return &input{fn: fn, kind: agg.InputNone}, output{}, nil
	}
	if len(args) != want {
		// max(errors, 1) is expr-lang's max over aggregates, not max(x).
		if x, err := compileAggExpr(src, earlier, later); err == nil {
			return nil, output{in: -1, expr: x}, nil
		}
		sig := append([]string{"x"}, fn.Params...)
		if fn.Input == agg.InputCond {
			sig[0] = "cond"
		}
		return nil, output{}, fmt.Errorf("%s(%s) takes %d argument(s), got %d", name, strings.Join(sig, ", "), want, len(args))
	}
	in := &input{fn: fn, kind: fn.Input}
	for i, pname := range fn.Params {
		v, err := strconv.ParseFloat(args[1+i], 64)
		if err != nil {
			return nil, output{}, fmt.Errorf("%s: %s must be a number, got %q", name, pname, args[1+i])
		}
		in.params = append(in.params, v)
	}
	if fn.Check != nil {
		if err := fn.Check(in.params); err != nil {
			return nil, output{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	x, err := compileFieldExpr(args[0])
	if err != nil {
		return nil, output{}, fmt.Errorf("%s: %w", name, err)
	}
	in.arg = x
	return in, output{}, nil
}

// splitCall splits `name(a, b)` into its name and trimmed top-level
// arguments. ok is false when src is not one call spanning the whole text
// (`count() / 2`), or an argument is empty.
func splitCall(src string) (name string, args []string, ok bool) {
	s := strings.TrimSpace(src)
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
		i++
	}
	name = s[:i]
	rest := strings.TrimLeft(s[i:], " \t")
	if name == "" || !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		return name, nil, false
	}
	body := rest[1:]
	depth, start := 0, 0
	var quote byte
	for j := 0; j < len(body); j++ {
		c := body[j]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				j++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' && depth == 0:
			if j != len(body)-1 {
				return name, nil, false // the call ends before the text does
			}
			if last := strings.TrimSpace(body[start:j]); last != "" || len(args) > 0 {
				args = append(args, last)
			}
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(body[start:j]))
			start = j + 1
		}
	}
	for _, a := range args {
		if a == "" {
			return name, nil, false
		}
	}
	return name, args, true
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// Sources returns the sources the pipeline reads (cfg.From).
func (p *Pipeline) Sources() []string { return slices.Clone(p.sources) }

// Fields returns the event fields read by where, group_by and the
// aggregates, sorted, so that sources can later decode only those.
func (p *Pipeline) Fields() []string { return slices.Clone(p.fields) }

// Names returns the aggregate names in config order, the order of every
// emitted Window's Values.
func (p *Pipeline) Names() []string { return slices.Clone(p.names) }

// Stats returns the counters. It is safe to call from any goroutine.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Events:      p.events.Load(),
		Filtered:    p.filtered.Load(),
		Late:        p.late.Load(),
		Overflow:    p.overflow.Load(),
		OpenWindows: int(p.openWindows.Load()),
		Groups:      int(p.nGroups.Load()),
	}
}

// Add folds events into their windows. now is the wall clock: windows whose
// end+lateness <= now close first, as in Advance. An event whose window has
// already closed gets event.FlagLate, is counted in Stats.Late and changes no
// result. Closed windows are emitted before Add returns. Add is not safe for
// concurrent use, and it writes e.Flags, so an event must not be in two
// pipelines' Add at the same time.
func (p *Pipeline) Add(events []*event.Event, now time.Time) {
	p.Advance(now)
	var filtered, late, overflow int64
	for _, e := range events {
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
		r := t % p.size
		if r < 0 {
			r += p.size
		}
		start := t - r
		if start+p.size <= p.closed {
			e.Flags |= event.FlagLate
			late++
			continue
		}
		g, of := p.group(e.Fields)
		if of {
			overflow++
		}
		var w *win
		for _, x := range g.wins {
			if x.start == start {
				w = x
				break
			}
		}
		if w == nil {
			w = p.openWindow(g, start)
		}
		w.count++
		for i := range p.inputs {
			p.push(&p.inputs[i], w.states[i], e.Fields, t)
		}
		if t > p.maxEvent {
			p.maxEvent = t
			// Event time closes windows too, so a replayed backlog closes
			// them at replay speed instead of all at once at the end.
			if t-p.lateness > p.closed {
				p.closeThrough(t - p.lateness)
			}
		}
	}
	p.events.Add(int64(len(events)))
	p.filtered.Add(filtered)
	p.late.Add(late)
	p.overflow.Add(overflow)
}

// Advance closes and emits every tumbling window whose end+lateness <= now
// (wall clock). It is the app's timer tick for quiet pipelines.
//
// A zero now is ignored: time.Time{} has no Unix nanosecond value, and a
// caller without a clock (a replay tool) would otherwise close everything.
func (p *Pipeline) Advance(now time.Time) {
	if p.count > 0 || now.IsZero() {
		return
	}
	if b := now.UnixNano() - p.lateness; b > p.closed {
		p.closeThrough(b)
	}
}

// value kinds of one extracted input.
const (
	kindSkip uint8 = iota
	kindNum
	kindStr
)

// extract reads one aggregate's input from an event.
func (p *Pipeline) extract(in *input, fields map[string]any) (uint8, float64, string) {
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
	if s, ok := x.(string); ok && in.fn.Strings {
		return kindStr, 0, s
	}
	return kindSkip, 0, ""
}

// push folds one event into one aggregate state.
func (p *Pipeline) push(in *input, st agg.State, fields map[string]any, t int64) {
	switch k, v, s := p.extract(in, fields); k {
	case kindNum:
		st.Push(v, t)
	case kindStr:
		st.(agg.StringPusher).PushString(s)
	}
}

// group returns the event's group, creating it when new; overflowed is true
// when the event went to the overflow group instead.
func (p *Pipeline) group(fields map[string]any) (g *group, overflowed bool) {
	buf := p.keyBuf[:0]
	for i, k := range p.groupKeys {
		if i > 0 {
			buf = append(buf, 0)
		}
		buf = appendValue(buf, fields[k])
	}
	p.keyBuf = buf
	// string(buf) in a map index does not allocate.
	if g := p.groups[string(buf)]; g != nil {
		return g, false
	}
	if len(p.groups) >= p.maxGroups {
		if g := p.groups[p.overflowKey]; g != nil {
			return g, true
		}
		return p.newGroup(p.overflowKey, slices.Clone(p.overflowVal)), true
	}
	values := make([]string, len(p.groupKeys))
	for i, k := range p.groupKeys {
		values[i] = string(appendValue(nil, fields[k]))
	}
	return p.newGroup(string(buf), values), false
}

func (p *Pipeline) newGroup(key string, values []string) *group {
	g := &group{key: key, values: values}
	p.groups[key] = g
	p.nGroups.Add(1)
	return g
}

// appendValue appends a group_by value: numbers as strconv 'f' -1 (500, not
// 5e+02), missing as "".
func appendValue(buf []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return buf
	case string:
		return append(buf, v...)
	case float64:
		return strconv.AppendFloat(buf, v, 'f', -1, 64)
	case bool:
		return strconv.AppendBool(buf, v)
	}
	// Arrays and other rare kinds: fmt is slow, but only reached for them.
	return fmt.Append(buf, v)
}

// openWindow opens g's window starting at start, reusing a closed window's
// states when one is free.
func (p *Pipeline) openWindow(g *group, start int64) *win {
	var w *win
	if n := len(p.freeWins); n > 0 {
		w = p.freeWins[n-1]
		p.freeWins = p.freeWins[:n-1]
	} else {
		w = &win{states: p.newStates()}
	}
	w.g, w.start, w.count = g, start, 0
	g.wins = append(g.wins, w)
	end := start + p.size
	i := len(p.buckets)
	for i > 0 && p.buckets[i-1].end > end {
		i--
	}
	if i > 0 && p.buckets[i-1].end == end {
		p.buckets[i-1].wins = append(p.buckets[i-1].wins, w)
	} else {
		p.buckets = slices.Insert(p.buckets, i, bucket{end: end, wins: []*win{w}})
	}
	p.openWindows.Add(1)
	return w
}

func (p *Pipeline) newStates() []agg.State {
	states := make([]agg.State, len(p.inputs))
	for i, in := range p.inputs {
		states[i] = in.fn.New(in.params)
	}
	return states
}

// closeThrough closes every window with end <= bound, in order of end and
// then group key, and remembers bound so later events for those windows
// count as late.
func (p *Pipeline) closeThrough(bound int64) {
	if bound > p.closed {
		p.closed = bound
	}
	for len(p.buckets) > 0 && p.buckets[0].end <= p.closed {
		b := p.buckets[0]
		n := copy(p.buckets, p.buckets[1:])
		p.buckets[n] = bucket{}
		p.buckets = p.buckets[:n]
		slices.SortFunc(b.wins, func(x, y *win) int { return strings.Compare(x.g.key, y.g.key) })
		for _, w := range b.wins {
			p.emit(p.result(w.g, w.states, w.start, b.end, w.count))
			p.release(w)
		}
	}
}

// release forgets a closed window and keeps its states for reuse.
func (p *Pipeline) release(w *win) {
	g := w.g
	if i := slices.Index(g.wins, w); i >= 0 {
		g.wins = slices.Delete(g.wins, i, i+1)
	}
	if len(g.wins) == 0 {
		delete(p.groups, g.key)
		p.nGroups.Add(-1)
	}
	for _, s := range w.states {
		s.Reset()
	}
	w.g = nil
	p.freeWins = append(p.freeWins, w)
	p.openWindows.Add(-1)
}

// result builds the emitted window from a group's states.
func (p *Pipeline) result(g *group, states []agg.State, start, end, count int64) *event.Window {
	vals := make([]float64, len(p.outputs))
	for i, o := range p.outputs {
		if o.in >= 0 {
			vals[i] = states[o.in].Value()
		} else {
			vals[i] = o.expr.eval(vals, p.names, p.env, &p.vm)
		}
	}
	return &event.Window{
		Pipeline:  p.name,
		Start:     time.Unix(0, start).UTC(),
		End:       time.Unix(0, end).UTC(),
		GroupKeys: p.groupKeys,
		Group:     slices.Clone(g.values),
		Names:     p.names,
		Values:    vals,
		Count:     count,
	}
}

// Closed reports whether the window that an event at time t falls into has
// closed (and so has been emitted). A {count: N} window emits on every event,
// so it is always true there. The app acknowledges broker messages to their
// source only once this holds for every pipeline they fed.
func (p *Pipeline) Closed(t time.Time) bool {
	if p.count > 0 {
		return true
	}
	ns := t.UnixNano()
	r := ns % p.size
	if r < 0 {
		r += p.size
	}
	return ns-r+p.size <= p.closed
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
	}
}
