package selfmon

import (
	"math"
	"sync"
	"time"
)

// Vitals is one reading of lookout's vital signs, gathered by internal/app
// from the running stages.
type Vitals struct {
	Process   Process
	Sources   []SourceVitals
	Pipelines []PipelineVitals
	Notifiers []NotifierVitals
	Store     StoreVitals
	// SilentAfter is config self.silent_after: how long a source without
	// a pull schedule may go without events; 0 leaves such sources out.
	SilentAfter time.Duration
}

// Process is the process as a whole.
type Process struct {
	Goroutines     int
	HeapBytes      uint64
	IngestQueue    int
	IngestCapacity int
	OutboxPending  int
	EventsTotal    int64
	WindowsTotal   int64
}

// SourceVitals is one source.
type SourceVitals struct {
	Name, Type string
	// Interval is the pull schedule of host and http sources; 0 for
	// sources that are fed (push, brokers, files).
	Interval    time.Duration
	Up          bool
	LastSuccess time.Time
	Events      int64
	Lag         int64
}

// PipelineVitals is one pipeline's counters since start.
type PipelineVitals struct {
	Name string
	// Events counts the events the pipeline took (its where passed them).
	Events      int64
	Late        int64
	Overflow    int64
	OpenWindows int
}

// NotifierVitals is one notifier: its deliveries and its outbox queue.
type NotifierVitals struct {
	Name    string
	Pending int
	// Oldest is when the oldest undelivered entry was enqueued; zero when
	// none is pending.
	Oldest time.Time
	// Attempts is how many times the oldest entry failed so far.
	Attempts int
	Sent     int64
	Failed   int64
	// ConsecutiveFailures counts failed sends since the last success.
	ConsecutiveFailures int64
}

// StoreVitals is the DuckDB writer.
type StoreVitals struct {
	// Backlog counts rows queued or buffered but not yet committed.
	Backlog int
}

// pulled lists the source types that pull on a schedule: for them "silent"
// means three intervals without a successful pull.
var pulled = map[string]bool{"host": true, "http": true}

// silentIntervals is how many missed pulls make a scheduled source silent.
const silentIntervals = 3

// lagSamples is how many samples of rising lag make LookoutConsumerLag fire.
const lagSamples = 3

// LateSpan is how far back LookoutLateEvents looks: it judges the late
// events among all events of the last LateSpan, not of one sample, so a
// pipeline that gets few events, all late, is judged on enough of them and
// a sample without events does not resolve the alert.
const LateSpan = 5 * time.Minute

// lateSample is what one sample added to a pipeline's counts.
type lateSample struct {
	at           time.Time
	events, late int64
}

// Monitor turns successive Vitals into per-component events with the
// judgements the built-in rules compare against a threshold. It keeps the
// previous counters, so each call reports what happened since the last.
// Safe for concurrent use.
type Monitor struct {
	mu      sync.Mutex
	started time.Time
	prev    map[string]PipelineVitals
	lates   map[string][]lateSample // by pipeline, the samples of the last LateSpan
	lags    map[string][]int64
	// progress is, per source, its event count and since when it has not
	// changed while the source was up with a lag.
	progress map[string]progress
	// firstSeen is when each source first showed up, so one added by a
	// reload gets its full grace period.
	firstSeen map[string]time.Time
	sampled   bool
}

// NewMonitor returns a Monitor; a source that never succeeded counts as
// silent from started on.
func NewMonitor(started time.Time) *Monitor {
	return &Monitor{started: started, prev: map[string]PipelineVitals{}, lates: map[string][]lateSample{},
		lags: map[string][]int64{}, progress: map[string]progress{}, firstSeen: map[string]time.Time{}}
}

type progress struct {
	events int64
	since  time.Time
}

