package agg

import (
	"fmt"
	"math"
	"slices"

	"github.com/lookout-dev/lookout/internal/event"
)

// Column accumulates one aggregate for many slots; a slot is one pane (a
// stretch of time) of one group, or a scratch slot the engine merges panes
// into. A Column is used by one goroutine at a time: the pipeline that owns it.
type Column interface {
	// Grow makes slots [0, n) usable; new slots are empty.
	Grow(n int)
	// Push adds one observation to slot s: the value of the aggregate's
	// argument (1 or 0 for conditions, 1 for count()) and the event time in
	// Unix nanoseconds, which only time-aware aggregates (last) use.
	Push(s int32, v float64, t int64)
	// Value returns the aggregate over slot s; NaN when it cannot be
	// computed (avg of nothing).
	Value(s int32) float64
	// Reset empties slot s.
	Reset(s int32)
	// Merge folds slot src into slot dst, as if everything pushed into src
	// had been pushed into dst. src is unchanged.
	Merge(dst, src int32)
	// AppendState appends slot s's state in a compact, versioned-by-caller
	// binary form; ReadState restores it from the front of b into s (which
	// must be empty) and returns the rest of b.
	AppendState(b []byte, s int32) []byte
	ReadState(b []byte, s int32) ([]byte, error)
}

// StringColumn is implemented by columns that also take string values
// (distinct, topk). The window engine hands strings to them instead of
// skipping.
type StringColumn interface {
	PushString(s int32, v string)
}

// Remover is implemented by columns that can take back an observation in
// O(1), which keeps {count: N} windows O(1) per event: the sample falling out
// of the ring is removed instead of recomputing over the ring.
type Remover interface {
	Remove(s int32, v float64, t int64)
}

// Topper is implemented by topk: the heaviest items of slot s, heaviest
// first.
type Topper interface {
	Top(s int32) []event.TopItem
}

// Input says what an aggregate reads from each event.
type Input int

// The inputs an aggregate function can take.
const (
	// InputNone: the function has no argument (count()); every event pushes 1.
	InputNone Input = iota
	// InputCond: a boolean condition; every event pushes 1 when it holds, else 0.
	InputCond
	// InputValue: a numeric expression; events where it is not a number push nothing.
	InputValue
)

// Func describes one aggregate function: how it is called and how to make
// its state.
type Func struct {
	// Name is what a pipeline writes, e.g. "quantile".
	Name string
	// Input is what the first argument is.
	Input Input
	// Optional allows calling the function without its first argument
	// (count() next to count(cond)); the call then reads InputNone.
	Optional bool
	// Params names the constant numeric arguments after the first, e.g. "q".
	Params []string
	// Defaults, when set, holds a default for each of Params, so that they
	// may be left out from the right (distinct(x) is distinct(x, 12)).
	Defaults []float64
	// Strings is set when string values are pushed too (distinct, topk).
	Strings bool
	// Counter is set for rate and increase, which follow series of
	// counter samples (see SeriesColumn): they need time windows, and New
	// gets the window's size in seconds as one more parameter after
	// Params.
	Counter bool
	// New returns an empty column; params holds the constant arguments,
	// already checked by Check. Nil for baseline-only functions.
	New func(params []float64) Column
	// Check validates the constant arguments; nil when there are none.
	Check func(params []float64) error
	// Baseline, when set, makes this a baseline aggregate in time windows:
	// its value compares the window's own value of the argument with the
	// group's earlier windows (see Baseline). zscore has both: a Baseline
	// in time windows and a Column in {count: N} windows.
	Baseline *Baseline
}

// Baseline is an aggregate over a group's history of windows rather than
// over events.
type Baseline struct {
	// NeedsHistory is set when the value is NaN until the group has at
	// least min_baseline earlier windows with a value (cold start).
	NeedsHistory bool
	// Eval returns the value for the current window's x, given the
	// group's earlier window values hist (oldest first, without NaNs) and
	// prev, the state Eval returned for the previous window (NaN for the
	// first). It also returns the state to remember for the next window.
	Eval func(x float64, hist []float64, prev float64, params []float64) (v, state float64)
}

// funcs is the fixed table of aggregate functions. It is never modified
// after initialisation.
var funcs = []Func{
	{Name: "count", Input: InputCond, Optional: true, New: func([]float64) Column { return NewCount() }},
	{Name: "ratio", Input: InputCond, New: func([]float64) Column { return NewRatio() }},
	{Name: "sum", Input: InputValue, New: func([]float64) Column { return NewSum() }},
	{Name: "avg", Input: InputValue, New: func([]float64) Column { return NewAvg() }},
	{Name: "min", Input: InputValue, New: func([]float64) Column { return NewMin() }},
	{Name: "max", Input: InputValue, New: func([]float64) Column { return NewMax() }},
	{Name: "stddev", Input: InputValue, New: func([]float64) Column { return NewStddev() }},
	{Name: "last", Input: InputValue, New: func([]float64) Column { return NewLast() }},
	{Name: "quantile", Input: InputValue, Params: []string{"q"},
		New: func(p []float64) Column { return NewQuantile(p[0]) }, Check: checkQuantile},
	{Name: "distinct", Input: InputValue, Strings: true, Params: []string{"precision"}, Defaults: []float64{DefaultPrecision},
		New: func(p []float64) Column { return NewDistinct(int(p[0])) }, Check: checkPrecision},
	{Name: "topk", Input: InputValue, Strings: true, Params: []string{"k"},
		New: func(p []float64) Column { return NewTopK(int(p[0])) }, Check: checkK},
	{Name: "rate", Input: InputValue, Counter: true, New: func(p []float64) Column { return NewRate(p[0]) }},
	{Name: "increase", Input: InputValue, Counter: true, New: func([]float64) Column { return NewIncrease() }},
	{Name: "zscore", Input: InputValue, New: func([]float64) Column { return NewZScore() }, Baseline: &zscoreBaseline},
	{Name: "ewma", Input: InputValue, Params: []string{"alpha"}, Baseline: &ewmaBaseline, Check: checkAlpha},
	{Name: "mad_score", Input: InputValue, Baseline: &madBaseline},
	{Name: "change", Input: InputValue, Baseline: &changeBaseline},
	{Name: "rel_change", Input: InputValue, Baseline: &relChangeBaseline},
}

