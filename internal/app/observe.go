package app

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/rule"
	"github.com/lookout-dev/lookout/internal/telemetry"
	"github.com/lookout-dev/lookout/internal/window"
)

// observer is lookout watching its own pipeline: the OpenTelemetry spans of
// one event's path (ingest batch → window close → rule evaluation →
// notification send), the per-rule and per-notifier counters, and the
// latency histograms that /metrics adds to the stages' own counters.
//
// Tracing costs nothing when it is off: every span is behind tr.Enabled, and
// spans are per batch and per window, never per event.
type observer struct {
	tr  *telemetry.Tracing
	clk clock.Clock
	log *slog.Logger

	// Owned by the ingest goroutine.
	batches  map[*window.Pipeline]*batchRing
	batchSC  trace.SpanContext // the ingest span of the batch being processed
	batchMin time.Time         // its oldest and newest event times
	batchMax time.Time
	winCtx   context.Context // the window span while emit runs
	evalFor  map[string][]*atomic.Int64
	evalCfg  []config.Rule // the rules evalFor was built for

	// cur is the window whose rules are being evaluated, so that the
	// notifications they decide carry its trace and timing (see decided).
	cur atomic.Pointer[decision]

	evals sync.Map // rule name → *atomic.Int64

	trMu        sync.Mutex
	transitions map[[2]string]int64 // {rule, state} → count
	lastState   map[string]event.AlertState

	ntMu      sync.Mutex
	notifiers map[string]*notifierStats

	alertLatency    *prometheus.HistogramVec
	deliveryLatency *prometheus.HistogramVec
}

// decision is the window being judged, for the notifications it causes.
type decision struct {
	pipeline string
	end      time.Time
	closed   time.Time
	trace    event.TraceContext
}

// notifierStats counts one notifier's deliveries.
type notifierStats struct {
	sent, failed, consecutive atomic.Int64
}

// latencyBuckets span a sub-millisecond in-process decision to a delivery
// that waited out minutes of retries.
var latencyBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// The stages of lookout_alert_delivery_latency_seconds, each measured from
// the event-time end of the window that decided the alert.
const (
	stageClose    = "window_close"
	stageDecision = "decision"
	stageDelivery = "delivery"
)

func newObserver(ctx context.Context, log *slog.Logger, clk clock.Clock, version string) (*observer, error) {
	tr, err := telemetry.NewTracing(ctx, os.Getenv, version)
	if err != nil {
		return nil, err
	}
	if tr.Enabled {
		log.Info("tracing lookout's pipeline with OpenTelemetry (OTLP/HTTP)")
	}
	return &observer{
		tr: tr, clk: clk, log: log,
		batches:     map[*window.Pipeline]*batchRing{},
		transitions: map[[2]string]int64{},
		lastState:   map[string]event.AlertState{},
		notifiers:   map[string]*notifierStats{},
		alertLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lookout_alert_delivery_latency_seconds",
			Help:    "Time from the event-time end of the window that decided an alert to its window closing (stage window_close), to the rule's decision (decision) and to a notifier acknowledging it (delivery).",
			Buckets: latencyBuckets,
		}, []string{"rule", "stage"}),
		deliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lookout_notify_delivery_latency_seconds",
			Help:    "Time from a rule's decision to the notifier acknowledging the notification, retries included.",
			Buckets: latencyBuckets,
		}, []string{"notifier"}),
	}, nil
}

// close flushes the spans still buffered.
func (o *observer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return o.tr.Shutdown(ctx)
}

// batchRingSize is how many recent ingest spans each pipeline remembers to
// find the batch that opened a closing window.
const batchRingSize = 64

// batchRing holds the recent ingest spans of one pipeline with the event-time
// range of their batches.
type batchRing struct {
	n       int
	entries [batchRingSize]batchEntry
}

type batchEntry struct {
	sc       trace.SpanContext
	min, max time.Time
}

func (r *batchRing) add(e batchEntry) {
	r.entries[r.n%batchRingSize] = e
	r.n++
}

// overlapping returns the remembered batches whose events fall in [start,
// end], oldest first, at most max.
func (r *batchRing) overlapping(start, end time.Time, limit int) []batchEntry {
	var out []batchEntry
	first := max(r.n-batchRingSize, 0)
	for i := first; i < r.n && len(out) < limit; i++ {
		e := r.entries[i%batchRingSize]
		if !e.min.After(end) && !e.max.Before(start) {
			out = append(out, e)
		}
	}
	return out
}

// noop ends no span; a package-level func so that returning it allocates
// nothing.
func noop() {}

// maxLinks bounds the links of one span (to producers' traces, to further
// batches of a window).
const maxLinks = 8

