package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	nethttp "net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/preprocess"
	"github.com/lookout-dev/lookout/internal/promtext"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults for keys the config leaves out.
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = 2 * time.Second
	// MaxBody bounds what one pull reads, so a runaway target cannot
	// exhaust memory; a longer body is a failed pull.
	MaxBody = 32 << 20
	// MaxRaw is how much of a body the raw ring keeps.
	MaxRaw = 64 << 10
)

// The formats of the format key.
const (
	FormatPrometheus = "prometheus"
	FormatJSON       = "json"
	FormatStatus     = "status"
)

func init() {
	source.Register(source.Kind{Name: "http", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Config is the settings of an http source, besides name, type and
// preprocessing.
type Config struct {
	// URL is pulled every Interval (default 10s), each pull bounded by
	// Timeout (default 2s); the first pull waits a random part of Jitter.
	URL      string          `yaml:"url"`
	Interval config.Duration `yaml:"interval"`
	Timeout  config.Duration `yaml:"timeout"`
	Jitter   config.Duration `yaml:"jitter"`
	// Format is how the answer is read: prometheus (default), json or
	// status.
	Format string `yaml:"format"`
	// Headers are sent with every pull; they may hold tokens.
	Headers       map[string]config.Secret `yaml:"headers"`
	TargetsConfig `yaml:",inline"`
}

// Defaults sets interval, timeout and format.
func (c *Config) Defaults() {
	c.Interval = config.Duration(DefaultInterval)
	c.Timeout = config.Duration(DefaultTimeout)
	c.Format = FormatPrometheus
	c.TargetsConfig.defaults()
}

// Validate checks the URL, the format and that timeout and jitter are
// shorter than the interval.
func (c *Config) Validate(v *config.Validator) {
	if c.URL == "" && !c.TargetsConfig.fleet() {
		v.Missing("url", "url, targets, file_sd, dns_sd or http_sd is required for type %s", v.Type())
	}
	if c.URL != "" {
		v.HTTPURL("url", c.URL)
	}
	c.TargetsConfig.validate(v)
	switch c.Format {
	case FormatPrometheus, FormatJSON, FormatStatus:
	default:
		v.Errorf("format", "%q is not a format (prometheus, json or status)", c.Format)
	}
	v.Positive("interval", c.Interval <= 0)
	if c.Timeout <= 0 {
		v.Errorf("timeout", "must be more than 0")
	} else if c.Timeout >= c.Interval && c.Interval > 0 {
		v.Errorf("timeout", "timeout %s must be shorter than interval %s", short(c.Timeout), short(c.Interval))
	}
	if c.Jitter >= c.Interval && c.Jitter > 0 {
		v.Errorf("jitter", "jitter %s must be shorter than interval %s", short(c.Jitter), short(c.Interval))
	}
}

// short writes a duration as the config does ("10s", "1m").
func short(d config.Duration) string {
	s, _ := d.MarshalYAML()
	return s.(string)
}

// PullInterval is the interval: an http source pulls on a schedule.
func (c *Config) PullInterval() time.Duration { return c.Interval.D() }

// Source pulls one URL on a schedule.
type Source struct {
	name     string
	url      string
	format   string
	interval time.Duration
	timeout  time.Duration
	jitter   time.Duration
	headers  map[string]config.Secret
	deps     source.Deps
	tc       TargetsConfig
	relabel  []*relabel.Config

	// tgt is the target this copy of the source scrapes: labels go on its
	// events and its health is recorded. Nil for a url source of format
	// json or status, which pulls as a plain URL.
	tgt *target
	// fleet holds the running targets of a source with targets or service
	// discovery; nil for a url-only source.
	fleet *fleetState

	// Rand returns a uniform random number in [0, n); it picks the delay
	// before the first pull. Tests replace it to pin the jitter.
	Rand func(n int64) int64
}

// New returns an http source for cfg.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	c := source.SettingsOf[Config](cfg)
	s := &Source{
		name: cfg.Name, url: c.URL, format: c.Format,
		interval: c.Interval.D(), timeout: c.Timeout.D(), jitter: c.Jitter.D(),
		headers: c.Headers, deps: d, Rand: rand.Int64N, tc: c.TargetsConfig,
	}
	if s.tc.Path == "" {
		s.tc.Path = DefaultPath
	}
	if s.tc.Scheme == "" {
		s.tc.Scheme = DefaultScheme
	}
	if s.tc.Concurrency <= 0 {
		s.tc.Concurrency = DefaultConcurrency
	}
	if s.url == "" && !s.tc.fleet() {
		return nil, errors.New("url, targets, file_sd, dns_sd or http_sd is required")
	}
	if s.relabel, err = compileRelabel(s.tc.Relabel); err != nil {
		return nil, err
	}
	if s.format == "" {
		s.format = FormatJSON
	}
	switch s.format {
	case FormatPrometheus, FormatJSON, FormatStatus:
	default:
		return nil, fmt.Errorf("unknown format %q (want prometheus, json or status)", s.format)
	}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if s.timeout <= 0 {
		s.timeout = min(DefaultTimeout, s.interval)
	}
	switch {
	case s.tc.fleet():
		s.fleet = &fleetState{targets: map[string]*target{}, sem: make(chan struct{}, s.tc.Concurrency)}
		s.deps.Health.SetTargets(s.fleet.health)
	case s.format == FormatPrometheus:
		// A url source of Prometheus samples is a fleet of one, scraped on
		// the url loop (at once, then every interval).
		ts, errs := s.targetsOf([]*targetgroup.Group{s.staticGroup([]string{s.url})})
		if len(errs) > 0 {
			return nil, errs[0]
		}
		if len(ts) == 1 {
			s.tgt = ts[0]
			// The URL is pulled as written (user info, repeated query
			// parameters) unless relabeling rewrote it.
			if len(s.relabel) > 0 {
				s.url = s.tgt.url
			}
			s.tgt.url = s.url
			s.deps.Health.SetTargets(func() []event.TargetHealth { return []event.TargetHealth{s.tgt.health()} })
		}
	}
	return s, nil
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Health returns the source's health.
func (s *Source) Health() *source.Health { return s.deps.Health }

// Raw returns the source's ring of raw messages (response bodies).
func (s *Source) Raw() *source.Ring { return s.deps.Raw }

// firstDelay is the random delay in [0, jitter) before the first pull, which
// spreads many sources with the same interval over time instead of having
// them all pull at once.
func (s *Source) firstDelay() time.Duration {
	if s.jitter <= 0 {
		return 0
	}
	return time.Duration(s.Rand(int64(s.jitter)))
}

// Run waits the jitter delay, pulls, and then pulls every interval on a
// fixed schedule until ctx is done. A failed pull is reported through Health
// and as an up = 0 / up = false event; it never ends Run. Submit blocking
// (backpressure) delays the next pull rather than queueing more.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	if s.fleet != nil {
		s.deps.Log.Debug("starting http source", "source", s.name, "targets", len(s.tc.Targets))
		return s.runFleet(ctx, sink)
	}
	s.deps.Log.Debug("starting http source", "source", s.name, "url", s.url)
	if d := s.firstDelay(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.pullAndSubmit(ctx, sink)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// pullAndSubmit pulls once and hands what it got to sink.
func (s *Source) pullAndSubmit(ctx context.Context, sink source.Sink) {
	// One span per pull: the ingest span of the batch continues it, so
	// a scraped sample's way to a notification is one trace.
	pctx, span := s.deps.Tracer.Start(ctx, "source.pull", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("lookout.source", s.name), attribute.String("url.full", s.url)))
	defer span.End()
	b, rejected := s.Pull(pctx)
	if ctx.Err() != nil {
		return
	}
	span.SetAttributes(attribute.Int("lookout.events", len(b.Events)), attribute.Int("lookout.rejected", len(rejected)))
	if sc := span.SpanContext(); sc.IsValid() {
		b.Trace = event.TraceContext{TraceID: sc.TraceID(), SpanID: sc.SpanID(), Flags: byte(sc.TraceFlags())}
	}
	if len(b.Events) > 0 || len(rejected) > 0 {
		if err := sink.Submit(ctx, b, rejected); err != nil {
			if ctx.Err() != nil {
				return
			}
			span.SetStatus(codes.Error, err.Error())
			s.deps.Health.Failure(fmt.Errorf("submitting: %w", err))
		}
	}
}

// Pull requests the URL once and returns what it produced. Health and the raw
// ring are updated here; submitting is the caller's.
func (s *Source) Pull(ctx context.Context) (event.Batch, []event.Rejected) {
	start := s.deps.Clock.Now()
	b := event.Batch{Source: s.name}
	code, body, contentType, err := s.fetch(ctx)
	elapsed := s.deps.Clock.Now().Sub(start)
	if body != nil {
		s.deps.Raw.Add(start, body[:min(len(body), MaxRaw)])
	}
	if err == nil && s.format != FormatStatus && (code < 200 || code > 299) {
		err = fmt.Errorf("pulling %s: status %d", s.url, code)
	}

	var rejected []event.Rejected
	switch s.format {
	case FormatStatus:
		up := err == nil && code >= 200 && code < 400
		f := map[string]any{"url": s.url, "up": up, "response_time": elapsed.Seconds()}
		if code != 0 {
			f["status"] = float64(code)
		}
		if err == nil && !up {
			err = fmt.Errorf("pulling %s: status %d", s.url, code)
		}
		if err != nil {
			f["error"] = err.Error()
		}
		b.Events = append(b.Events, s.event(f, start))
	case FormatPrometheus:
		if err == nil {
			b.Events, err = s.parseExposition(body, promtext.FormatOf(contentType), start)
			if err != nil {
				rejected = append(rejected, s.reject(start, body, err.Error()))
			}
		}
		up := map[string]any{"metric": "up", "value": 1.0}
		if err != nil {
			up["value"] = 0.0
			up["error"] = err.Error()
		}
		// The samples Prometheus adds to every scrape.
		scraped := len(b.Events)
		b.Events = append(b.Events, s.event(up, start),
			s.event(map[string]any{"metric": "scrape_duration_seconds", "value": elapsed.Seconds()}, start),
			s.event(map[string]any{"metric": "scrape_samples_scraped", "value": float64(scraped)}, start))
	case FormatJSON:
		if err == nil {
			b.Events, rejected = s.parseJSON(body, start)
		} else {
			b.Events = append(b.Events, s.event(map[string]any{"url": s.url, "up": false, "error": err.Error()}, start))
		}
	}

	if s.tgt != nil {
		s.tgt.record(start, err)
	}
	switch {
	case s.fleet != nil && err != nil:
		// One target down does not make the source down while others
		// answer; last_error says which failed.
		s.deps.Health.Failure(err)
		if s.fleet.anyUp() {
			s.deps.Health.SetConnected(true)
		}
		s.deps.Log.Debug("pull failed", "source", s.name, "url", s.url, "err", err)
	case err != nil && s.format == FormatStatus && code != 0:
		// The target answered, with a status its up field says is down:
		// the probe did its job, so the source is up and not silent (the
		// user's rule on up alerts); last_error still shows the status.
		s.deps.Health.Failure(err)
		s.deps.Health.Success()
	case err != nil:
		s.deps.Health.Failure(err)
		trace.SpanFromContext(ctx).SetStatus(codes.Error, err.Error()) // the pull's span, if traced
		s.deps.Log.Debug("pull failed", "source", s.name, "err", err)
	default:
		s.deps.Health.Success()
	}
	s.deps.Health.Received(len(b.Events), len(body))
	if len(rejected) > 0 {
		s.deps.Health.Rejected(len(rejected))
	}
	return b, rejected
}

// fetch does the request. It returns the body and its Content-Type whenever
// a response arrived, whatever its status.
func (s *Source) fetch(ctx context.Context) (int, []byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, s.url, nil)
	if err != nil {
		return 0, nil, "", fmt.Errorf("building request for %s: %w", s.url, err)
	}
	switch s.format {
	case FormatPrometheus:
		// OpenMetrics first, for its exemplars; the text format else, as
		// Prometheus asks. Never protobuf, which is not parsed.
		req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	case FormatJSON:
		req.Header.Set("Accept", "application/json, application/x-ndjson;q=0.9, */*;q=0.1")
	}
	for k, v := range s.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v.Reveal()
			continue
		}
		req.Header.Set(k, v.Reveal())
	}
	// Tell a traced target which pull asked (a no-op when tracing is off).
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := s.deps.HTTP.Do(req)
	if err != nil {
		return 0, nil, "", fmt.Errorf("pulling %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return resp.StatusCode, body, "", fmt.Errorf("reading the body of %s: %w", s.url, err)
	}
	if len(body) > MaxBody {
		return resp.StatusCode, body[:MaxBody], "", fmt.Errorf("reading the body of %s: longer than %d bytes", s.url, MaxBody)
	}
	return resp.StatusCode, body, resp.Header.Get("Content-Type"), nil
}

