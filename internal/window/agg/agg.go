package agg

import (
	"fmt"
	"slices"
)

// State accumulates one aggregate over one window of one group. A State is
// used by one goroutine at a time: the pipeline that owns it.
type State interface {
	// Push adds one observation: the value of the aggregate's argument (1 or
	// 0 for conditions, 1 for count()) and the event time in Unix
	// nanoseconds, which only time-aware aggregates (last, zscore) use.
	Push(v float64, t int64)
	// Value returns the aggregate over everything pushed since the last
	// Reset; NaN when it cannot be computed (avg of nothing).
	Value() float64
	// Reset empties the state but keeps its memory for the next window.
	Reset()
}

// StringPusher is implemented by states that also count string values
// (distinct). The window engine hands strings to them instead of skipping.
type StringPusher interface {
	PushString(s string)
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
	// Strings is set when string values are pushed too (distinct).
	Strings bool
	// New returns an empty state; params holds the constant arguments,
	// already checked by Check.
	New func(params []float64) State
	// Check validates the constant arguments; nil when there are none.
	Check func(params []float64) error
}

// funcs is the fixed table of aggregate functions. It is never modified
// after initialisation.
var funcs = []Func{
	{Name: "count", Input: InputCond, Optional: true, New: func([]float64) State { return new(Count) }},
	{Name: "ratio", Input: InputCond, New: func([]float64) State { return new(Ratio) }},
	{Name: "sum", Input: InputValue, New: func([]float64) State { return new(Sum) }},
	{Name: "avg", Input: InputValue, New: func([]float64) State { return new(Avg) }},
	{Name: "min", Input: InputValue, New: func([]float64) State { return NewMin() }},
	{Name: "max", Input: InputValue, New: func([]float64) State { return NewMax() }},
	{Name: "stddev", Input: InputValue, New: func([]float64) State { return new(Stddev) }},
	{Name: "last", Input: InputValue, New: func([]float64) State { return NewLast() }},
	{Name: "quantile", Input: InputValue, Params: []string{"q"},
		New: func(p []float64) State { return NewQuantile(p[0]) }, Check: checkQuantile},
	{Name: "distinct", Input: InputValue, Strings: true, New: func([]float64) State { return NewDistinct() }},
	{Name: "zscore", Input: InputValue, New: func([]float64) State { return NewZScore() }},
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