// ingestBatch starts the span of one ingest batch, continuing the trace of
// the pull that produced it, and returns the function that ends it. It runs
// on the ingest goroutine.
func (o *observer) ingestBatch(b event.Batch, pipelines []*window.Pipeline) func() {
	if !o.tr.Enabled || len(b.Events) == 0 {
		return noop
	}
	var links []trace.Link
	lo, hi := b.Events[0].Time, b.Events[0].Time
	for _, e := range b.Events {
		if e.Time.Before(lo) {
			lo = e.Time
		}
		if e.Time.After(hi) {
			hi = e.Time
		}
		if len(links) < maxLinks {
			if tc, ok := e.Trace(); ok {
				// The producer's own trace: link, do not adopt it, since
				// one batch holds many producers' events.
				if !tc.IsValid() {
					tc.SpanID = [8]byte{0, 0, 0, 0, 0, 0, 0, 1}
				}
				links = append(links, trace.Link{SpanContext: telemetry.FromEvent(tc),
					Attributes: []attribute.KeyValue{attribute.String("lookout.link", "event producer")}})
			}
		}
	}
	ctx := telemetry.ContextWith(context.Background(), b.Trace)
	_, span := o.tr.Tracer.Start(ctx, "ingest.batch", trace.WithLinks(links...), trace.WithAttributes(
		attribute.String("lookout.source", b.Source), attribute.Int("lookout.events", len(b.Events))))
	sc := span.SpanContext()
	for _, p := range pipelines {
		r := o.batches[p]
		if r == nil {
			r = &batchRing{}
			o.batches[p] = r
		}
		r.add(batchEntry{sc: sc, min: lo, max: hi})
	}
	o.batchSC, o.batchMin, o.batchMax = sc, lo, hi
	return func() {
		o.batchSC = trace.SpanContext{}
		span.End()
	}
}

// windowClosed starts the span of a closing window and returns the function
// that ends it. The span is a child of the ingest span of the batch that
// opened the window (for a count window, the batch whose event made it emit)
// and links to the other batches that fed it, so one event's path is one
// trace. Runs on the ingest goroutine.
func (o *observer) windowClosed(g *graph, w *event.Window) func() {
	if !o.tr.Enabled {
		return noop
	}
	var p *window.Pipeline
	for _, gp := range g.pipelines {
		if gp.Name() == w.Pipeline {
			p = gp
			break
		}
	}
	var parent trace.SpanContext
	var links []trace.Link
	if o.batchSC.IsValid() && !o.batchMin.After(w.End) && !o.batchMax.Before(w.Start) {
		parent = o.batchSC // emitted by the batch being processed
	}
	if r := o.batches[p]; r != nil {
		for _, e := range r.overlapping(w.Start, w.End, maxLinks+1) {
			switch {
			case !parent.IsValid():
				parent = e.sc
			case e.sc.Equal(parent):
			case len(links) < maxLinks:
				links = append(links, trace.Link{SpanContext: e.sc})
			}
		}
	}
	ctx := context.Background()
	if parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, parent)
	}
	attrs := []attribute.KeyValue{
		attribute.String("lookout.pipeline", w.Pipeline),
		attribute.String("lookout.window.start", w.Start.UTC().Format(time.RFC3339Nano)),
		attribute.String("lookout.window.end", w.End.UTC().Format(time.RFC3339Nano)),
		attribute.Int64("lookout.window.events", w.Count),
	}
	for i, k := range w.GroupKeys {
		if i < len(w.Group) {
			attrs = append(attrs, attribute.String("lookout.group."+k, w.Group[i]))
		}
	}
	ctx, span := o.tr.Tracer.Start(ctx, "window.close", trace.WithLinks(links...), trace.WithAttributes(attrs...))
	o.winCtx = ctx
	return func() {
		o.winCtx = nil
		span.End()
	}
}

// evaluate runs the rules on a closed window inside a rule-evaluation span,
// counting one evaluation per rule of the window's pipeline. Notifications
// decided meanwhile pick up the span and the window's timing (decided).
func (o *observer) evaluate(rules *rule.Engine, ruleCfg []config.Rule, w *event.Window) {
	counters := o.evalCounters(ruleCfg)[w.Pipeline]
	if len(counters) == 0 {
		return // no rule reads this pipeline
	}
	for _, c := range counters {
		c.Add(1)
	}
	d := &decision{pipeline: w.Pipeline, end: w.End, closed: o.clk.Now()}
	var span trace.Span
	if o.tr.Enabled {
		ctx := o.winCtx
		if ctx == nil {
			ctx = context.Background()
		}
		_, span = o.tr.Tracer.Start(ctx, "rule.evaluate", trace.WithAttributes(
			attribute.String("lookout.pipeline", w.Pipeline), attribute.Int("lookout.rules", len(counters))))
		d.trace = telemetry.ToEvent(span.SpanContext())
	}
	o.cur.Store(d)
	rules.OnWindow(w)
	o.cur.Store(nil)
	if span != nil {
		span.End()
	}
}

// evalCounters returns the evaluation counters by pipeline for rules, built
// again only when the rule list changed (a reload). Ingest goroutine only.
func (o *observer) evalCounters(rules []config.Rule) map[string][]*atomic.Int64 {
	if o.evalFor != nil && sameSlice(o.evalCfg, rules) {
		return o.evalFor
	}
	m := map[string][]*atomic.Int64{}
	for _, r := range rules {
		if r.Pipeline == "" {
			continue // SQL rules run on their own schedule
		}
		c, _ := o.evals.LoadOrStore(r.Name, new(atomic.Int64))
		m[r.Pipeline] = append(m[r.Pipeline], c.(*atomic.Int64))
	}
	o.evalFor, o.evalCfg = m, rules
	return m
}

