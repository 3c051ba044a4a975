package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults for keys the config leaves out.
const (
	DefaultMaxMessageBytes = source.DefaultMaxMessageBytes
	DefaultClaimIdle       = 30 * time.Second
	DefaultField           = "data"
	// DefaultGroup is the consumer group of a stream source that names none.
	DefaultGroup = "lookout"
)

// The values of the mode key.
const (
	ModeStream = "stream"
	ModePubSub = "pubsub"
)

// Config is the settings of a redis source, besides name, type and
// preprocessing.
type Config struct {
	// Mode is stream (Redis Streams, at least once) or pubsub (at most
	// once). Default stream, or pubsub when only channels are given.
	Mode     string        `yaml:"mode"`
	Addr     string        `yaml:"addr"`
	Password config.Secret `yaml:"password"`
	DB       int           `yaml:"db"`
	// Stream, Group, Field, Consumer and ClaimIdle are mode stream's: the
	// stream read with XREADGROUP in Group (default DefaultGroup), the
	// entry field holding the message (default DefaultField), this
	// lookout's consumer name (default a name kept in the data directory)
	// and how long an entry delivered to another consumer may stay
	// unacknowledged before this one claims it (default DefaultClaimIdle).
	Stream    string          `yaml:"stream"`
	Group     string          `yaml:"group"`
	Field     string          `yaml:"field"`
	Consumer  string          `yaml:"consumer"`
	ClaimIdle config.Duration `yaml:"claim_idle"`
	// Channels are mode pubsub's channels and patterns.
	Channels             []string `yaml:"channels"`
	source.MessageConfig `yaml:",inline"`
}

// Defaults sets the message keys; the others depend on the mode, settled
// in Validate.
func (c *Config) Defaults() { c.MessageConfig.Defaults() }

// Validate settles the mode from what was given (channels only exist in
// pub/sub) and the defaults of mode stream, then checks the keys against
// the mode.
func (c *Config) Validate(v *config.Validator) {
	if !v.Has("mode") {
		c.Mode = ModeStream
		if len(c.Channels) > 0 && c.Stream == "" {
			c.Mode = ModePubSub
		}
	}
	if c.Mode == ModeStream {
		if !v.Has("claim_idle") {
			c.ClaimIdle = config.Duration(DefaultClaimIdle)
		}
		if !v.Has("field") {
			c.Field = DefaultField
		}
		if !v.Has("group") {
			c.Group = DefaultGroup
		}
	}
	v.Required("addr", c.Addr == "")
	switch c.Mode {
	case ModeStream:
		v.Required("stream", c.Stream == "")
		if len(c.Channels) > 0 {
			v.Errorf("channels", "channels apply to mode pubsub; mode stream reads stream")
		}
	case ModePubSub:
		v.Required("channels", len(c.Channels) == 0)
		v.NonEmpty("channels", c.Channels)
		for _, k := range []string{"stream", "group"} {
			if v.Has(k) {
				v.Errorf(k, "%s applies to mode stream, not pubsub", k)
			}
		}
	default:
		v.Errorf("mode", "%q is not a redis mode (stream or pubsub)", c.Mode)
	}
	if c.DB < 0 {
		v.Errorf("db", "must not be negative")
	}
	if c.Mode == ModePubSub {
		for _, k := range []string{"consumer", "claim_idle"} {
			if v.Has(k) {
				v.Errorf(k, "%s applies to mode stream, not pubsub", k)
			}
		}
	} else if c.Mode == ModeStream && c.ClaimIdle <= 0 {
		v.Errorf("claim_idle", "must be more than 0")
	}
	c.MessageConfig.Validate(v)
}

// Redelivers reports whether Redis hands unacknowledged messages out again
// after a restart: a stream's consumer group does, Pub/Sub not.
func (c *Config) Redelivers() bool { return c.Mode != ModePubSub }

const (
	// readCount bounds the entries of one XREADGROUP, and so one batch.
	readCount = 5000
	// readBlock is how long XREADGROUP waits for new entries; between
	// reads the source claims, reports lag and notices cancellation.
	readBlock = time.Second
	// lagEvery is how often the lag is measured, also while lookout is
	// full and the reads wait.
	lagEvery = 2 * time.Second
	// liveIdle is how long another consumer may be silent and still count
	// as running: a running one reads at least every readBlock.
	liveIdle   = 10 * time.Second
	minBackoff = time.Second
	maxBackoff = time.Minute
)

