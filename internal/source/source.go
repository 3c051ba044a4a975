package source

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/preprocess"
)

// ErrFull is returned by Sink.TrySubmit when lookout's queues are full. The
// push API answers 429/503 with Retry-After; nothing of the batch was kept.
var ErrFull = event.ErrFull

// Sink is where sources hand over what they produced: the events of one
// source and the inputs that could not be parsed at all. The sink owns the
// batch and the rejected slice afterwards; the source must not touch them.
//
// Submit blocks while lookout's queues are full (backpressure) until ctx is
// done, and then returns ctx's error with nothing kept. TrySubmit never blocks:
// it returns ErrFull instead, again with nothing kept. Implementations are
// safe for concurrent use.
type Sink interface {
	Submit(ctx context.Context, b event.Batch, rejected []event.Rejected) error
	TrySubmit(b event.Batch, rejected []event.Rejected) error
}

// Source is one running input.
type Source interface {
	// Name is the source's name from the config.
	Name() string
	// Run produces events into sink until ctx is done, and then returns nil.
	// It returns an error only when the source fails for good (transient
	// failures are retried and reported through Health).
	Run(ctx context.Context, sink Sink) error
}

// Deps is what a source gets from the wiring in internal/app. Fields left nil
// are filled by WithDefaults.
type Deps struct {
	Log    *slog.Logger
	Clock  clock.Clock
	Pre    *preprocess.Processor
	Raw    *Ring
	Health *Health
	HTTP   *http.Client
	// Tracer starts the spans of scheduled pulls; nil means no tracing.
	Tracer trace.Tracer
	// Origins numbers the parts of sources (Kafka partitions) for
	// event.Event.Origin. The app shares one among all its sources, so that
	// a pipeline reading two of them never sees one number for two parts.
	Origins *Origins
	// Revoked tells the app that the parts origins of the named source moved
	// to another lookout (a consumer-group rebalance), so that it drops
	// their events not yet in windows and forgets the open windows they fed:
	// the new owner re-reads them from the last commit and emits those
	// windows. It blocks until the app has done so, or until ctx is done,
	// and then returns ctx's error. Safe for concurrent use. The default
	// does nothing.
	Revoked func(ctx context.Context, source string, origins []int32) error
	// Positions remembers, across restarts, how far a source without a
	// broker to redeliver (logfile) got, keyed by source name. The default
	// remembers nothing.
	Positions Positions
	// DataDir is lookout's data directory. Broker sources derive from it
	// the name they keep in their group across restarts (Kafka's static
	// member id, a Redis Streams consumer name), so that a restarted
	// lookout takes back what it had. Empty means no stable name.
	DataDir string
}

// Origins hands out the numbers of event.Event.Origin: 1, 2, ... in the order
// keys are first seen, each key keeping its number for the process's
// lifetime. The zero value is ready to use; it is safe for concurrent use.
type Origins struct {
	mu sync.Mutex
	m  map[string]int32
}

// Of returns key's number, giving it the next one on first use. Sources make
// the key unique across sources (their name, then what names the part).
func (o *Origins) Of(key string) int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n, ok := o.m[key]; ok {
		return n
	}
	if o.m == nil {
		o.m = map[string]int32{}
	}
	n := int32(len(o.m) + 1)
	o.m[key] = n
	return n
}

// DefaultRawBuffer is how many raw messages a source keeps when the config
// does not say (CONTRACT.md /api/v1/raw).
const DefaultRawBuffer = 100

