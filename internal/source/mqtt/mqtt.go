package mqtt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults for keys the config leaves out.
const (
	DefaultQoS             = 1
	DefaultSessionExpiry   = time.Hour
	DefaultMaxMessageBytes = source.DefaultMaxMessageBytes
	// ProtocolV5 and ProtocolV311 are the values of the protocol key.
	ProtocolV5   = "5"
	ProtocolV311 = "3.1.1"
	// maxBatch bounds the messages of one submission.
	maxBatch = 500
	// queueSize is how many received messages wait for the batcher; when
	// it is full Paho's reader blocks, which stops reading from the
	// broker: backpressure reaches the broker instead of memory.
	queueSize = 1024
	// defaultConnectTimeout bounds a connection attempt.
	defaultConnectTimeout = 10 * time.Second
	// keepAlive is the MQTT keep-alive in seconds.
	keepAlive = 30
)

// Reconnect backoff bounds.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// errRedeliver ends Run when lookout could not keep a batch: reconnecting
// makes the broker send its unacknowledged messages again.
var errRedeliver = errors.New("a batch was not stored; reconnecting so the broker redelivers it")

func init() {
	source.Register(source.Kind{Name: "mqtt", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Config is the settings of an mqtt source, besides name, type and
// preprocessing.
type Config struct {
	// Broker is the broker's URL: tcp://, ssl://, ws:// or wss://host:port.
	Broker string `yaml:"broker"`
	// Protocol is the MQTT version: "5" (default) or "3.1.1", for brokers
	// that do not speak v5.
	Protocol string   `yaml:"protocol"`
	Topics   []string `yaml:"topics"`
	// QoS is the subscription's quality of service, 0, 1 (default) or 2.
	QoS int `yaml:"qos"`
	// ClientID is the MQTT client identifier; the broker keeps the session
	// (and QoS 1 messages sent while lookout was away) under it. Default
	// DefaultClientID of the source's name.
	ClientID string `yaml:"client_id"`
	// Username and Password authenticate to the broker.
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	// SessionExpiry is how long the broker keeps the session after a
	// disconnect (MQTT 5). Default DefaultSessionExpiry.
	SessionExpiry config.Duration `yaml:"session_expiry"`
	// TopicFields names the levels of the topic: ["", site, "", metric]
	// puts the second level in field site and the fourth in metric.
	TopicFields          []string `yaml:"topic_fields"`
	source.MessageConfig `yaml:",inline"`
}

// Defaults sets qos, protocol, session_expiry and the message keys.
func (c *Config) Defaults() {
	c.QoS = DefaultQoS
	c.Protocol = ProtocolV5
	c.SessionExpiry = config.Duration(DefaultSessionExpiry)
	c.MessageConfig.Defaults()
}

// Validate checks the broker URL, the topics, qos, the protocol and the
// message keys.
func (c *Config) Validate(v *config.Validator) {
	v.Required("broker", c.Broker == "")
	v.Required("topics", len(c.Topics) == 0)
	v.NonEmpty("topics", c.Topics)
	if c.QoS < 0 || c.QoS > 2 {
		v.Errorf("qos", "qos must be 0, 1 or 2")
	}
	switch c.Protocol {
	case ProtocolV5:
	case ProtocolV311:
		if v.Has("session_expiry") {
			v.Errorf("session_expiry", "session_expiry is MQTT 5; with protocol 3.1.1 the broker decides how long it keeps the session")
		}
	default:
		v.Errorf("protocol", "%q is not an MQTT protocol version (\"5\" or \"3.1.1\")", c.Protocol)
	}
	if c.Broker != "" {
		if u, err := url.Parse(c.Broker); err != nil || u.Host == "" ||
			!slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}, u.Scheme) {
			v.Errorf("broker", "%q is not a broker URL (tcp://, ssl://, ws:// or wss://host:port)", c.Broker)
		}
	}
	c.MessageConfig.Validate(v)
}

// Source is one MQTT subscription.
type Source struct {
	name          string
	broker        *url.URL
	protocol      string
	topics        []string
	qos           byte
	clientID      string
	username      string
	password      config.Secret
	sessionExpiry uint32
	topicFields   []string
	json          bool
	maxMessage    int
	deps          source.Deps
	// connectTimeout bounds one connection attempt up to the CONNACK, so a
	// broker that accepts TCP but never answers is retried.
	connectTimeout time.Duration

	// Rand returns a uniform random number in [0, n), for the backoff
	// jitter. Tests may replace it.
	Rand func(n int64) int64
}

// New returns an mqtt source for cfg.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	c := source.SettingsOf[Config](cfg)
	if c.Broker == "" {
		return nil, errors.New("broker is required")
	}
	u, err := url.Parse(c.Broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("broker %q is not a URL like tcp://host:1883", c.Broker)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return nil, fmt.Errorf("broker %q: unsupported scheme %q (tcp, ssl, ws or wss)", c.Broker, u.Scheme)
	}
	if len(c.Topics) == 0 {
		return nil, errors.New("topics is required")
	}
	if c.QoS < 0 || c.QoS > 2 {
		return nil, fmt.Errorf("qos %d is not 0, 1 or 2", c.QoS)
	}
	protocol := c.Protocol
	switch protocol {
	case "":
		protocol = ProtocolV5
	case ProtocolV5, ProtocolV311:
	default:
		return nil, fmt.Errorf("protocol %q is not %q or %q", c.Protocol, ProtocolV5, ProtocolV311)
	}
	s := &Source{
		name: cfg.Name, broker: u, protocol: protocol, topics: c.Topics, qos: byte(c.QoS),
		clientID: c.ClientID, username: c.Username, password: c.Password,
		sessionExpiry: uint32(c.SessionExpiry.D() / time.Second), topicFields: c.TopicFields,
		json: c.Payload != "text", maxMessage: c.MaxMessageBytes, deps: d, Rand: rand.Int64N,
		connectTimeout: defaultConnectTimeout,
	}
	if s.clientID == "" {
		s.clientID = DefaultClientID(cfg.Name)
	}
	if c.SessionExpiry == 0 {
		s.sessionExpiry = uint32(DefaultSessionExpiry / time.Second)
	}
	if s.maxMessage <= 0 {
		s.maxMessage = DefaultMaxMessageBytes
	}
	return s, nil
}

