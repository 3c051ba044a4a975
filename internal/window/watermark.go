package window

import (
	"math"
	"slices"
	"time"
)

// minInt64 marks "nothing yet" for times.
const minInt64 = math.MinInt64

// mark is the event-time progress of one part of a source in a pipeline:
// one per source and event.Origin, so each Kafka partition has its own.
type mark struct {
	source string
	origin int32
	max    int64 // highest event time seen from the source's part, ns; minInt64 before its first
	// expected is set for a part announced by ExpectParts: before its first
	// event it holds the watermark back (nothing closes by event time)
	// until it goes idle, instead of not counting.
	expected bool
	seen     int64 // wall clock of its last event, ns; 0 when unknown
}

// observe notes an event of source's part origin at time t that arrived at
// wall clock now (0: unknown) and returns the pipeline's watermark and
// whether it may have moved. The watermark is the minimum over the sources'
// parts of their highest event time, leaving out parts idle for longer than
// idle_timeout: with two sources, one replaying a backlog fast and one live,
// the fast one must not close windows the live one is still filling — nor
// must one Kafka partition replaying ahead of the others after a restart
// close windows their backlog still feeds — but a part that went quiet must
// not hold every window open either.
func (p *Pipeline) observe(source string, origin int32, t, now int64) (int64, bool) {
	if p.last >= len(p.marks) || p.marks[p.last].origin != origin || p.marks[p.last].source != source {
		p.last = -1
		for i := range p.marks {
			if p.marks[i].origin == origin && p.marks[i].source == source {
				p.last = i
				break
			}
		}
		if p.last < 0 {
			p.marks = append(p.marks, mark{source: source, origin: origin, max: minInt64})
			p.last = len(p.marks) - 1
		}
	}
	m := &p.marks[p.last]
	if now != 0 {
		m.seen = now
	}
	if t <= m.max {
		return 0, false
	}
	m.max = t
	return p.watermark(now)
}

// watermark returns the minimum highest event time over the sources' parts
// that are not idle at wall clock now; ok is false when there is none.
func (p *Pipeline) watermark(now int64) (wm int64, ok bool) {
	wm = math.MaxInt64
	for _, m := range p.marks {
		if now != 0 && m.seen != 0 && now-m.seen > p.idle {
			continue
		}
		if m.max == minInt64 {
			if m.expected {
				return 0, false
			}
			continue
		}
		wm, ok = min(wm, m.max), true
	}
	return wm, ok
}

// Lateness is how long after its end a window waits for late events.
func (p *Pipeline) Lateness() time.Duration { return time.Duration(p.lateness) }

// IdleTimeout is how long a source may send nothing before it no longer
// holds the watermark back: idle_timeout, or its default.
func (p *Pipeline) IdleTimeout() time.Duration { return time.Duration(p.idle) }

// ExpectParts announces the parts (event.Origin) a source reads now, such
// as the Kafka partitions assigned to this lookout, at wall clock now. Until
// a part's first event, or until it has been idle for idle_timeout, it holds
// the watermark back: after a restart the partitions' backlogs arrive one
// batch at a time, and the first partition's newer events must not close
// windows the others still feed. Parts already known keep their progress.
// It is owned by the goroutine that calls Add.
func (p *Pipeline) ExpectParts(source string, origins []int32, now time.Time) {
	for _, o := range origins {
		if slices.ContainsFunc(p.marks, func(m mark) bool { return m.origin == o && m.source == source }) {
			continue
		}
		p.marks = append(p.marks, mark{source: source, origin: o, max: minInt64, seen: now.UnixNano(), expected: true})
	}
}

// forgetMarks drops the marks of the parts match accepts: parts that moved
// to another lookout must not hold the watermark back until they go idle.
func (p *Pipeline) forgetMarks(match func(origin int32) bool) {
	p.marks = slices.DeleteFunc(p.marks, func(m mark) bool { return m.origin != 0 && match(m.origin) })
	p.last = 0
}

// PartsBehind reports whether a part announced by ExpectParts and not idle
// at wall clock now has seen no event at or after t yet: after a restart,
// a partition whose backlog has not reached the present.
func (p *Pipeline) PartsBehind(t, now time.Time) bool {
	tn, nn := t.UnixNano(), now.UnixNano()
	for _, m := range p.marks {
		if m.expected && m.max < tn && !(m.seen != 0 && nn-m.seen > p.idle) {
			return true
		}
	}
	return false
}