// WithDefaults returns d with every nil field filled in for cfg, so a source
// and its tests can rely on all of them being set.
func (d Deps) WithDefaults(cfg config.Source) (Deps, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Pre == nil {
		p, err := preprocess.New(cfg)
		if err != nil {
			return d, fmt.Errorf("compiling preprocessing of source %s: %w", cfg.Name, err)
		}
		d.Pre = p
	}
	if d.Raw == nil {
		n := cfg.RawBuffer
		if n <= 0 {
			n = DefaultRawBuffer
		}
		d.Raw = NewRing(n)
	}
	if d.Health == nil {
		d.Health = NewHealth(cfg.Name, cfg.Type, d.Clock)
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{}
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if d.Origins == nil {
		d.Origins = &Origins{}
	}
	if d.Positions == nil {
		d.Positions = noPositions{}
	}
	if d.Revoked == nil {
		d.Revoked = func(context.Context, string, []int32) error { return nil }
	}
	return d, nil
}

// Factory builds a source of one kind from its config.
type Factory func(cfg config.Source, deps Deps) (Source, error)

// registry is the plug-in registry of source kinds, filled by init()
// functions before main runs and only read afterwards.
var registry = struct {
	sync.RWMutex
	m map[string]Factory
}{m: map[string]Factory{}}

// Kind is one source kind as its package registers it.
type Kind struct {
	// Name is the config type ("kafka").
	Name string
	// NewConfig returns a fresh value of the kind's settings: the keys it
	// adds to a source's name, type and preprocessing. Parse decodes them
	// into it, fills the defaults and validates it; the Factory finds it in
	// config.Source.Settings. Without it config.Parse does not know the
	// type (only tests register a bare factory).
	NewConfig func() config.KindConfig
	// New builds the source.
	New Factory
}

// Register makes a source kind available under its config type name, and
// its settings to config.Parse. It is called from the init() of each
// source/<kind> package and panics on a duplicate, which is a programming
// error.
func Register(k Kind) {
	registry.Lock()
	defer registry.Unlock()
	if k.New == nil || k.Name == "" {
		panic("source: Register of kind " + k.Name + " with no name or a nil factory")
	}
	if _, dup := registry.m[k.Name]; dup {
		panic("source: Register called twice for kind " + k.Name)
	}
	registry.m[k.Name] = k.New
	if k.NewConfig != nil {
		config.RegisterSourceKind(k.Name, k.NewConfig)
	}
}

// SettingsOf returns the kind settings of cfg as the kind's *C, or a fresh
// defaulted one when cfg carries none (a config built in code, not parsed).
func SettingsOf[C any, P interface {
	*C
	config.KindConfig
}](cfg config.Source) P {
	if p, ok := cfg.Settings.(P); ok && p != nil {
		return p
	}
	p := P(new(C))
	p.Defaults()
	return p
}

// New builds the source cfg describes, with the factory of its type.
func New(cfg config.Source, deps Deps) (Source, error) {
	registry.RLock()
	f, ok := registry.m[cfg.Type]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("source %s: unknown type %q (known: %s)", cfg.Name, cfg.Type, strings.Join(Kinds(), ", "))
	}
	s, err := f(cfg, deps)
	if err != nil {
		return nil, fmt.Errorf("creating %s source %s: %w", cfg.Type, cfg.Name, err)
	}
	return s, nil
}

// Kinds returns the registered kinds, sorted.
func Kinds() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.m))
	for k := range registry.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Receiver is a source that is fed over lookout's own HTTP listener, like the
// OTLP/HTTP receiver. The app mounts each one's handler at its Pattern (a
// net/http ServeMux pattern such as "POST /v1/metrics") behind the write scope.
// The handler answers 429 with Retry-After when Sink.TrySubmit says ErrFull.
type Receiver interface {
	Source
	Pattern() string
	// Handler serves the source's requests, handing what it parsed to sink.
	Handler(sink Sink) http.Handler
}

// Listening is what every source fed by requests to lookout (push, otlp,
// remote_write) shares: its name and deps, and a Run that only marks it up
// until ctx is done, since requests reach it through the API. Such a source
// embeds it.
type Listening struct {
	SourceName string
	Deps       Deps
}

// Name returns the source's name.
func (l *Listening) Name() string { return l.SourceName }

// Health returns the source's health.
func (l *Listening) Health() *Health { return l.Deps.Health }

// Raw returns the source's ring of raw requests or messages.
func (l *Listening) Raw() *Ring { return l.Deps.Raw }

// Run marks the source up and blocks until ctx is done.
func (l *Listening) Run(ctx context.Context, _ Sink) error {
	l.Deps.Health.SetConnected(true)
	<-ctx.Done()
	l.Deps.Health.SetConnected(false)
	return nil
}
