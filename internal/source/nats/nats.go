package nats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults for keys the config leaves out.
const (
	DefaultMaxMessageBytes = source.DefaultMaxMessageBytes
	DefaultAckWait         = 30 * time.Second
	DefaultMaxAckPending   = 65536
)

// Config is the settings of a nats source, besides name, type and
// preprocessing.
type Config struct {
	URL     string `yaml:"url"`
	Subject string `yaml:"subject"`
	// Durable makes the source a JetStream durable consumer of that name;
	// empty subscribes with core NATS (at most once).
	Durable string `yaml:"durable"`
	// Stream is the JetStream stream; default the one holding the subject.
	Stream string `yaml:"stream"`
	// AckWait is how long JetStream waits for an ack (or an in-progress
	// heartbeat) before redelivering. Default DefaultAckWait.
	AckWait config.Duration `yaml:"ack_wait"`
	// MaxAckPending bounds the messages delivered and not yet acked.
	// Default DefaultMaxAckPending.
	MaxAckPending        int `yaml:"max_ack_pending"`
	source.MessageConfig `yaml:",inline"`
}

// Defaults sets ack_wait, max_ack_pending and the message keys.
func (c *Config) Defaults() {
	c.AckWait = config.Duration(DefaultAckWait)
	c.MaxAckPending = DefaultMaxAckPending
	c.MessageConfig.Defaults()
}

// Validate checks url and subject, that the JetStream keys come with
// durable, and the message keys.
func (c *Config) Validate(v *config.Validator) {
	v.Required("url", c.URL == "")
	v.Required("subject", c.Subject == "")
	if c.Durable == "" {
		for _, k := range []string{"stream", "ack_wait", "max_ack_pending"} {
			if v.Has(k) {
				v.Errorf(k, "%s applies to a JetStream consumer: set durable", k)
			}
		}
	} else {
		v.Positive("ack_wait", c.AckWait <= 0)
		v.Positive("max_ack_pending", c.MaxAckPending <= 0)
	}
	c.MessageConfig.Validate(v)
}

const (
	// fetchBatch bounds one pull, and so one batch.
	fetchBatch = 5000
	// fetchWait is how long a pull waits for messages.
	fetchWait = time.Second
	// lagEvery is how often the lag is measured (and once at connect).
	lagEvery   = 2 * time.Second
	coreBatch  = 1000
	minBackoff = time.Second
	maxBackoff = time.Minute
)

