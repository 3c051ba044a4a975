package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file of CONTRACT.md.
type Config struct {
	Server    Server     `yaml:"server"`
	Storage   Storage    `yaml:"storage"`
	Query     Query      `yaml:"query"`
	State     State      `yaml:"state"`
	Sources   []Source   `yaml:"sources"`
	Pipelines []Pipeline `yaml:"pipelines"`
	Rules     []Rule     `yaml:"rules"`
	Notifiers []Notifier `yaml:"notifiers"`
	// Inhibit mutes the notifications of some alerts while others fire.
	Inhibit []Inhibit `yaml:"inhibit"`
	// NotifyMaxAge is how long an undelivered notification is retried
	// before it is given up, unless its notifier sets max_age. Default 24h.
	NotifyMaxAge Duration `yaml:"notify_max_age"`
	// Self is lookout's monitoring of itself: built-in self rules and the
	// dead-man's switch.
	Self Self `yaml:"self"`

	// File is the path the config was read from ("<default>" for the built-in one).
	File string `yaml:"-"`

	// lines maps a path such as "rules[1].when" to its YAML line, for Line and
	// Errorf; null marks keys written with no value, which count as absent
	// when defaults are filled in.
	lines map[string]int
	null  map[string]bool
	// failed lists the paths with a problem, in a config from LoadPartial.
	failed []string
}

// Server configures the HTTP listener.
type Server struct {
	Listen string `yaml:"listen"`
	Auth   Auth   `yaml:"auth"`
	// MaxBodyBytes limits a push request body; larger ones get 413. Default 16 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// TLS serves the API over HTTPS when both files are set.
	TLS ServerTLS `yaml:"tls"`
	// RateLimit bounds the requests each client (token, or address without
	// tokens) may make; beyond it the API answers 429 with Retry-After.
	RateLimit RateLimit `yaml:"rate_limit"`
	// TraceURL links a window's exemplar traces to a tracing UI (Jaeger,
	// Tempo, ...): {trace_id} is replaced by the 32-hex-digit trace id.
	TraceURL string `yaml:"trace_url"`
	// AllowedHosts are the Host names the API answers besides IP addresses,
	// localhost and the listen host; "*" allows any. Checked when no token
	// is configured, or always when set (DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Timeouts bound how long a client may take to send a request and how
	// long an idle connection stays open.
	Timeouts ServerTimeouts `yaml:"timeouts"`
}

// ServerTimeouts are the listener's deadlines. Header: the request line and
// headers (default 10s); Read: the whole request, body included (default
// 1m, so a 16 MiB push needs about 2.3 Mbit/s); Idle: a keep-alive
// connection between requests (default 2m).
type ServerTimeouts struct {
	Header Duration `yaml:"header"`
	Read   Duration `yaml:"read"`
	Idle   Duration `yaml:"idle"`
}

// Query configures /api/v1/query.
type Query struct {
	// MaxBytes caps the JSON of an answer's rows; the rows stop before it
	// with "truncated": true. Default DefaultQueryMaxBytes.
	MaxBytes int64 `yaml:"max_bytes"`
}

// ServerTLS is the listener's certificate and key (PEM files).
type ServerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// RateLimit is a token bucket per API client: PerSecond requests on average,
// up to Burst at once. Zero PerSecond means no limit.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// Auth holds the API tokens. With none, the API is open (loopback only).
type Auth struct {
	Tokens []Token `yaml:"tokens"`
}

// Token is one API token and what it may do.
type Token struct {
	Name      string   `yaml:"name"`
	Token     Secret   `yaml:"token"`
	TokenFile string   `yaml:"token_file"`
	Scopes    []string `yaml:"scopes"`
}

// Storage configures the DuckDB store.
type Storage struct {
	Path      string    `yaml:"path"`
	Retention Retention `yaml:"retention"`
	// Events turns raw event storage off when false. Default true.
	Events *bool `yaml:"events"`
	// FlushInterval is how often the writer flushes buffered rows. Default 1s.
	FlushInterval Duration `yaml:"flush_interval"`
	// Archive, when its Dir is set, keeps a Parquet copy of rows before
	// retention deletes them.
	Archive Archive `yaml:"archive"`
	// MemoryLimit caps DuckDB's own memory (its cache of table pages and
	// query working memory), a size such as "128MB". Without a cap DuckDB
	// takes up to 80% of the machine's RAM and a long-running lookout's RSS
	// grows with its cache. Default DefaultStorageMemoryLimit.
	MemoryLimit string `yaml:"memory_limit"`
	// Compression is how closed raw-event segment files are kept: "zstd"
	// (the default) or "none".
	Compression string `yaml:"compression"`
}

// Archive is where rows past their retention are copied before deletion.
type Archive struct {
	// Dir is the directory the files are written to; empty turns archiving off.
	Dir string `yaml:"dir"`
	// Format of the files: parquet (the only one, and the default).
	Format string `yaml:"format"`
}

