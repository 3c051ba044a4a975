package loadgen

import "time"

// Bursts is a schedule of error bursts: burst k runs from Start(k) for Len,
// and bursts start every Every. Starts are aligned to multiples of Every
// since the Unix epoch (plus Offset), not to when the tool started, so that a
// burst of a whole number of windows starts on a window boundary and the
// first window that makes the rule true is known in advance.
//
// The zero value (Every == 0) has no bursts.
type Bursts struct {
	Every  time.Duration
	Len    time.Duration
	Offset time.Duration
}

// Enabled reports whether the schedule has bursts at all.
func (b Bursts) Enabled() bool { return b.Every > 0 && b.Len > 0 }

// Index returns the number of the most recent burst start at or before t and
// whether t falls inside that burst.
func (b Bursts) Index(t time.Time) (k int64, in bool) {
	if !b.Enabled() {
		return 0, false
	}
	ns := t.UnixNano() - int64(b.Offset)
	k = ns / int64(b.Every)
	if ns < 0 && ns%int64(b.Every) != 0 {
		k-- // floor, not truncation, before the epoch
	}
	return k, ns-k*int64(b.Every) < int64(b.Len)
}

// Start returns when burst k starts.
func (b Bursts) Start(k int64) time.Time {
	return time.Unix(0, k*int64(b.Every)+int64(b.Offset))
}

// In reports whether t falls inside a burst.
func (b Bursts) In(t time.Time) bool {
	_, in := b.Index(t)
	return in
}

// Between returns the bursts that start in [from, to).
func (b Bursts) Between(from, to time.Time) []int64 {
	if !b.Enabled() || !from.Before(to) {
		return nil
	}
	k, _ := b.Index(from)
	if b.Start(k).Before(from) {
		k++
	}
	var out []int64
	for ; b.Start(k).Before(to); k++ {
		out = append(out, k)
	}
	return out
}