// Events returns one event (as fields) per component of v, measured at now.
// Every event has `component` and `name`; the numbers are:
//
//	process:  goroutines heap_bytes ingest_queue ingest_capacity store_backlog outbox_pending events_total windows_total
//	source:   up silent silent_for_seconds lag lag_rising stalled_for_seconds events_total
//	pipeline: events late overflow (since the last sample) events_span late_span late_ratio (over the last LateSpan) open_windows
//	notifier: pending oldest_age_seconds attempts consecutive_failures sent_total failed_total
//	store:    backlog
func (m *Monitor) Events(v Vitals, now time.Time) []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]map[string]any, 0, 2+len(v.Sources)+len(v.Pipelines)+len(v.Notifiers))
	p := v.Process
	out = append(out, map[string]any{
		"component": "process", "name": "lookout",
		"goroutines":      float64(p.Goroutines),
		"heap_bytes":      float64(p.HeapBytes),
		"ingest_queue":    float64(p.IngestQueue),
		"ingest_capacity": float64(p.IngestCapacity),
		"store_backlog":   float64(v.Store.Backlog),
		"outbox_pending":  float64(p.OutboxPending),
		"events_total":    float64(p.EventsTotal),
		"windows_total":   float64(p.WindowsTotal),
	})
	seen := map[string]bool{}
	for _, s := range v.Sources {
		if s.Type == "self" {
			continue // a stopped self source cannot say so itself
		}
		seen[s.Name] = true
		silent, silentFor := m.silence(s, v.SilentAfter, now)
		out = append(out, map[string]any{
			"component": "source", "name": s.Name, "type": s.Type,
			"up":                  b2f(s.Up),
			"silent":              b2f(silent),
			"silent_for_seconds":  silentFor.Seconds(),
			"lag":                 float64(s.Lag),
			"lag_rising":          b2f(m.lagRising(s.Name, s.Lag)),
			"stalled_for_seconds": m.stalled(s, now).Seconds(),
			"events_total":        float64(s.Events),
		})
	}
	for name := range m.firstSeen {
		if !seen[name] {
			delete(m.lags, name)
			delete(m.progress, name)
			delete(m.firstSeen, name)
		}
	}
	cur := make(map[string]PipelineVitals, len(v.Pipelines))
	for _, pl := range v.Pipelines {
		cur[pl.Name] = pl
		prev, ok := m.prev[pl.Name]
		if !ok || pl.Events < prev.Events { // first sample, or a rebuilt pipeline
			prev = PipelineVitals{}
			delete(m.lates, pl.Name)
		}
		events, late, overflow := pl.Events-prev.Events, max(pl.Late-prev.Late, 0), pl.Overflow-prev.Overflow
		spanEvents, spanLate := m.lateSpan(pl.Name, now, events, late)
		ratio := 0.0
		if spanEvents > 0 {
			ratio = float64(spanLate) / float64(spanEvents)
		}
		out = append(out, map[string]any{
			"component": "pipeline", "name": pl.Name,
			"events":       float64(events),
			"late":         float64(late),
			"events_span":  float64(spanEvents),
			"late_span":    float64(spanLate),
			"late_ratio":   ratio,
			"overflow":     float64(max(overflow, 0)),
			"open_windows": float64(pl.OpenWindows),
		})
	}
	for name := range m.lates {
		if _, ok := cur[name]; !ok {
			delete(m.lates, name)
		}
	}
	m.prev = cur
	for _, n := range v.Notifiers {
		age := 0.0
		if n.Pending > 0 && !n.Oldest.IsZero() {
			age = math.Max(now.Sub(n.Oldest).Seconds(), 0)
		}
		out = append(out, map[string]any{
			"component": "notifier", "name": n.Name,
			"pending":              float64(n.Pending),
			"oldest_age_seconds":   age,
			"attempts":             float64(n.Attempts),
			"consecutive_failures": float64(n.ConsecutiveFailures),
			"sent_total":           float64(n.Sent),
			"failed_total":         float64(n.Failed),
		})
	}
	out = append(out, map[string]any{"component": "store", "name": "duckdb", "backlog": float64(v.Store.Backlog)})
	m.sampled = true
	return out
}

// silence says whether a source has been silent too long, and for how long
// it has been silent. A pulled source is silent after three intervals without
// a successful pull; a fed one after silentAfter without events (never, when
// silentAfter is 0).
func (m *Monitor) silence(s SourceVitals, silentAfter time.Duration, now time.Time) (bool, time.Duration) {
	first, ok := m.firstSeen[s.Name]
	if !ok {
		first = m.started
		if m.sampled {
			first = now // added after the first sample: by a reload
		}
		m.firstSeen[s.Name] = first
	}
	last := s.LastSuccess
	if last.Before(first) {
		last = first
	}
	silentFor := max(now.Sub(last), 0)
	limit := silentAfter
	if pulled[s.Type] && s.Interval > 0 {
		limit = silentIntervals * s.Interval
	}
	return limit > 0 && silentFor > limit, silentFor
}

// stalled returns how long source s has been up, with messages waiting for
// it (lag > 0), without delivering a single event: 0 while it delivers,
// is down (LookoutSourceSilent's and the source's own errors' case) or has
// nothing waiting (a quiet stream).
func (m *Monitor) stalled(s SourceVitals, now time.Time) time.Duration {
	p, ok := m.progress[s.Name]
	if !ok || !s.Up || s.Lag <= 0 || s.Events != p.events {
		m.progress[s.Name] = progress{events: s.Events, since: now}
		return 0
	}
	return max(now.Sub(p.since), 0)
}

// lagRising records a lag sample and reports whether the last lagSamples
// samples rose strictly.
func (m *Monitor) lagRising(name string, lag int64) bool {
	h := append(m.lags[name], lag)
	if len(h) > lagSamples {
		h = h[len(h)-lagSamples:]
	}
	m.lags[name] = h
	if len(h) < lagSamples {
		return false
	}
	for i := 1; i < len(h); i++ {
		if h[i] <= h[i-1] {
			return false
		}
	}
	return true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// lateSpan records a pipeline's sample at now and returns its events and
// late events over the last LateSpan, this sample included.
func (m *Monitor) lateSpan(name string, now time.Time, events, late int64) (int64, int64) {
	xs := m.lates[name]
	i := 0
	for i < len(xs) && now.Sub(xs[i].at) >= LateSpan {
		i++
	}
	xs = append(xs[:copy(xs, xs[i:])], lateSample{at: now, events: events, late: late})
	m.lates[name] = xs
	var e, l int64
	for _, x := range xs {
		e, l = e+x.events, l+x.late
	}
	return e, l
}