// Lookup returns the aggregate function called name.
func Lookup(name string) (Func, bool) {
	for _, f := range funcs {
		if f.Name == name {
			return f, true
		}
	}
	return Func{}, false
}

// Names returns the names of all aggregate functions, sorted, for error
// messages.
func Names() []string {
	out := make([]string, len(funcs))
	for i, f := range funcs {
		out[i] = f.Name
	}
	slices.Sort(out)
	return out
}

func checkQuantile(p []float64) error {
	if !(p[0] > 0 && p[0] < 1) {
		return fmt.Errorf("quantile q must be between 0 and 1 exclusive, got %v", p[0])
	}
	return nil
}

func checkPrecision(p []float64) error {
	if p[0] != math.Trunc(p[0]) || p[0] < 4 || p[0] > 16 {
		return fmt.Errorf("precision must be an integer from 4 to 16, got %v", p[0])
	}
	return nil
}

func checkK(p []float64) error {
	if p[0] != math.Trunc(p[0]) || p[0] < 1 || p[0] > 100 {
		return fmt.Errorf("k must be an integer from 1 to 100, got %v", p[0])
	}
	return nil
}

func checkAlpha(p []float64) error {
	if !(p[0] > 0 && p[0] <= 1) {
		return fmt.Errorf("alpha must be in (0, 1], got %v", p[0])
	}
	return nil
}

// floats is the storage of the simple columns: w numbers per slot, new
// slots filled with init, kept in an Arena: the column's own, or one shared
// with the pipeline's other simple columns (see Packer).
type floats struct {
	a    *Arena
	off  int // where the column's numbers start in a row
	w    int
	init []float64
}

func newFloats(init ...float64) floats {
	f := floats{w: len(init), init: init, a: new(Arena)}
	f.off = f.a.add(init)
	return f
}

// Pack moves the column's storage into a, which must have no rows yet; the
// column must be empty.
func (f *floats) Pack(a *Arena) { f.a, f.off = a, a.add(f.init) }

func (f *floats) Grow(n int) { f.a.grow(n) }

func (f *floats) Reset(s int32) { copy(f.a.v[int(s)*f.a.stride+f.off:], f.init) }

// at returns slot s's numbers.
func (f *floats) at(s int32) []float64 {
	i := int(s)*f.a.stride + f.off
	return f.a.v[i : i+f.w : i+f.w]
}

// p returns slot s's first number.
func (f *floats) p(s int32) *float64 { return &f.a.v[int(s)*f.a.stride+f.off] }

// Packer is implemented by columns whose state can live in a shared Arena.
type Packer interface {
	Pack(a *Arena)
}

// Arena keeps the state of several simple columns (count, ratio, sum, avg,
// min, max, stddev) in one row of float64s per slot, so that folding an
// event into a slot touches one or two cache lines instead of one per
// column. With many groups, when slot states are no longer in the CPU's
// caches, that is most of what folding an event costs.
type Arena struct {
	stride int // numbers per row
	used   int // numbers per row the columns use; the rest is padding
	init   []float64
	v      []float64
}

// NewArena returns an empty arena.
func NewArena() *Arena { return new(Arena) }

// add reserves len(init) numbers per row, filled with init in new rows, and
// returns their offset in the row. Rows are padded to 4 or 8 numbers so
// that up to 8 never straddle two 64-byte cache lines.
func (a *Arena) add(init []float64) int {
	if len(a.v) > 0 {
		panic("agg: Arena.add after rows were made")
	}
	off := a.used
	a.used += len(init)
	a.init = append(a.init, init...)
	switch {
	case a.used <= 2:
		a.stride = a.used
	case a.used <= 4:
		a.stride = 4
	case a.used <= 8:
		a.stride = 8
	default:
		a.stride = a.used
	}
	return off
}

// Touch reads the first number of slot s's row and returns it. Reading the
// rows a batch will fold into, all at once, lets the CPU fetch them in
// parallel (see the window engine's prefetch).
func (a *Arena) Touch(s int32) float64 {
	if a.stride == 0 {
		return 0
	}
	return a.v[int(s)*a.stride]
}

// grow makes rows [0, n) usable.
func (a *Arena) grow(n int) {
	for len(a.v) < n*a.stride {
		a.v = append(a.v, a.init...)
		for range a.stride - a.used {
			a.v = append(a.v, 0)
		}
	}
}

func (f *floats) AppendState(b []byte, s int32) []byte {
	for _, x := range f.at(s) {
		b = appendF64(b, x)
	}
	return b
}

func (f *floats) ReadState(b []byte, s int32) ([]byte, error) {
	dst := f.at(s)
	if len(b) < 8*len(dst) {
		return nil, errShort
	}
	for i := range dst {
		dst[i], b = readF64(b)
	}
	return b, nil
}
