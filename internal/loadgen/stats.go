package loadgen

import (
	"math"
	"slices"
	"time"
)

// Quantile returns the q-quantile of xs by nearest rank (the smallest value
// with at least q of the values at or below it). NaN for no values.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Dist summarises a set of measurements.
type Dist struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// NewDist summarises xs; all fields are 0 for no values, so the JSON stays
// valid (NaN is not JSON) and Count says there was nothing.
func NewDist(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	return Dist{
		Count: len(xs), Min: Quantile(xs, 0), P50: Quantile(xs, 0.5),
		P99: Quantile(xs, 0.99), Max: Quantile(xs, 1),
	}
}

// BurstMatch is how the alerts received line up with the bursts injected.
type BurstMatch struct {
	// Injected is the number of bursts whose first full window closed while
	// the load ran (so an alert for them was due); Detected those with a
	// firing alert of the rule for at least one burst service.
	Injected, Detected int
	// Expected is Injected times the number of burst services; Matched the
	// firing alerts that fell to an injected burst; Unmatched firing
	// alerts of the rule outside any burst (false positives).
	Expected, Matched, Unmatched int
	// LatencyMS is, for each matched alert, received - (window end +
	// lateness): the delay from the moment the window could close to the
	// webhook, in milliseconds. Window end is the alert's startsAt.
	LatencyMS []float64
}

// MatchBursts attributes the firing alerts of rule to the bursts of b that
// started in [from, to), for windows of size window with lateness. An alert
// belongs to burst k when its window ends after the burst started and no
// later than one window after it ended.
func MatchBursts(fired []Fired, rule string, b Bursts, burstServices int, window, lateness time.Duration, from, to time.Time) BurstMatch {
	var m BurstMatch
	due := map[int64]bool{}
	for _, k := range b.Between(from, to) {
		// The first window wholly inside the burst ends at most one window
		// after the burst starts (aligned) or two (unaligned); give the
		// alert until then plus lateness and a second for the webhook.
		if b.Start(k).Add(2*window + lateness + time.Second).Before(to) {
			due[k] = true
		}
	}
	m.Injected = len(due)
	m.Expected = m.Injected * burstServices
	seen := map[int64]bool{}
	for _, f := range fired {
		if f.Rule != rule {
			continue
		}
		k, ok := burstOf(b, f.StartsAt, window)
		if !ok {
			m.Unmatched++
			continue
		}
		if !due[k] {
			continue // a burst that started before the load or ended after it
		}
		m.Matched++
		seen[k] = true
		m.LatencyMS = append(m.LatencyMS, float64(f.Received.Sub(f.StartsAt.Add(lateness)))/float64(time.Millisecond))
	}
	m.Detected = len(seen)
	return m
}

// burstOf finds the burst a window ending at end belongs to.
func burstOf(b Bursts, end time.Time, window time.Duration) (int64, bool) {
	if !b.Enabled() {
		return 0, false
	}
	// The window [end-window, end) overlaps burst k when it ends after the
	// burst's start and starts before the burst's end.
	k, _ := b.Index(end.Add(-time.Nanosecond))
	for ; ; k-- {
		s := b.Start(k)
		if !end.After(s) {
			continue
		}
		if end.Add(-window).Before(s.Add(b.Len)) {
			return k, true
		}
		return 0, false
	}
}