// DefaultClientID is lookout-<hostname>-<name>: stable across restarts, so
// the broker finds the session again, and distinct per machine, so two
// lookouts do not take each other's session over.
func DefaultClientID(name string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return "lookout-" + host + "-" + name
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Health returns the source's health.
func (s *Source) Health() *source.Health { return s.deps.Health }

// Raw returns the source's ring of raw messages.
func (s *Source) Raw() *source.Ring { return s.deps.Raw }

// ClientID returns the MQTT client identifier the source connects with.
func (s *Source) ClientID() string { return s.clientID }

// Protocol returns the MQTT version the source speaks: ProtocolV5 or
// ProtocolV311.
func (s *Source) Protocol() string { return s.protocol }

// message is one received PUBLISH with what is needed to acknowledge it.
// ack is bound to the connection the message came on, since an
// acknowledgement belongs to that connection and is void on a later one.
type message struct {
	topic   string
	payload []byte
	at      time.Time
	ack     func()
	// dup is the PUBLISH's DUP flag: the broker sent this message before,
	// to a connection that ended before acknowledging it.
	dup bool
	// first marks the first message of its connection.
	first bool
	// connected marks, instead of a message, that a connection is up and
	// subscribed; session says whether the broker kept lookout's session
	// (and so may redeliver).
	connected, session bool
}

// A broker that kept lookout's session resends the messages the last
// connection left unacknowledged (DUP set) as soon as the new one is up, but
// it may send new messages between them: mochi writes them concurrently
// with its resend, and within a second of publish time in no set order. The
// new ones reaching lookout first would end the pipeline's catch-up (their
// events are current), and the wall clock would then close the windows the
// redelivered messages belong to before they are in: lost as late. So after
// a connection comes up with a session, the source holds new messages back
// and passes redelivered ones on, until no redelivered message came for
// replayQuiet; then the held messages follow, in order, and the source
// reports its backlog drained (Health.SetLag(0)), which lets the catch-up
// end even when no new messages come at all. Nothing waits at an MQTT broker
// that it does not push, so the lag stays 0 while connected.
const (
	replayQuiet = time.Second
	// maxHeld bounds the new messages held during a replay; reaching it
	// ends the replay early (with a warning).
	maxHeld = 64 * maxBatch
)

// replay is the state of a redelivery after a (re)connect. It is owned by
// Run's goroutine.
type replay struct {
	on    bool
	start time.Time // when it began, for the log
	last  time.Time // the last redelivered message, or the start
	dups  int
	held  []message
	quiet *time.Timer
}

// Run connects, subscribes and hands messages to sink until ctx is done. A
// lost connection is re-established with exponential backoff and jitter and
// reported through Health; it never ends Run. Run returns an error only when
// lookout could not keep a batch (its Ack said so), so that the app restarts
// the source and the broker redelivers what was not acknowledged.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan message, queueSize)
	redeliver := make(chan struct{}, 1)

	var wait func()
	if s.protocol == ProtocolV311 {
		wait = s.connectV3(ctx, msgs)
	} else {
		var err error
		if wait, err = s.connectV5(ctx, msgs); err != nil {
			return err
		}
	}
	// This runs before the deferred cancel, so every return below comes
	// with ctx already done: that is what ends the connection.
	defer wait()

	r := &replay{quiet: time.NewTimer(time.Hour)}
	r.quiet.Stop()
	defer r.quiet.Stop()
	var out []message // in order, to submit
	flush := func() {
		for len(out) > 0 {
			n := min(len(out), maxBatch)
			if err := s.submit(ctx, sink, out[:n], redeliver); err != nil && ctx.Err() == nil {
				s.deps.Health.Failure(err)
			}
			out = out[n:]
		}
		out = nil
	}
	for {
		var quiet <-chan time.Time
		if r.on {
			quiet = r.quiet.C
		}
		select {
		case <-ctx.Done():
			s.deps.Health.SetConnected(false)
			return nil
		case <-redeliver:
			cancel()
			return errRedeliver
		case <-quiet:
			if wait := r.last.Add(replayQuiet).Sub(time.Now()); wait > 0 {
				r.quiet.Reset(wait)
				continue
			}
			out = s.endReplay(r, out, "quiet")
		case m := <-msgs:
			out = s.take(r, m, out)
		more:
			for len(out) < maxBatch {
				select {
				case m := <-msgs:
					out = s.take(r, m, out)
				default:
					break more
				}
			}
		}
		flush()
		if ctx.Err() != nil {
			s.deps.Health.SetConnected(false)
			return nil
		}
	}
}

