package loadgen

import (
	"errors"
	"slices"
	"time"
)

// RSS per group, beyond a fixed base, is the marginal cost of a
// group: run the same load at two or more group counts and fit a line
// through (groups, RSS growth). The slope is what each further group costs;
// the intercept is what loading the process adds whatever the number of
// groups (buffers, DuckDB's cache up to storage.memory_limit, the GC's
// minimum heap), on top of the idle process. Dividing the whole growth by
// the groups of one run, as rss_per_group_bytes does, charges that base to
// the groups too.

// rssSample is one reading of lookout's RSS during a run.
type rssSample struct {
	at  time.Time
	rss int64
}

// steadyRSS returns the mean and the largest RSS of the samples taken in the
// last span before end. One sample is at the mercy of where it falls
// relative to a window close (RSS swings by tens of MB over each window), so
// span is one window: the mean covers a whole close-and-fill cycle. ok is
// false when no sample falls in the span.
func steadyRSS(samples []rssSample, end time.Time, span time.Duration) (mean, peak int64, ok bool) {
	var sum float64
	n := 0
	for _, s := range samples {
		if s.at.Before(end.Add(-span)) || s.at.After(end) {
			continue
		}
		sum += float64(s.rss)
		peak = max(peak, s.rss)
		n++
	}
	if n == 0 {
		return 0, 0, false
	}
	return int64(sum / float64(n)), peak, true
}

// Line is a least-squares fit y = Slope·x + Intercept.
type Line struct {
	Slope, Intercept float64
}

// errFlat is returned when the x values do not spread, so no slope exists.
var errFlat = errors.New("fitting a line: need at least two distinct group counts")

// FitLine fits a least-squares line through (xs[i], ys[i]). Through two
// points it is the line joining them.
func FitLine(xs, ys []float64) (Line, error) {
	if len(xs) != len(ys) || len(xs) < 2 {
		return Line{}, errFlat
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	n := float64(len(xs))
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return Line{}, errFlat
	}
	slope := sxy / sxx
	return Line{Slope: slope, Intercept: my - slope*mx}, nil
}

// rssGrowth is what a run added to the idle process's RSS, averaged over
// the last window (RSSSteadyBytes), or at the end sample when the run has no
// steady figure.
func rssGrowth(s Summary) float64 {
	if s.RSSSteadyBytes > 0 {
		return float64(s.RSSSteadyBytes - s.RSSBaseBytes)
	}
	return float64(s.RSSEndBytes - s.RSSBaseBytes)
}

// SlopeFits fits RSS growth against active groups, once per series: the
// k-th run at each group count makes series k (runs at the same count are
// repetitions, in the order they were made). It returns one fit per
// complete series, so the spread over runs shows how noisy the slope is.
func SlopeFits(runs []Summary) ([]Line, error) {
	byGroups := map[int][]Summary{}
	var counts []int
	for _, r := range runs {
		if r.ActiveGroups <= 0 {
			continue
		}
		if _, ok := byGroups[r.ActiveGroups]; !ok {
			counts = append(counts, r.ActiveGroups)
		}
		byGroups[r.ActiveGroups] = append(byGroups[r.ActiveGroups], r)
	}
	if len(counts) < 2 {
		return nil, errFlat
	}
	slices.Sort(counts)
	series := len(runs)
	for _, c := range counts {
		series = min(series, len(byGroups[c]))
	}
	var fits []Line
	for k := range series {
		var xs, ys []float64
		for _, c := range counts {
			xs = append(xs, float64(c))
			ys = append(ys, rssGrowth(byGroups[c][k]))
		}
		l, err := FitLine(xs, ys)
		if err != nil {
			return nil, err
		}
		fits = append(fits, l)
	}
	return fits, nil
}

// slopeFigure returns, for each series of runs, one number of its fit.
func slopeFigure(get func(Line) float64) func([]Summary) []float64 {
	return func(runs []Summary) []float64 {
		fits, err := SlopeFits(runs)
		if err != nil {
			return nil
		}
		var xs []float64
		for _, f := range fits {
			xs = append(xs, get(f))
		}
		return xs
	}
}