// Retention is how long each table keeps rows.
type Retention struct {
	Events  Duration `yaml:"events"`
	Windows Duration `yaml:"windows"`
	Alerts  Duration `yaml:"alerts"`
}

// State selects where alert state lives.
type State struct {
	Backend string `yaml:"backend"`
	Redis   Redis  `yaml:"redis"`
}

// Redis is a Redis connection.
type Redis struct {
	Addr      string `yaml:"addr"`
	Password  Secret `yaml:"password"`
	DB        int    `yaml:"db"`
	KeyPrefix string `yaml:"key_prefix"`
}

// Source is one input. Keys that do not apply to its type are validation errors.
type Source struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`

	// preprocessing, any source
	TimeField string           `yaml:"time_field"`
	Fields    map[string]Field `yaml:"fields"`
	// RawBuffer is how many raw messages /api/v1/raw keeps. Default 100.
	RawBuffer int `yaml:"raw_buffer"`

	// Settings holds the keys of the source's own kind, decoded into the
	// struct its package registered (source.Register), defaulted and
	// validated.
	Settings KindConfig `yaml:"-"`

	Line int `yaml:"-"`
}

// MarshalYAML writes the envelope and the kind's settings as one mapping,
// as the user wrote them.
func (s Source) MarshalYAML() (any, error) {
	type plain Source
	return withSettings(plain(s), s.Settings)
}

// Field is the preprocessing of one event field.
type Field struct {
	Type     string   `yaml:"type"` // number | string | bool
	Unit     string   `yaml:"unit"`
	To       string   `yaml:"to"`
	As       string   `yaml:"as"`
	Required bool     `yaml:"required"`
	Min      *float64 `yaml:"min"`
	Max      *float64 `yaml:"max"`
}

// Pipeline aggregates events of some sources in windows.
type Pipeline struct {
	Name       string     `yaml:"name"`
	From       []string   `yaml:"from"`
	Where      string     `yaml:"where"`
	GroupBy    []string   `yaml:"group_by"`
	Window     Window     `yaml:"window"`
	Lateness   Duration   `yaml:"lateness"`
	Aggregates Aggregates `yaml:"aggregates"`
	// MaxGroups bounds the open groups; 0 means the default (100000).
	MaxGroups int `yaml:"max_groups"`
	// IdleTimeout: a source without events for longer no longer holds the
	// pipeline's event-time watermark back; 0 means 10 window sizes, at least 30s.
	IdleTimeout Duration `yaml:"idle_timeout,omitempty"`
	// MaxFuture: an event stamped more than this ahead of the wall clock
	// is flagged future and counted instead of folded into a window, so a
	// bad clock cannot move the watermark; defaulted to 5m.
	MaxFuture Duration `yaml:"max_future,omitempty"`
	// Late is what happens to an event later than lateness: "drop" (count
	// and store it, the default) or "update" (also correct and re-emit the
	// windows it belongs to, for UpdateFor after they closed).
	Late string `yaml:"late,omitempty"`
	// UpdateFor is how long after closing a window is kept for late: update;
	// 0 means 1m.
	UpdateFor Duration `yaml:"update_for,omitempty"`
	// Baseline is how many earlier windows of a group the baseline
	// aggregates (zscore, mad_score, ...) compare with; 0 means 10.
	Baseline int `yaml:"baseline,omitempty"`
	// MinBaseline is how many earlier windows zscore and mad_score need
	// before they give a value; 0 means min(5, baseline).
	MinBaseline int `yaml:"min_baseline,omitempty"`

	Line int `yaml:"-"`
}

// Window is a tumbling window (Size), a sliding one (Size and Every) or the last
// Count samples of each group. In YAML: `10s`, `{size: 1m, every: 10s}` or
// `{count: 60}`.
type Window struct {
	Size  time.Duration
	Every time.Duration
	Count int
}

// IsCount reports whether this is a last-N-samples window.
func (w Window) IsCount() bool { return w.Count > 0 }

// UnmarshalYAML accepts the three forms of a window.
func (w *Window) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		d, err := parseDuration(n.Value)
		if err != nil {
			return fmt.Errorf("%q is not a duration", n.Value)
		}
		w.Size = d
		return nil
	}
	var m struct {
		Size  Duration `yaml:"size"`
		Every Duration `yaml:"every"`
		Count int      `yaml:"count"`
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("window must be a duration or a mapping with size/every or count")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "size", "every", "count":
		default:
			return fmt.Errorf("unknown key %q (a window has size and every, or count)", k)
		}
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	w.Size, w.Every, w.Count = time.Duration(m.Size), time.Duration(m.Every), m.Count
	return nil
}

// MarshalYAML writes the window back in its shortest form.
func (w Window) MarshalYAML() (any, error) {
	switch {
	case w.Count > 0:
		return map[string]int{"count": w.Count}, nil
	case w.Every > 0:
		return map[string]string{"size": shortDuration(w.Size), "every": shortDuration(w.Every)}, nil
	}
	return shortDuration(w.Size), nil
}

// Aggregate is one named aggregate of a pipeline, e.g. `errors: count(status >= 500)`.
type Aggregate struct {
	Name string
	Expr string
	Line int
}

// Aggregates keeps the aggregates in the order they were written, since later
// ones may be expressions over earlier ones.
type Aggregates []Aggregate

// UnmarshalYAML reads a mapping of name to expression, keeping the order.
func (a *Aggregates) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("aggregates must be a mapping of name: expression")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("aggregate %s must be an expression string", k.Value)
		}
		*a = append(*a, Aggregate{Name: k.Value, Expr: v.Value, Line: k.Line})
	}
	return nil
}

// MarshalYAML writes the aggregates as an ordered mapping.
func (a Aggregates) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, ag := range a {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: ag.Name},
			&yaml.Node{Kind: yaml.ScalarNode, Value: ag.Expr, Style: yaml.SingleQuotedStyle})
	}
	return n, nil
}

// Rule decides when something is wrong: either over the windows of a pipeline
// (When) or over the store in SQL (SQL + Every).
type Rule struct {
	Name     string            `yaml:"name"`
	Pipeline string            `yaml:"pipeline"`
	When     string            `yaml:"when"`
	For      For               `yaml:"for"`
	Repeat   Duration          `yaml:"repeat"`
	Severity string            `yaml:"severity"`
	Summary  string            `yaml:"summary"`
	Labels   map[string]string `yaml:"labels"`
	Notify   []string          `yaml:"notify"`
	SQL      string            `yaml:"sql"`
	Every    Duration          `yaml:"every"`
	// Timeout bounds each run of an SQL rule's query. Default 10s (half of
	// every when every is 10s or less); must be shorter than every.
	Timeout Duration `yaml:"timeout"`
	// KeepFiringFor keeps a firing alert firing until its condition has been
	// false this long, and ResolveAfter until it has been false for this
	// many consecutive windows (or evaluations): a flapping input then
	// fires and resolves once instead of on every window.
	KeepFiringFor Duration `yaml:"keep_firing_for"`
	ResolveAfter  int      `yaml:"resolve_after"`
	// GroupBy, GroupWait and GroupInterval batch the rule's notifications:
	// alerts with the same GroupBy labels enqueued within GroupWait of the
	// first go out as one message; a later batch of the group waits until
	// GroupInterval has passed since the last. GroupWait 0 sends each alert
	// on its own.
	GroupBy       []string `yaml:"group_by"`
	GroupWait     Duration `yaml:"group_wait"`
	GroupInterval Duration `yaml:"group_interval"`
	// NoData says what a group that stops getting windows means for a
	// pipeline rule: "keep" (its alert stays as it is), "reset" (pending
	// drops, firing resolves; the default, as Prometheus resolves series
	// that disappear) or "alert" (a <Rule>NoData alert fires for the
	// group). NoDataAfter is how long without a window that takes (by the
	// wall clock); 0 means 2 windows (2 × every for sliding windows) plus
	// the lateness, or 5m for {count} windows. NoDataForget is how long
	// alert mode remembers a silent group; 0 means 24h.
	NoData       string   `yaml:"no_data"`
	NoDataAfter  Duration `yaml:"no_data_after"`
	NoDataForget Duration `yaml:"no_data_forget"`

	Line int `yaml:"-"`
}

// Inhibit mutes the notifications of alerts matching Target while an alert
// matching Source fires whose labels named in Equal have the same values.
type Inhibit struct {
	Source map[string]string `yaml:"source"`
	Target map[string]string `yaml:"target"`
	Equal  []string          `yaml:"equal"`

	Line int `yaml:"-"`
}

// For is how long a condition must hold before the alert fires: Count
// consecutive windows, or a Duration. Zero means at once.
type For struct {
	Count    int
	Duration time.Duration
}

// UnmarshalYAML accepts an integer count or a duration.
func (f *For) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("for must be a number of windows or a duration")
	}
	if c, err := strconv.Atoi(n.Value); err == nil {
		if c < 0 {
			return fmt.Errorf("for must not be negative")
		}
		f.Count = c
		return nil
	}
	d, err := parseDuration(n.Value)
	if err != nil || d < 0 {
		return fmt.Errorf("%q is neither a count of windows nor a duration", n.Value)
	}
	f.Duration = d
	return nil
}

// MarshalYAML writes the count or the duration.
func (f For) MarshalYAML() (any, error) {
	if f.Duration > 0 {
		return shortDuration(f.Duration), nil
	}
	return f.Count, nil
}

// Notifier is one channel alerts are sent to: the envelope every kind has.
// The keys of its kind (url, smtp, ...) belong to the kind's package and are
// decoded into Settings.
type Notifier struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// MaxAge is how long an undelivered notification to this notifier is
	// retried before it is given up; default notify_max_age.
	MaxAge Duration `yaml:"max_age"`

	// Settings holds the keys of the notifier's own kind, decoded into the
	// struct its package registered (notify.Register), defaulted and
	// validated; nil for a kind that registered none.
	Settings KindConfig `yaml:"-"`

	Line int `yaml:"-"`
}

// MarshalYAML writes the envelope and the kind's settings as one mapping,
// as the user wrote them.
func (n Notifier) MarshalYAML() (any, error) {
	type plain Notifier
	return withSettings(plain(n), n.Settings)
}

// withSettings encodes envelope and appends the keys of settings.
func withSettings(envelope any, settings KindConfig) (*yaml.Node, error) {
	var node yaml.Node
	if err := node.Encode(envelope); err != nil {
		return nil, err
	}
	if settings != nil {
		var s yaml.Node
		if err := s.Encode(settings); err != nil {
			return nil, err
		}
		// The kind's keys win over fields of the same name that the
		// envelope still has for kinds not yet owning their settings.
		own := map[string]bool{}
		for i := 0; i+1 < len(s.Content); i += 2 {
			own[s.Content[i].Value] = true
		}
		kept := node.Content[:0]
		for i := 0; i+1 < len(node.Content); i += 2 {
			if !own[node.Content[i].Value] {
				kept = append(kept, node.Content[i], node.Content[i+1])
			}
		}
		node.Content = append(kept, s.Content...)
	}
	return &node, nil
}

// Self configures lookout watching itself. Unless Enabled is false, lookout
// adds a `self` source named lookout_self, a pipeline of the same name and the
// built-in Lookout* rules to the configuration (docs/observability.md).
type Self struct {
	// Enabled turns the built-in self rules on (the default) or off.
	Enabled *bool `yaml:"enabled"`
	// Notify names the notifiers the self rules send to; default every
	// configured notifier.
	Notify []string `yaml:"notify"`
	// Interval is how often lookout samples itself. Default 10s.
	Interval Duration `yaml:"interval"`
	// SilentAfter is how long a push-fed source (one without an interval)
	// may stay without events before LookoutSourceSilent fires; 0 (the
	// default) leaves such sources out.
	SilentAfter Duration `yaml:"silent_after"`
	// Deadman pings an outside URL while lookout is healthy.
	Deadman Deadman `yaml:"deadman"`
}

// IsEnabled reports whether the built-in self-monitoring is on.
func (s Self) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// Deadman is a dead-man's switch: lookout requests URL every Interval while
// its ingest loop runs and its store keeps up, so a service watching for the
// pings (healthchecks.io, Dead Man's Snitch, a second lookout) notices when
// lookout dies or stalls.
type Deadman struct {
	// URL is requested with GET; empty turns the switch off.
	URL Secret `yaml:"url"`
	// Interval between pings. Default 1m.
	Interval Duration `yaml:"interval"`
}

// Duration is a time.Duration written in Go syntax (`10s`, `5m`).
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("a duration must be a string like 10s")
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration", n.Value)
	}
	if v < 0 {
		return fmt.Errorf("%q must not be negative", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes Go duration syntax.
func (d Duration) MarshalYAML() (any, error) { return shortDuration(time.Duration(d)), nil }

// days matches a number of days, the one unit people write in retention
// periods (CONTRACT.md's `windows: 30d`) that Go's syntax lacks.
var days = regexp.MustCompile(`(\d+\.?\d*|\.\d+)d`)

// parseDuration is time.ParseDuration plus d for days of 24h: "30d", "1d12h".
// No other Go unit contains a d, so rewriting each "<n>d" as hours is exact.
func parseDuration(s string) (time.Duration, error) {
	if strings.Contains(s, "d") {
		var bad error
		s = days.ReplaceAllStringFunc(s, func(m string) string {
			f, err := strconv.ParseFloat(strings.TrimSuffix(m, "d"), 64)
			if err != nil {
				bad = err
			}
			return strconv.FormatFloat(f*24, 'f', -1, 64) + "h"
		})
		if bad != nil {
			return 0, bad
		}
	}
	return time.ParseDuration(s)
}

// shortDuration is time.Duration.String without zero trailing units: "24h",
// not "24h0m0s", as a person would write it in the config.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Secret is a string that never shows itself in logs, JSON or config dumps.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// Reveal returns the secret itself, for the one place that must use it.
func (s Secret) Reveal() string { return string(s) }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret in JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML redacts the secret in config dumps.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