// event builds an event from fields this source made itself; its Raw is
// their JSON, so the store and the raw view show what the event holds.
func (s *Source) event(f map[string]any, at time.Time) *event.Event {
	if s.tgt != nil {
		s.tgt.addLabels(f)
	}
	e := &event.Event{Time: at, Source: s.name, Fields: f, Raw: rawJSON(f)}
	s.deps.Pre.Apply(e, at)
	return e
}

func (s *Source) reject(at time.Time, raw []byte, reason string) event.Rejected {
	return event.Rejected{Time: at, Source: s.name, Raw: raw, Reason: reason}
}

// rawJSON marshals fields; NaN and ±Inf, which Prometheus samples may hold and
// JSON cannot, are written as the strings Prometheus uses for them.
func rawJSON(f map[string]any) []byte {
	c := f
	copied := false
	for k, v := range f {
		if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
			if !copied {
				c = make(map[string]any, len(f))
				for k2, v2 := range f {
					c[k2] = v2
				}
				copied = true
			}
			c[k] = promtext.FormatValue(x)
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil
	}
	return b
}

// parsers keeps promtext parsers, whose buffers and families are reused
// from one scrape to the next.
var parsers = sync.Pool{New: func() any { return new(promtext.Parser) }}

// parsePrometheus turns a text-format or OpenMetrics body, told apart by
// the `# EOF` OpenMetrics ends with, into one event per sample; see
// parseExposition.
func (s *Source) parsePrometheus(body []byte, at time.Time) ([]*event.Event, error) {
	return s.parseExposition(body, promtext.Sniff(body), at)
}

