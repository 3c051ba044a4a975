package window

import (
	"math"
	"time"
)

// minInt64 marks "nothing yet" for times.
const minInt64 = math.MinInt64

// mark is one source's event-time progress in a pipeline.
type mark struct {
	source string
	max    int64 // highest event time seen from the source, ns
	seen   int64 // wall clock of its last event, ns; 0 when unknown
}

// observe notes an event of source at time t that arrived at wall clock now
// (0: unknown) and returns the pipeline's watermark and whether it may have
// moved. The watermark is the minimum over the sources of their highest
// event time, leaving out sources idle for longer than idle_timeout: with
// two sources, one replaying a backlog fast and one live, the fast one must
// not close windows the live one is still filling, but a source that went
// quiet must not hold every window open either.
func (p *Pipeline) observe(source string, t, now int64) (int64, bool) {
	if p.last >= len(p.marks) || p.marks[p.last].source != source {
		p.last = -1
		for i := range p.marks {
			if p.marks[i].source == source {
				p.last = i
				break
			}
		}
		if p.last < 0 {
			p.marks = append(p.marks, mark{source: source, max: minInt64})
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

// watermark returns the minimum highest event time over the sources that are
// not idle at wall clock now; ok is false when there is none.
func (p *Pipeline) watermark(now int64) (wm int64, ok bool) {
	wm = math.MaxInt64
	for _, m := range p.marks {
		if m.max == minInt64 || now != 0 && m.seen != 0 && now-m.seen > p.idle {
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