func init() {
	source.Register(source.Kind{Name: "nats", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Redelivers reports whether the server hands unacknowledged messages out
// again after a restart: a JetStream durable consumer does, core NATS not.
func (c *Config) Redelivers() bool { return c.Durable != "" }

// Source is one nats source.
type Source struct {
	name          string
	deps          source.Deps
	url           string
	subject       string
	durable       string
	stream        string
	ackWait       time.Duration
	maxAckPending int
	dec           *source.Decoder
}

// New returns a nats source for cfg; it connects in Run.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	c := source.SettingsOf[Config](cfg)
	if c.URL == "" || c.Subject == "" {
		return nil, errors.New("url and subject are required")
	}
	s := &Source{
		name: cfg.Name, deps: d, url: c.URL, subject: c.Subject, durable: c.Durable,
		stream: c.Stream, ackWait: c.AckWait.D(), maxAckPending: c.MaxAckPending,
		dec: source.NewDecoder(cfg.Name, c.MessageConfig, d),
	}
	if s.ackWait <= 0 {
		s.ackWait = DefaultAckWait
	}
	if s.maxAckPending <= 0 {
		s.maxAckPending = DefaultMaxAckPending
	}
	return s, nil
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Health returns the source's health.
func (s *Source) Health() *source.Health { return s.deps.Health }

// Raw returns the source's ring of raw messages.
func (s *Source) Raw() *source.Ring { return s.deps.Raw }

// reconnect is the backoff between connections and between failed pulls:
// 1s doubling to 1m, jittered.
var reconnect = source.Backoff{Min: minBackoff, Max: maxBackoff}

// Run consumes until ctx is done. The connection reconnects by itself with
// the same backoff as the first connect: exponential with jitter, 1s to 1m.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	source.Reconnect(ctx, reconnect, s.deps.Health, s.deps.Log, s.name, "nats source failed, retrying",
		func(ctx context.Context) (bool, error) { return s.session(ctx, sink) })
	return nil
}

func (s *Source) session(ctx context.Context, sink source.Sink) (ok bool, err error) {
	core := s.durable == ""
	nc, err := nats.Connect(s.url,
		nats.Name("lookout "+s.name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(func(attempts int) time.Duration { return reconnect.Delay(attempts - 1) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			s.deps.Health.SetConnected(false)
			if err != nil {
				s.deps.Health.Failure(fmt.Errorf("disconnected: %w", err))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			s.deps.Health.SetConnected(true)
			if core {
				// Core NATS keeps nothing for an absent subscriber.
				s.deps.Health.Gap()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				s.deps.Health.Gap() // the client dropped messages
			}
			s.deps.Health.Failure(err)
		}),
	)
	if err != nil {
		return false, fmt.Errorf("connecting to %s: %w", s.url, err)
	}
	defer nc.Close()
	if core {
		return s.runCore(ctx, nc, sink)
	}
	return s.runJetStream(ctx, nc, sink)
}

func (s *Source) runCore(ctx context.Context, nc *nats.Conn, sink source.Sink) (bool, error) {
	ch := make(chan *nats.Msg, 8*coreBatch)
	sub, err := nc.ChanSubscribe(s.subject, ch)
	if err != nil {
		return false, fmt.Errorf("subscribing to %s: %w", s.subject, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection closes next
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("subscribing to %s: %w", s.subject, err)
	}
	s.deps.Health.SetConnected(true)
	for {
		var m *nats.Msg
		select {
		case <-ctx.Done():
			return true, nil
		case m = <-ch:
		}
		now := s.deps.Clock.Now()
		c := source.NewCollector(s.name, 0)
		take := func(m *nats.Msg) {
			if e, rej := s.dec.Decode(m.Data, time.Time{}, now); c.Add(len(m.Data), e, rej) {
				e.Fields["subject"] = m.Subject
			}
		}
		take(m)
	drain:
		for c.Len() < coreBatch {
			select {
			case m := <-ch:
				take(m)
			default:
				break drain
			}
		}
		if err := sink.Submit(ctx, c.Batch, c.Rejected); err != nil {
			return true, nil
		}
		s.deps.Health.Submitted(len(c.Batch.Events), len(c.Rejected), c.Bytes)
	}
}

func (s *Source) runJetStream(ctx context.Context, nc *nats.Conn, sink source.Sink) (bool, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return false, fmt.Errorf("opening JetStream: %w", err)
	}
	stream := s.stream
	if stream == "" {
		stream, err = js.StreamNameBySubject(ctx, s.subject)
		if err != nil {
			return false, fmt.Errorf("finding the stream of subject %s: %w", s.subject, err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       s.durable,
		FilterSubject: s.subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.ackWait,
		MaxAckPending: s.maxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return false, fmt.Errorf("creating consumer %s on stream %s: %w", s.durable, stream, err)
	}
	fl := &inflight{batches: map[*[]jetstream.Msg]struct{}{}}
	hbCtx, stopHB := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() { stopHB(); bg.Wait() }()
	bg.Add(2)
	go func() { defer bg.Done(); fl.heartbeat(hbCtx, s.ackWait/3) }()
	go func() { defer bg.Done(); s.lagLoop(hbCtx, cons, fl) }()
	var rp *replay
	if s.consumedBefore() {
		rp = s.awaitRedeliveries(ctx, cons)
	}
	s.markConsumed()
	s.deps.Health.SetConnected(true)
	// hand submits msgs, or while a replay is unfinished holds back those
	// published after the crash.
	hand := func(msgs []jetstream.Msg) error {
		if rp != nil {
			var done bool
			if msgs, done = rp.take(msgs, fl, time.Now()); done {
				rp.report(s)
				rp = nil
			}
			if len(msgs) == 0 {
				return nil
			}
		}
		return s.submitJS(ctx, sink, msgs, fl)
	}
	failures := 0
	for ctx.Err() == nil {
		// What is there now, at once; when nothing is, wait for the
		// next message. A pull that waited for a full batch would hold
		// a slow stream's events back by up to fetchWait.
		batch, err := cons.FetchNoWait(fetchBatch)
		if err == nil {
			var first []jetstream.Msg
			for m := range batch.Messages() {
				first = append(first, m)
			}
			if len(first) > 0 {
				if err := hand(first); err != nil {
					return true, nil
				}
				failures = 0
				continue
			}
			wait := fetchWait
			if rp != nil {
				// Check again soon whether the held-back messages may go.
				wait = min(wait, max(time.Until(rp.until), 100*time.Millisecond))
			}
			batch, err = cons.Fetch(1, jetstream.FetchMaxWait(wait))
		}
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			failures++
			if failures > 5 {
				return true, fmt.Errorf("pulling from %s: %w", s.durable, err)
			}
			s.deps.Health.Failure(fmt.Errorf("pulling from %s: %w", s.durable, err))
			select {
			case <-ctx.Done():
			case <-time.After(reconnect.Delay(failures - 1)):
			}
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			s.deps.Health.Failure(fmt.Errorf("pulling from %s: %w", s.durable, err))
		}
		failures = 0
		if len(msgs) == 0 && rp == nil {
			continue
		}
		if err := hand(msgs); err != nil {
			return true, nil // ctx is done; unacked messages are redelivered
		}
	}
	return true, nil
}

// lagLoop reports the lag at once and every lagEvery until ctx is done:
// the messages JetStream holds for the durable and has not delivered
// (num_pending) and those delivered but not acknowledged (num_ack_pending)
// that this lookout does not hold: after a crash, what the dead run had,
// redelivered after ack_wait. Messages lookout holds in open windows (or
// holds back during a replay) do not count.
func (s *Source) lagLoop(ctx context.Context, cons jetstream.Consumer, fl *inflight) {
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ci, err := cons.Info(ictx)
		cancel()
		if err == nil {
			s.deps.Health.SetLag(int64(ci.NumPending) + max(int64(ci.NumAckPending)-int64(fl.len()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// submitJS hands JetStream messages over as one batch whose Ack acks or naks
// each of them.
func (s *Source) submitJS(ctx context.Context, sink source.Sink, msgs []jetstream.Msg, fl *inflight) error {
	now := s.deps.Clock.Now()
	c := source.NewCollector(s.name, len(msgs))
	for _, m := range msgs {
		var ts time.Time
		if md, err := m.Metadata(); err == nil && !md.Timestamp.IsZero() {
			ts = md.Timestamp.UTC()
		}
		if e, rej := s.dec.Decode(m.Data(), ts, now); c.Add(len(m.Data()), e, rej) {
			e.Fields["subject"] = m.Subject()
		}
	}
	key := &msgs
	fl.add(key)
	c.Batch.Ack = func(err error) {
		fl.remove(key)
		for _, m := range msgs {
			if err != nil {
				_ = m.Nak() // redelivered; a lost nak is redelivered after ack_wait
			} else {
				_ = m.Ack() // a lost ack means a redelivery, counted as late
			}
		}
		if err != nil {
			s.deps.Health.Failure(fmt.Errorf("lookout did not finish %d messages: %w", len(msgs), err))
		}
	}
	if err := sink.Submit(ctx, c.Batch, c.Rejected); err != nil {
		fl.remove(key)
		return err
	}
	s.deps.Health.Submitted(len(c.Batch.Events), len(c.Rejected), c.Bytes)
	return nil
}

// consumedMark is the file in the data directory that says this lookout
// has consumed the source's durable before.
func (s *Source) consumedMark() string {
	return filepath.Join(s.deps.DataDir, "nats", s.name+".consumed")
}

// consumedBefore reports whether this lookout consumed the durable before
// (a restart, after a crash maybe), rather than joining other lookouts on
// it with a new data directory: the messages they hold unacknowledged are
// theirs, and a new member must not wait for them. Without a data
// directory it cannot tell, and assumes a restart.
func (s *Source) consumedBefore() bool {
	if s.deps.DataDir == "" {
		return true
	}
	_, err := os.Stat(s.consumedMark())
	return err == nil
}

// markConsumed notes that this lookout consumes the durable.
func (s *Source) markConsumed() {
	if s.deps.DataDir == "" {
		return
	}
	p := s.consumedMark()
	err := os.MkdirAll(filepath.Dir(p), 0o755)
	if err == nil {
		err = os.WriteFile(p, nil, 0o644)
	}
	if err != nil {
		s.deps.Log.Warn("noting the nats consumer in the data directory", "source", s.name, "err", err)
	}
}

// awaitRedeliveries waits, before the first pull, until what an earlier
// lookout on this durable left unacknowledged is due for redelivery (ack_wait
// after its last delivery or heartbeat). JetStream redelivers due messages
// before new ones, so a restart after a crash replays them in order; pulled
// after newer ones, their windows would already be closed and they would
// count as late. The wait is a matter of timing (the server's redelivery
// timer can fire late on a busy machine), so it returns a replay that holds
// back newer messages pulled before every one of the old is back.
func (s *Source) awaitRedeliveries(ctx context.Context, cons jetstream.Consumer) *replay {
	ci, err := cons.Info(ctx)
	if err != nil || ci.NumAckPending == 0 || ci.Delivered.Last == nil {
		return nil
	}
	last := *ci.Delivered.Last
	rp := &replay{
		left: ci.NumAckPending, boundary: ci.Delivered.Stream,
		until: last.Add(2*s.ackWait + time.Second),
	}
	wait := min(s.ackWait-time.Since(last), s.ackWait) + 100*time.Millisecond
	if wait <= 0 {
		return rp
	}
	s.deps.Log.Info("waiting for unacknowledged messages to be redelivered", "source", s.name,
		"messages", ci.NumAckPending, "wait", wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return rp
}

// replay is the start of a session after another lookout on the durable
// left messages unacknowledged: until those are redelivered, messages
// published later are pulled but held back, so the old ones reach the
// windows first. It gives up at until: the old ones may never come (another
// running consumer on the durable acknowledged them).
type replay struct {
	left     int       // old messages not yet redelivered
	boundary uint64    // the last stream sequence delivered before this session
	until    time.Time // when held messages go regardless
	held     []jetstream.Msg
	keys     []*[]jetstream.Msg // held chunks in the heartbeat
	replayed int
}

// take returns what of msgs may be submitted now, in stream order, and
// whether the replay is over. Held messages are kept in progress (fl) so
// that JetStream does not redeliver them meanwhile.
func (r *replay) take(msgs []jetstream.Msg, fl *inflight, now time.Time) ([]jetstream.Msg, bool) {
	var ready, later []jetstream.Msg
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream <= r.boundary {
			ready = append(ready, m)
			r.left--
			r.replayed++
		} else {
			later = append(later, m)
		}
	}
	if len(later) > 0 {
		fl.add(&later)
		r.keys = append(r.keys, &later)
		r.held = append(r.held, later...)
	}
	if r.left > 0 && now.Before(r.until) {
		return ready, false
	}
	for _, k := range r.keys {
		fl.remove(k)
	}
	return append(ready, r.held...), true
}

// report logs how the replay ended.
func (r *replay) report(s *Source) {
	if r.left > 0 {
		s.deps.Log.Warn("gave up waiting for unacknowledged messages to be redelivered; newer messages go first and the old ones may count late",
			"source", s.name, "missing", r.left, "replayed", r.replayed, "held_back", len(r.held))
		return
	}
	if len(r.held) > 0 {
		s.deps.Log.Info("unacknowledged messages redelivered; newer ones held back until then", "source", s.name,
			"replayed", r.replayed, "held_back", len(r.held))
	}
}

// inflight holds the batches handed to lookout and not yet acknowledged.
// Their windows may stay open longer than ack_wait; the heartbeat tells
// JetStream they are in progress, so it does not redeliver them to this
// lookout (which would count them twice). After a crash the heartbeats stop
// and JetStream redelivers after ack_wait.
type inflight struct {
	mu      sync.Mutex
	batches map[*[]jetstream.Msg]struct{}
}

func (f *inflight) add(k *[]jetstream.Msg) {
	f.mu.Lock()
	f.batches[k] = struct{}{}
	f.mu.Unlock()
}

// len returns how many messages the batches hold.
func (f *inflight) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.batches {
		n += len(*k)
	}
	return n
}

func (f *inflight) remove(k *[]jetstream.Msg) {
	f.mu.Lock()
	delete(f.batches, k)
	f.mu.Unlock()
}

func (f *inflight) heartbeat(ctx context.Context, every time.Duration) {
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		var msgs []jetstream.Msg
		for k := range f.batches {
			msgs = append(msgs, *k...)
		}
		f.mu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress() // a lost one only risks a redelivery
		}
	}
}

var _ source.Source = (*Source)(nil)