// parseExposition turns a body in format into one event per sample, in the
// shape expfmt's flattened families give: for the text format, families in
// name order, a summary's quantiles, _sum and _count, a histogram's
// buckets, _sum and _count. An OpenMetrics exemplar's trace_id becomes the
// event's trace_id field, where windows take their exemplars from.
func (s *Source) parseExposition(body []byte, format promtext.Format, at time.Time) ([]*event.Event, error) {
	p := parsers.Get().(*promtext.Parser)
	defer parsers.Put(p)
	var out []*event.Event
	err := p.Flatten(body, format, func(m *promtext.Flat) {
		t := at
		if m.HasTimestamp {
			t = time.UnixMilli(m.Timestamp).UTC()
		}
		f := make(map[string]any, len(m.Labels)+3)
		for _, l := range m.Labels {
			k := l.Name
			if k == "metric" || k == "value" {
				k = "label_" + k
			}
			f[k] = strings.Clone(l.Value)
		}
		if m.BoundName != "" {
			f[m.BoundName] = promtext.FormatValue(m.Bound)
		}
		if m.Exemplar != nil {
			for _, l := range m.Exemplar.Labels {
				if _, taken := f[l.Name]; l.Name == event.FieldTraceID && !taken {
					f[event.FieldTraceID] = strings.Clone(l.Value)
				}
			}
		}
		f["metric"], f["value"] = strings.Clone(m.Name), m.Value
		out = append(out, s.event(f, t))
	})
	if err != nil {
		if format == promtext.OpenMetrics {
			return nil, fmt.Errorf("parsing OpenMetrics: %w", err)
		}
		return nil, fmt.Errorf("parsing the Prometheus text format: %w", err)
	}
	return out, nil
}