// sameSlice reports whether a and b are the same slice (a published config
// is never modified, so the same slice means the same rules).
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// decided stamps a notification a rule just decided with the trace of the
// evaluation and the window's timing, and observes the first two latency
// stages. Window rules are only evaluated in evaluate, on the ingest
// goroutine, and notify synchronously, so cur is theirs; SQL rules (no
// pipeline) only get the decision time.
func (o *observer) decided(al event.Alert, pipelineOf func(rule string) string) event.Alert {
	now := o.clk.Now()
	al.Decided = now
	d := o.cur.Load()
	if d == nil || pipelineOf(al.Rule) != d.pipeline {
		return al
	}
	al.Trace, al.WindowEnd, al.WindowClosed = d.trace, d.end, d.closed
	o.alertLatency.WithLabelValues(al.Rule, stageClose).Observe(max(d.closed.Sub(d.end).Seconds(), 0))
	o.alertLatency.WithLabelValues(al.Rule, stageDecision).Observe(max(now.Sub(d.end).Seconds(), 0))
	return al
}

// recordRule counts the state transitions among what the rule engine
// records (it also records repeat sends and suppressions, which are not).
func (o *observer) recordRule(t event.Transition) {
	if t.Decision == rule.DecisionSuppressedRepeat {
		return
	}
	o.trMu.Lock()
	defer o.trMu.Unlock()
	if o.lastState[t.Fingerprint] == t.State {
		return // a repeat of a firing alert
	}
	o.transitions[[2]string{t.Rule, string(t.State)}]++
	switch t.State {
	case event.StatePending, event.StateFiring:
		o.lastState[t.Fingerprint] = t.State
	default:
		delete(o.lastState, t.Fingerprint)
	}
}

func (o *observer) notifier(name string) *notifierStats {
	o.ntMu.Lock()
	defer o.ntMu.Unlock()
	s := o.notifiers[name]
	if s == nil {
		s = &notifierStats{}
		o.notifiers[name] = s
	}
	return s
}

// tracedNotifier wraps a channel: each send is a span continuing the trace
// of the decision (across the durable outbox), and its outcome feeds the
// per-notifier counters and the delivery latency.
type tracedNotifier struct {
	name  string
	n     notify.Notifier
	o     *observer
	stats *notifierStats
}

func (o *observer) wrap(name string, n notify.Notifier) notify.Notifier {
	return &tracedNotifier{name: name, n: n, o: o, stats: o.notifier(name)}
}

// Send sends through the wrapped notifier. Errors pass through unchanged, so
// the dispatcher still sees ErrPermanent and RetryAfter.
func (t *tracedNotifier) Send(ctx context.Context, m notify.Message) error {
	var al event.Alert
	if len(m.Alerts) > 0 {
		al = m.Alerts[0]
	}
	var span trace.Span
	if t.o.tr.Enabled {
		ctx, span = t.o.tr.Tracer.Start(telemetry.ContextWith(ctx, al.Trace), "notify.send",
			trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
				attribute.String("lookout.notifier", t.name),
				attribute.String("lookout.rule", al.Rule),
				attribute.String("lookout.alert.fingerprint", al.Fingerprint),
				attribute.String("lookout.alert.status", m.Status)))
	}
	err := t.n.Send(ctx, m)
	now := t.o.clk.Now()
	switch {
	case err == nil:
		t.stats.sent.Add(1)
		t.stats.consecutive.Store(0)
		if !al.Decided.IsZero() {
			t.o.deliveryLatency.WithLabelValues(t.name).Observe(max(now.Sub(al.Decided).Seconds(), 0))
		}
		if !al.WindowEnd.IsZero() {
			t.o.alertLatency.WithLabelValues(al.Rule, stageDelivery).Observe(max(now.Sub(al.WindowEnd).Seconds(), 0))
		}
	case ctx.Err() != nil:
		// Shutting down interrupted the send: not the channel's failure.
	default:
		t.stats.failed.Add(1)
		t.stats.consecutive.Add(1)
	}
	if span != nil {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	return err
}

var _ notify.Notifier = (*tracedNotifier)(nil)

// traceTransport adds the W3C traceparent of the current span to outgoing
// requests (webhooks, chat services), so a traced receiver continues the
// trace. It changes nothing when there is no span.
type traceTransport struct{ base http.RoundTripper }

func (t traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if trace.SpanContextFromContext(r.Context()).IsValid() {
		r = r.Clone(r.Context()) // a RoundTripper must not modify the request
		propagation.TraceContext{}.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// recordRule receives the rule engine's transitions and decisions: counted
// for /metrics, then recorded like every other.
func (a *App) recordRule(t event.Transition) {
	a.obs.recordRule(t)
	a.record(t)
}
