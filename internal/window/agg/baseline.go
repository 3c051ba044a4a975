package agg

import (
	"math"
	"slices"
)

// ewma(x, alpha) smooths the window values: s = alpha·x + (1−alpha)·s_prev,
// starting from the first window's value (no cold start). A window whose x
// cannot be computed gives NaN and leaves the smoothed value as it was.
var ewmaBaseline = Baseline{
	Eval: func(x float64, _ []float64, prev float64, p []float64) (float64, float64) {
		switch {
		case math.IsNaN(x):
			return math.NaN(), prev
		case math.IsNaN(prev):
			return x, x
		}
		s := p[0]*x + (1-p[0])*prev
		return s, s
	},
}

// madScore is the robust z-score: (x − median(b)) / (1.4826 · MAD(b)), with
// MAD(b) = median(|b − median(b)|) over the baseline windows. 1.4826 makes it
// comparable to a z-score for normal data, while one wild window in the
// baseline cannot inflate the spread the way it inflates a stddev. NaN during
// cold start or when MAD is 0.
var madBaseline = Baseline{
	NeedsHistory: true,
	Eval: func(x float64, hist []float64, _ float64, _ []float64) (float64, float64) {
		if len(hist) == 0 {
			return math.NaN(), math.NaN()
		}
		b := slices.Clone(hist)
		med := median(b)
		for i, v := range b {
			b[i] = math.Abs(v - med)
		}
		mad := median(b)
		if mad == 0 {
			return math.NaN(), math.NaN()
		}
		return (x - med) / (1.4826 * mad), math.NaN()
	},
}

// median sorts b and returns its median (the mean of the middle two for an
// even length).
func median(b []float64) float64 {
	slices.Sort(b)
	n := len(b)
	if n%2 == 1 {
		return b[n/2]
	}
	return (b[n/2-1] + b[n/2]) / 2
}

// change(x) is x minus the previous window's x of the group; NaN for the
// group's first window or when either is NaN.
var changeBaseline = Baseline{
	Eval: func(x float64, hist []float64, _ float64, _ []float64) (float64, float64) {
		if len(hist) == 0 {
			return math.NaN(), math.NaN()
		}
		return x - hist[len(hist)-1], math.NaN()
	},
}

// rel_change(x) is (x − prev) / |prev|: +0.5 is 50% up on the previous
// window. NaN for the first window or when prev is 0.
var relChangeBaseline = Baseline{
	Eval: func(x float64, hist []float64, _ float64, _ []float64) (float64, float64) {
		if len(hist) == 0 || hist[len(hist)-1] == 0 {
			return math.NaN(), math.NaN()
		}
		p := hist[len(hist)-1]
		return (x - p) / math.Abs(p), math.NaN()
	},
}
