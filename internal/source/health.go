package source

import (
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/event"
)

// rateSeconds is the span Rate averages over.
const rateSeconds = 10

// Each rate bucket packs a second (relative to the Health's creation) and the
// events counted in it into one uint64, so Received can update it with one
// compare-and-swap and no lock.
const (
	countBits = 30
	countMask = 1<<countBits - 1
)

// Health is a source's health, updated by the source and read by the API and
// /metrics. It is safe for concurrent use and lock-free on the hot path: every
// field is an atomic.
type Health struct {
	name, kind string
	clk        clock.Clock
	start      time.Time

	up          atomic.Bool
	lastSuccess atomic.Int64 // Unix ns; 0 = never
	lastErrorAt atomic.Int64
	lastError   atomic.Pointer[string]
	events      atomic.Int64
	rejected    atomic.Int64
	bytes       atomic.Int64
	lag         atomic.Int64
	lagKnown    atomic.Bool
	lagBytes    atomic.Bool // the lag counts bytes (a log file), not messages
	gaps        atomic.Int64
	buckets     [rateSeconds + 2]atomic.Uint64
	targets     atomic.Pointer[func() []event.TargetHealth]
}

// HealthSnapshot is a consistent-enough copy of a Health for the API.
type HealthSnapshot = event.HealthSnapshot

// NewHealth returns the health of the source name of type kind, down until
// the source reports otherwise.
func NewHealth(name, kind string, clk clock.Clock) *Health {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Health{name: name, kind: kind, clk: clk, start: clk.Now()}
}

// Received counts events produced and the bytes they came in.
func (h *Health) Received(events, bytes int) {
	h.events.Add(int64(events))
	h.bytes.Add(int64(bytes))
	if events <= 0 {
		return
	}
	sec := h.second(h.clk.Now())
	b := &h.buckets[sec%uint64(len(h.buckets))]
	for {
		old := b.Load()
		c := uint64(events)
		if old>>countBits == sec {
			c += old & countMask
		}
		// Saturate rather than carry into the second: a billion events
		// in one second is already "very many".
		c = min(c, countMask)
		if b.CompareAndSwap(old, sec<<countBits|c) {
			return
		}
	}
}

// second numbers the seconds since the Health was created, from 1 so that
// an untouched bucket (0) never matches.
func (h *Health) second(t time.Time) uint64 {
	d := t.Sub(h.start)
	if d < 0 {
		d = 0
	}
	return uint64(d/time.Second) + 1
}

// Rejected counts inputs that could not be parsed.
func (h *Health) Rejected(n int) { h.rejected.Add(int64(n)) }

// Submitted records a batch the sink took: its events and rejected inputs,
// the bytes they came in, and that the source is up. It is what a broker
// source calls after every successful Sink.Submit.
func (h *Health) Submitted(events, rejected, bytes int) {
	h.Received(events, bytes)
	if rejected > 0 {
		h.Rejected(rejected)
	}
	h.Success()
}

// Success records a successful receive, poll or scrape: the source is up.
func (h *Health) Success() {
	h.lastSuccess.Store(h.clk.Now().UnixNano())
	h.up.Store(true)
}

// Failure records a failed attempt: the source is down until the next
// Success or SetConnected(true).
func (h *Health) Failure(err error) {
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	h.lastError.Store(&msg)
	h.lastErrorAt.Store(h.clk.Now().UnixNano())
	h.up.Store(false)
}

// SetLag records how far behind the source is, for sources that know: every
// message or record waiting at the broker that this lookout has not been
// handed yet, unread ones and pending ones it does not hold (after a crash,
// everything the dead run had been delivered) alike. What lookout holds in
// open windows does not count: a quiet stream's lag falls to 0 while its
// windows wait for their end. The delivery layer ends a pipeline's catch-up
// on 0.
func (h *Health) SetLag(n int64) {
	h.lag.Store(n)
	h.lagKnown.Store(true)
}

// SetLagBytes is SetLag for a source whose backlog is bytes not yet read
// (a log file): it counts lines only once they are read.
func (h *Health) SetLagBytes(n int64) {
	h.lagBytes.Store(true)
	h.SetLag(n)
}

// Backlog returns the last lag SetLag recorded and whether the source has
// recorded one at all (sources without a broker-side backlog never do).
func (h *Health) Backlog() (n int64, known bool) {
	return h.lag.Load(), h.lagKnown.Load()
}

// Gap counts one stretch of time in which messages may have been lost,
// such as a reconnect of a subscription that the broker does not replay.
func (h *Health) Gap() { h.gaps.Add(1) }

// SetConnected records whether a connection-based source is connected; it is
// up while it is.
func (h *Health) SetConnected(c bool) { h.up.Store(c) }

// The units of HealthSnapshot.LagUnit.
const (
	LagMessages = "messages"
	LagBytes    = "bytes"
)

// SetTargets makes Snapshot list the targets f returns, for a source that
// scrapes many; f must be safe for concurrent use.
func (h *Health) SetTargets(f func() []event.TargetHealth) { h.targets.Store(&f) }

// Snapshot returns the current health.
func (h *Health) Snapshot() HealthSnapshot {
	s := HealthSnapshot{
		Name:     h.name,
		Type:     h.kind,
		Up:       h.up.Load(),
		Events:   h.events.Load(),
		Rejected: h.rejected.Load(),
		Bytes:    h.bytes.Load(),
		Lag:      h.lag.Load(),
		Gaps:     h.gaps.Load(),
	}
	switch {
	case h.lagBytes.Load():
		s.LagUnit = LagBytes
	case h.lagKnown.Load():
		s.LagUnit = LagMessages
	}
	if ns := h.lastSuccess.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns).UTC()
	}
	if ns := h.lastErrorAt.Load(); ns != 0 {
		s.LastErrorAt = time.Unix(0, ns).UTC()
	}
	if p := h.lastError.Load(); p != nil {
		s.LastError = *p
	}
	s.Rate = h.rate()
	if f := h.targets.Load(); f != nil {
		s.Targets = (*f)()
	}
	return s
}

// rate averages the last rateSeconds complete seconds; the current second is
// left out because it is still filling. A source younger than that is
// averaged over the complete seconds it has lived.
func (h *Health) rate() float64 {
	now := h.second(h.clk.Now())
	span := uint64(rateSeconds)
	if now-1 < span {
		span = now - 1
	}
	if span == 0 {
		return 0
	}
	var sum uint64
	for i := range h.buckets {
		v := h.buckets[i].Load()
		sec := v >> countBits
		if sec < now && sec >= now-span {
			sum += v & countMask
		}
	}
	return float64(sum) / float64(span)
}
