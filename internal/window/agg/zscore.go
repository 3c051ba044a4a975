package agg

import "math"

// zscore has two meanings, one per kind of window.
//
// In time windows (tumbling, sliding) zscore(x) is a baseline aggregate:
// (x − mean(b)) / stddev(b), where x is the window's value (avg(x) over the
// window, or an earlier aggregate's value when x names one) and b are the
// group's values in its last `baseline` windows (population stddev). NaN
// during cold start (fewer than min_baseline earlier windows with a value)
// or when the baseline does not vary.
var zscoreBaseline = Baseline{
	NeedsHistory: true,
	Eval: func(x float64, hist []float64, _ float64, _ []float64) (float64, float64) {
		var w [3]float64
		for _, v := range hist {
			welfordAdd(w[:], v)
		}
		if w[0] < 2 {
			return math.NaN(), math.NaN()
		}
		sd := welfordStddev(w[:])
		if sd == 0 {
			return math.NaN(), math.NaN()
		}
		return (x - w[1]) / sd, math.NaN()
	},
}

// ZScore is zscore(x) in {count: N} windows: (last(x) − avg(x)) / stddev(x)
// over the window's samples, i.e. how many population standard deviations
// the newest sample lies from the mean of the last N. NaN with fewer than
// two values or when stddev is 0 (every value equal), since then "how
// unusual" has no answer.
type ZScore struct {
	last Last
	w    floats // n, mean, m2
}

// NewZScore returns an empty ZScore column.
func NewZScore() *ZScore { return &ZScore{w: newFloats(0, 0, 0)} }

// Grow makes slots [0, n) usable.
func (z *ZScore) Grow(n int) { z.last.Grow(n); z.w.Grow(n) }

// Push adds v observed at time t (Unix ns).
func (z *ZScore) Push(s int32, v float64, t int64) {
	z.last.Push(s, v, t)
	welfordAdd(z.w.at(s), v)
}

// Value returns the z-score of the latest value.
func (z *ZScore) Value(s int32) float64 {
	w := z.w.at(s)
	if w[0] < 2 {
		return math.NaN()
	}
	sd := welfordStddev(w)
	if sd == 0 {
		return math.NaN()
	}
	return (z.last.v[s] - w[1]) / sd
}

// Reset forgets slot s.
func (z *ZScore) Reset(s int32) { z.last.Reset(s); z.w.Reset(s) }

// Merge folds src into dst.
func (z *ZScore) Merge(dst, src int32) {
	z.last.Merge(dst, src)
	welfordMerge(z.w.at(dst), z.w.at(src))
}

// AppendState appends slot s.
func (z *ZScore) AppendState(b []byte, s int32) []byte {
	return z.w.AppendState(z.last.AppendState(b, s), s)
}

// ReadState restores slot s.
func (z *ZScore) ReadState(b []byte, s int32) ([]byte, error) {
	b, err := z.last.ReadState(b, s)
	if err != nil {
		return nil, err
	}
	return z.w.ReadState(b, s)
}

var _ Column = (*ZScore)(nil)