// take routes one message: held back while a redelivery is under way and
// it is new, appended to out otherwise.
func (s *Source) take(r *replay, m message, out []message) []message {
	now := time.Now()
	if m.connected {
		if s.qos == 0 || !m.session {
			// Nothing to redeliver: no session, or QoS 0.
			if r.on {
				return s.endReplay(r, out, "no session")
			}
			s.deps.Health.SetLag(0)
		} else if !r.on {
			s.startReplay(r, now)
		}
		return out
	}
	if m.first && s.qos > 0 && !r.on {
		s.startReplay(r, now)
	}
	if !r.on {
		return append(out, m)
	}
	if m.dup {
		r.dups++
		r.last = now
		return append(out, m)
	}
	r.held = append(r.held, m)
	if len(r.held) >= maxHeld {
		s.deps.Log.Warn("mqtt redelivery still going on; passing new messages on before it ends, whose events may count late",
			"source", s.name, "redelivered", r.dups, "held", len(r.held))
		return s.endReplay(r, out, "too many held")
	}
	return out
}

func (s *Source) startReplay(r *replay, now time.Time) {
	*r = replay{on: true, start: now, last: now, quiet: r.quiet}
	r.quiet.Reset(replayQuiet)
}

// endReplay hands the held messages on after what is in out, and reports
// the backlog drained.
func (s *Source) endReplay(r *replay, out []message, why string) []message {
	out = append(out, r.held...)
	s.deps.Log.Debug("mqtt redelivery over", "source", s.name, "redelivered", r.dups, "held", len(r.held),
		"took", time.Since(r.start).Round(time.Millisecond), "by", why)
	r.on, r.held = false, nil
	r.quiet.Stop()
	s.deps.Health.SetLag(0)
	return out
}

// connectV5 starts the MQTT v5 connection (autopaho, which reconnects by
// itself) delivering into msgs, and returns a function that waits until the
// connection has ended after ctx is done.
func (s *Source) connectV5(ctx context.Context, msgs chan<- message) (wait func(), err error) {
	var conn atomic.Pointer[paho.Client] // the connection the last message came on
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{s.broker},
		KeepAlive:                     keepAlive,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         s.sessionExpiry,
		ReconnectBackoff:              s.reconnectBackoff,
		ConnectTimeout:                s.connectTimeout,
		ConnectUsername:               s.username,
		ConnectPassword:               []byte(s.password.Reveal()),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
			s.deps.Log.Debug("mqtt connected", "source", s.name, "session_present", ca.SessionPresent)
			// Subscribing waits for the SUBACK; OnConnectionUp must not block.
			go func() {
				if s.subscribe(ctx, cm) {
					select {
					case msgs <- message{connected: true, session: ca.SessionPresent}:
					case <-ctx.Done():
					}
				}
			}()
		},
		OnConnectionDown: func() bool {
			s.deps.Health.Failure(errors.New("connection to the broker lost"))
			return true
		},
		OnConnectError: func(err error) {
			s.deps.Health.Failure(fmt.Errorf("connecting to %s: %w", s.broker.Redacted(), err))
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   s.clientID,
			EnableManualAcknowledgment: s.qos > 0,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					pub, client := pr.Packet, pr.Client
					m := message{topic: pub.Topic, payload: pub.Payload, at: s.deps.Clock.Now(),
						dup: pub.Duplicate(), first: conn.Swap(client) != client,
						// An ack for a connection that has gone is void; the
						// broker redelivers on the new one, and that copy is
						// acked then.
						ack: func() { _ = client.Ack(pub) }}
					select {
					case msgs <- m:
					case <-ctx.Done():
					}
					return true, nil
				},
			},
		},
	}
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting the MQTT connection to %s: %w", s.broker.Redacted(), err)
	}
	return func() { <-cm.Done() }, nil
}