// parseJSON reads a body that is one JSON object (one event), a JSON array of
// objects or NDJSON. Each message that is not a JSON object is rejected on
// its own, with its own bytes.
func (s *Source) parseJSON(body []byte, at time.Time) ([]*event.Event, []event.Rejected) {
	var out []*event.Event
	var rejected []event.Rejected
	take := func(msg []byte) {
		e, err := s.deps.Pre.Decode(msg, at)
		if err != nil {
			rejected = append(rejected, s.reject(at, msg, err.Error()))
			return
		}
		out = append(out, e)
	}
	switch {
	case preprocess.IsArray(body):
		elems, err := preprocess.SplitArray(body)
		if err != nil {
			rejected = append(rejected, s.reject(at, body, err.Error()))
		}
		for _, el := range elems {
			take(el)
		}
	default:
		// One object, possibly pretty-printed over several lines, is the
		// common case; only when the whole body is not one object is it
		// read as NDJSON.
		e, err := s.deps.Pre.Decode(body, at)
		if err == nil {
			out = append(out, e)
			break
		}
		preprocess.Lines(body, func(_ int, msg []byte) { take(msg) })
		if len(out) == 0 && len(rejected) == 0 {
			rejected = append(rejected, s.reject(at, body, "empty body"))
		}
	}
	return out, rejected
}

var _ source.Source = (*Source)(nil)