func init() {
	source.Register(source.Kind{Name: "redis", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Source is one redis source.
type Source struct {
	name     string
	deps     source.Deps
	opts     *goredis.Options
	pubsub   bool
	stream   string
	group    string
	consumer string
	field    string
	channels []string
	patterns []string
	idle     time.Duration
	dec      *source.Decoder

	// subscribed is set after the first Pub/Sub subscription, so that
	// every later one counts as a gap. Only Run's goroutine touches it.
	subscribed bool
}

// timeZero is "no broker time": Pub/Sub messages carry none.
var timeZero time.Time

// New returns a redis source for cfg; it connects in Run.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	c := source.SettingsOf[Config](cfg)
	if c.Addr == "" {
		return nil, errors.New("addr is required")
	}
	s := &Source{
		name: cfg.Name, deps: d,
		opts: &goredis.Options{Addr: c.Addr, Password: c.Password.Reveal(), DB: c.DB,
			// The source retries with its own backoff and reports each
			// failure; the client's quick retries would hide them.
			MaxRetries: -1,
			// XREADGROUP blocks up to readBlock; reads must outlast it.
			ReadTimeout: readBlock + 5*time.Second},
		stream: c.Stream, group: c.Group, consumer: c.Consumer, field: c.Field,
		idle: c.ClaimIdle.D(), dec: source.NewDecoder(cfg.Name, c.MessageConfig, d),
	}
	switch c.Mode {
	case "", "stream":
		if s.stream == "" {
			return nil, errors.New("stream is required in mode stream")
		}
	case "pubsub":
		s.pubsub = true
		if len(c.Channels) == 0 {
			return nil, errors.New("channels are required in mode pubsub")
		}
		for _, ch := range c.Channels {
			if strings.ContainsAny(ch, "*?[") {
				s.patterns = append(s.patterns, ch)
			} else {
				s.channels = append(s.channels, ch)
			}
		}
	default:
		return nil, fmt.Errorf("unknown mode %q (want stream or pubsub)", c.Mode)
	}
	if s.group == "" {
		s.group = DefaultGroup
	}
	if s.consumer == "" && !s.pubsub {
		// Kept in the data directory: a restarted lookout is the same
		// consumer and re-reads its own pending entries at once.
		if s.consumer, err = source.MemberName(d.DataDir, cfg.Name); err != nil {
			return nil, err
		}
	}
	if s.consumer == "" {
		host, _ := os.Hostname()
		s.consumer = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if s.field == "" {
		s.field = DefaultField
	}
	if s.idle <= 0 {
		s.idle = DefaultClaimIdle
	}
	return s, nil
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Health returns the source's health.
func (s *Source) Health() *source.Health { return s.deps.Health }

// Raw returns the source's ring of raw messages.
func (s *Source) Raw() *source.Ring { return s.deps.Raw }

// Run reads until ctx is done, reconnecting after failures with an
// exponential backoff with jitter (1s up to 1m).
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	rdb := goredis.NewClient(s.opts)
	defer rdb.Close()
	source.Reconnect(ctx, reconnect, s.deps.Health, s.deps.Log, s.name, "redis source failed, reconnecting",
		func(ctx context.Context) (bool, error) {
			if s.pubsub {
				return s.runPubSub(ctx, rdb, sink)
			}
			return s.runStream(ctx, rdb, sink)
		})
	return nil
}

// reconnect is the backoff between connections: 1s doubling to 1m, jittered.
var reconnect = source.Backoff{Min: minBackoff, Max: maxBackoff}

// decodeEntry turns a stream entry into an event: the JSON (or text) in its
// field, or, without that field, the entry's own fields, each string that
// reads as a number or a bool taken as one (Redis keeps only strings). The
// entry ID's milliseconds are its time when the event has no time field.
func (s *Source) decodeEntry(m goredis.XMessage, now time.Time) (*event.Event, *event.Rejected) {
	ts := entryTime(m.ID)
	if v, ok := m.Values[s.field]; ok {
		return s.dec.Decode([]byte(fmt.Sprint(v)), ts, now)
	}
	raw, err := json.Marshal(m.Values)
	if err != nil {
		raw = []byte(fmt.Sprint(m.Values))
	}
	if len(raw) > s.dec.MaxBytes() {
		return nil, s.dec.TooLarge(raw, now)
	}
	s.deps.Raw.Add(now, raw)
	fields := make(map[string]any, len(m.Values))
	for k, v := range m.Values {
		str := fmt.Sprint(v)
		if f, err := strconv.ParseFloat(str, 64); err == nil {
			fields[k] = f
		} else if b, err := strconv.ParseBool(str); err == nil && (str == "true" || str == "false") {
			fields[k] = b
		} else {
			fields[k] = str
		}
	}
	return s.dec.Event(raw, fields, ts, now), nil
}

// entryTime reads the milliseconds of a stream entry ID ("1700000000000-0").
func entryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

var _ source.Source = (*Source)(nil)