// subscribe subscribes to every topic filter, retrying with backoff until it
// succeeds (true), the connection drops or ctx is done. It subscribes on every
// connection, session or not, so a changed topics list takes effect; retain
// handling 1 keeps the broker from resending retained messages for a
// subscription the session already had.
func (s *Source) subscribe(ctx context.Context, cm *autopaho.ConnectionManager) bool {
	sub := &paho.Subscribe{}
	for _, t := range s.topics {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: t, QoS: s.qos, RetainHandling: 1})
	}
	for attempt := 1; ; attempt++ {
		sa, err := cm.Subscribe(ctx, sub)
		if err == nil {
			for i, rc := range sa.Reasons {
				if rc >= 0x80 && i < len(s.topics) {
					err = errors.Join(err, fmt.Errorf("subscribing to %q: refused with reason code 0x%02x", s.topics[i], rc))
				}
			}
			if err == nil {
				s.deps.Health.SetConnected(true)
				return true
			}
		}
		if ctx.Err() != nil {
			return false
		}
		s.deps.Health.Failure(fmt.Errorf("subscribing: %w", err))
		if !source.Sleep(ctx, s.backoff(attempt)) {
			return false
		}
	}
}

// submit turns the messages into one batch and hands it to sink, blocking
// while lookout is full. With QoS above 0 the batch's Ack acknowledges every
// message of it, the rejected ones included (they are stored too).
func (s *Source) submit(ctx context.Context, sink source.Sink, msgs []message, redeliver chan<- struct{}) error {
	c := source.NewCollector(s.name, len(msgs))
	for _, m := range msgs {
		e, rej := s.event(m)
		c.Add(len(m.payload), e, rej)
	}
	if s.qos > 0 {
		c.Batch.Ack = func(err error) {
			if err != nil {
				// Nothing can be un-acknowledged in MQTT: only a new
				// connection makes the broker send these again.
				select {
				case redeliver <- struct{}{}:
				default:
				}
				return
			}
			for _, m := range msgs {
				m.ack()
			}
		}
	}
	if err := sink.Submit(ctx, c.Batch, c.Rejected); err != nil {
		return fmt.Errorf("submitting messages: %w", err)
	}
	s.deps.Health.Submitted(len(c.Batch.Events), len(c.Rejected), c.Bytes)
	return nil
}

// event turns one message into an event, or into a rejected record when it
// is too large or (payload json) not a JSON object.
func (s *Source) event(m message) (*event.Event, *event.Rejected) {
	payload := m.payload
	if len(payload) > s.maxMessage {
		cut := payload[:s.maxMessage]
		s.deps.Raw.Add(m.at, cut)
		return nil, &event.Rejected{Time: m.at, Source: s.name, Raw: cut,
			Reason: fmt.Sprintf("message on %s is %d bytes, more than max_message_bytes (%d); cut to the limit", m.topic, len(payload), s.maxMessage)}
	}
	s.deps.Raw.Add(m.at, payload)
	e := &event.Event{Source: s.name, Raw: payload}
	if s.json {
		f, err := s.deps.Pre.DecodeFields(payload)
		if err != nil {
			return nil, &event.Rejected{Time: m.at, Source: s.name, Raw: payload,
				Reason: fmt.Sprintf("message on %s: %v", m.topic, err)}
		}
		e.Fields = f
	} else {
		// A text message has no time of its own: it happened when it
		// arrived, which is no reason to flag it no_timestamp.
		e.Time = m.at
		e.Fields = map[string]any{"message": string(payload)}
	}
	e.Fields["topic"] = m.topic
	if len(s.topicFields) > 0 {
		for i, level := range strings.Split(m.topic, "/") {
			if i < len(s.topicFields) && s.topicFields[i] != "" {
				e.Fields[s.topicFields[i]] = level
			}
		}
	}
	s.deps.Pre.Apply(e, m.at)
	return e, nil
}

// reconnectBackoff is autopaho's delay before connection attempt n, where
// 0 is the first attempt after start or after a lost connection: none.
func (s *Source) reconnectBackoff(attempt int) time.Duration {
	if attempt <= 0 {
		return 0
	}
	return s.backoff(attempt)
}

// backoff is the wait before retry n (from 1): exponential from
// minBackoff up to maxBackoff, with "equal jitter" (half fixed, half
// random) so that many lookouts do not reconnect in step after a broker
// restart.
func (s *Source) backoff(attempt int) time.Duration {
	return source.Backoff{Min: minBackoff, Max: maxBackoff, Rand: s.Rand}.Delay(attempt - 1)
}

var _ source.Source = (*Source)(nil)
