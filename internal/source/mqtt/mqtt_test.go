package mqtt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
	"github.com/lookout-dev/lookout/internal/testserver"
)

// broker is an embedded MQTT broker on a free loopback port.
type broker struct {
	*testserver.MQTTBroker
	url string
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	b := testserver.MQTT(t)
	return &broker{MQTTBroker: b, url: b.URL}
}

// publish sends a QoS 1 message from the broker's inline client.
func (b *broker) publish(t *testing.T, topic, payload string) {
	t.Helper()
	if err := b.Publish(topic, []byte(payload), false, 1); err != nil {
		t.Fatal(err)
	}
}

// inflight is how many QoS 1 messages the broker holds unacknowledged for
// the client id.
func (b *broker) inflight(id string) int {
	cl, ok := b.Clients.Get(id)
	if !ok {
		return -1
	}
	return cl.State.Inflight.Len()
}

// eachProtocol runs an integration test once per MQTT version, against the
// embedded broker (which speaks both).
func eachProtocol(t *testing.T, test func(t *testing.T, proto string)) {
	if testing.Short() {
		t.Skip("needs the embedded MQTT broker")
	}
	for _, proto := range []string{ProtocolV5, ProtocolV311} {
		t.Run("mqtt"+proto, func(t *testing.T) { test(t, proto) })
	}
}

// protocolVersion is the MQTT protocol level the broker negotiated with the
// client id: 5 for v5, 4 for v3.1.1.
func (b *broker) protocolVersion(id string) byte {
	cl, ok := b.Clients.Get(id)
	if !ok {
		return 0
	}
	return cl.Properties.ProtocolVersion
}

// ackSink records what a source submits and answers each batch's Ack the
// way lookout does once the batch is stored, with ackErr (nil = stored);
// with noAck it never answers, like a lookout that stops first.
type ackSink struct {
	sourcetest.Sink
	noAck  bool
	ackErr error
}

func (s *ackSink) Submit(ctx context.Context, b event.Batch, rej []event.Rejected) error {
	if err := s.Sink.Submit(ctx, b, rej); err != nil {
		return err
	}
	if b.Ack != nil && !s.noAck {
		b.Ack(s.ackErr)
	}
	return nil
}

func newSource(t *testing.T, c Config) *Source {
	t.Helper()
	if c.QoS == 0 {
		c.QoS = 1
	}
	cfg := config.Source{Name: "sensors", Type: "mqtt", TimeField: "ts", Settings: &c}
	s, err := source.New(cfg, source.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

// running is a source running in the background.
type running struct {
	s      *Source
	cancel context.CancelFunc
	done   chan error
}

func run(t *testing.T, s *Source, sink source.Sink) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, sink) }()
	t.Cleanup(func() { r.stop(t) })
	// Publishing before the subscription exists would lose the messages.
	waitFor(t, "the subscription", func() bool { return s.Health().Snapshot().Up })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	return nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func values(evs []*event.Event, key string) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprint(e.Fields[key]))
	}
	return out
}

func TestWildcardsAndTopicFields(t *testing.T) { eachProtocol(t, testWildcardsAndTopicFields) }

func testWildcardsAndTopicFields(t *testing.T, proto string) {
	b := startBroker(t)
	s := newSource(t, Config{Broker: b.url, Protocol: proto, Topics: []string{"plant/+/temp", "alarms/#"},
		TopicFields: []string{"", "site", "metric"}, ClientID: "lookout-wild"})
	sink := &ackSink{}
	run(t, s, sink)

	b.publish(t, "plant/a/temp", `{"v":21.5,"ts":1732600000000}`)
	b.publish(t, "plant/b/humidity", `{"v":40}`)  // matches no filter
	b.publish(t, "plant/b/temp/extra", `{"v":1}`) // + is one level only
	b.publish(t, "alarms/b/door/open", `{"v":1}`)
	b.publish(t, "alarms", `{"v":2}`) // # matches the parent level too
	waitFor(t, "3 events", func() bool { return len(sink.Events()) >= 3 })

	evs := sink.Events()
	if got, want := values(evs, "topic"), []string{"plant/a/temp", "alarms/b/door/open", "alarms"}; !slices.Equal(got, want) {
		t.Fatalf("topics %q, want %q", got, want)
	}
	tests := []struct {
		key  string
		want []string
	}{
		{"site", []string{"a", "b", "<nil>"}},
		{"metric", []string{"temp", "door", "<nil>"}},
		{"v", []string{"21.5", "1", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := values(evs, tt.key); !slices.Equal(got, tt.want) {
				t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if e := evs[0]; e.Source != "sensors" || e.Time.UnixMilli() != 1732600000000 || string(e.Raw) != `{"v":21.5,"ts":1732600000000}` {
		t.Errorf("event %+v", e)
	}
	if raw := s.Raw().Last(10); len(raw) != 3 {
		t.Errorf("raw ring holds %d messages, want 3", len(raw))
	}
	if h := s.Health().Snapshot(); h.Events != 3 || !h.Up {
		t.Errorf("health %+v", h)
	}
	waitFor(t, "the broker to get every ack", func() bool { return b.inflight("lookout-wild") == 0 })
	if got, want := b.protocolVersion("lookout-wild"), map[string]byte{ProtocolV5: 5, ProtocolV311: 4}[proto]; got != want {
		t.Errorf("broker sees protocol level %d, want %d", got, want)
	}
}

// TestRedeliveryAcrossRestart is the at-least-once promise: what lookout had
// not acknowledged when it stopped, and what was published while it was
// away, arrives when a source with the same client id starts again; what it
// had acknowledged does not come back.
func TestRedeliveryAcrossRestart(t *testing.T) { eachProtocol(t, testRedeliveryAcrossRestart) }

func testRedeliveryAcrossRestart(t *testing.T, proto string) {
	b := startBroker(t)
	const id = "lookout-restart"
	cfg := Config{Broker: b.url, Protocol: proto, Topics: []string{"plant/#"}, ClientID: id}

	// First run: messages arrive but lookout stops before their windows
	// closed, so they are never acknowledged.
	first := &ackSink{noAck: true}
	r := run(t, newSource(t, cfg), first)
	for i := 1; i <= 3; i++ {
		b.publish(t, "plant/a", fmt.Sprintf(`{"n":%d}`, i))
	}
	waitFor(t, "the first run to get 3 messages", func() bool { return len(first.Events()) == 3 })
	// Nothing is acknowledged before lookout says the batch is stored.
	if n := b.inflight(id); n != 3 {
		t.Errorf("broker holds %d unacknowledged messages, want 3", n)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}

	// While no source runs.
	for i := 4; i <= 6; i++ {
		b.publish(t, "plant/b", fmt.Sprintf(`{"n":%d}`, i))
	}

	second := &ackSink{}
	r = run(t, newSource(t, cfg), second)
	waitFor(t, "all 6 messages", func() bool { return len(second.Events()) >= 6 })
	got := values(second.Events(), "n")
	slices.Sort(got)
	if want := []string{"1", "2", "3", "4", "5", "6"}; !slices.Equal(got, want) {
		t.Fatalf("second run got %q, want %q; health %+v", got, want, r.s.Health().Snapshot())
	}
	waitFor(t, "the broker to get every ack", func() bool { return b.inflight(id) == 0 })
	r.stop(t)

	third := &ackSink{}
	run(t, newSource(t, cfg), third)
	b.publish(t, "plant/c", `{"n":7}`)
	waitFor(t, "message 7", func() bool { return len(third.Events()) >= 1 })
	if got := values(third.Events(), "n"); !slices.Equal(got, []string{"7"}) {
		t.Errorf("third run got %q, want only the new message: acknowledged ones came back", got)
	}
}

// TestRedeliveredBeforeNew: after a restart the broker resends what the
// dead run had not acknowledged while a producer goes on publishing. Every
// resent message must reach lookout before any message published after the
// restart, or the new ones would end the pipeline's catch-up
// and the wall clock would close the old ones' windows without them. When
// the resend is over the source reports its backlog drained.
func TestRedeliveredBeforeNew(t *testing.T) { eachProtocol(t, testRedeliveredBeforeNew) }

func testRedeliveredBeforeNew(t *testing.T, proto string) {
	b := startBroker(t)
	const id, old = "lookout-order", 2000
	cfg := Config{Broker: b.url, Protocol: proto, Topics: []string{"plant/#"}, ClientID: id}

	first := &ackSink{noAck: true}
	r := run(t, newSource(t, cfg), first)
	for i := 1; i <= old; i++ {
		b.publish(t, "plant/a", fmt.Sprintf(`{"n":%d}`, i))
	}
	waitFor(t, "the first run to get every message", func() bool { return len(first.Events()) == old })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}

	// The embedded broker resends in order of the second a message was
	// published in (and in no set order within one): a second apart, every
	// message published from now on must come after the resent ones.
	time.Sleep(1100 * time.Millisecond)
	var next atomic.Int64
	next.Store(old)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = b.Publish("plant/b", fmt.Appendf(nil, `{"n":%d}`, next.Add(1)), false, 1)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	defer func() { close(stop); <-stopped }()

	second := &ackSink{}
	s := newSource(t, cfg)
	run(t, s, second)
	n := func(e *event.Event) int64 { v, _ := e.Fields["n"].(float64); return int64(v) }
	waitFor(t, "every resent message", func() bool {
		seen := map[int64]bool{}
		for _, e := range second.Events() {
			if n(e) <= old {
				seen[n(e)] = true
			}
		}
		return len(seen) == old
	})
	evs := second.Events()
	last := 0
	for i, e := range evs {
		if n(e) <= old {
			last = i
		}
	}
	for _, e := range evs[:last] {
		if n(e) > old {
			t.Fatalf("message %d, published after the restart, came before resent message %d", n(e), n(evs[last]))
		}
	}
	waitFor(t, "the backlog drained", func() bool { lag, known := s.Health().Backlog(); return known && lag == 0 })
}

// TestAckFailureRedelivers: when lookout cannot keep a batch, Run ends so the
// app restarts it, and the broker sends the batch again.
func TestAckFailureRedelivers(t *testing.T) { eachProtocol(t, testAckFailureRedelivers) }

func testAckFailureRedelivers(t *testing.T, proto string) {
	b := startBroker(t)
	cfg := Config{Broker: b.url, Protocol: proto, Topics: []string{"t"}, ClientID: "lookout-ackfail"}
	failing := &ackSink{ackErr: errors.New("store down")}
	r := run(t, newSource(t, cfg), failing)
	b.publish(t, "t", `{"n":1}`)
	select {
	case err := <-r.done:
		close(r.done)
		if !errors.Is(err, errRedeliver) {
			t.Fatalf("Run = %v, want errRedeliver", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end after a failed ack")
	}
	ok := &ackSink{}
	run(t, newSource(t, cfg), ok)
	waitFor(t, "the redelivery", func() bool { return len(ok.Events()) >= 1 })
	if got := values(ok.Events(), "n"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("redelivered %q", got)
	}
}

func TestBadMessages(t *testing.T) { eachProtocol(t, testBadMessages) }

func testBadMessages(t *testing.T, proto string) {
	b := startBroker(t)
	const id = "lookout-bad"
	s := newSource(t, Config{Broker: b.url, Protocol: proto, Topics: []string{"in/#"}, ClientID: id, MessageConfig: source.MessageConfig{MaxMessageBytes: 64}})
	sink := &ackSink{}
	run(t, s, sink)

	b.publish(t, "in/a", `not json`)
	b.publish(t, "in/b", `{"big":"`+strings.Repeat("x", 100)+`"}`)
	b.publish(t, "in/c", `[1,2]`)
	b.publish(t, "in/d", `{"ok":true}`)
	waitFor(t, "the good message", func() bool { return len(sink.Events()) >= 1 })
	waitFor(t, "3 rejected", func() bool { return len(sink.Rejected()) >= 3 })

	tests := []struct {
		raw, reason string
	}{
		{`not json`, "message on in/a: invalid JSON at offset 1"},
		{`{"big":"` + strings.Repeat("x", 56), "message on in/b is 110 bytes, more than max_message_bytes (64)"},
		{`[1,2]`, "message on in/c: not a JSON object"},
	}
	rej := sink.Rejected()
	for i, tt := range tests {
		t.Run(tt.raw[:5], func(t *testing.T) {
			r := rej[i]
			if string(r.Raw) != tt.raw || !strings.HasPrefix(r.Reason, tt.reason) || r.Source != "sensors" || r.Time.IsZero() {
				t.Errorf("rejected = %+v (raw %q), want raw %q reason %q", r, r.Raw, tt.raw, tt.reason)
			}
		})
	}
	if got := values(sink.Events(), "topic"); !slices.Equal(got, []string{"in/d"}) {
		t.Errorf("events %q", got)
	}
	if h := s.Health().Snapshot(); h.Rejected != 3 || h.Events != 1 {
		t.Errorf("health %+v", h)
	}
	// Rejected messages are stored too, so they are acknowledged.
	waitFor(t, "the broker to get every ack", func() bool { return b.inflight(id) == 0 })
}

func TestTextPayloadQoS0(t *testing.T) { eachProtocol(t, testTextPayloadQoS0) }

func testTextPayloadQoS0(t *testing.T, proto string) {
	b := startBroker(t)
	s := newSource(t, Config{Broker: b.url, Protocol: proto, Topics: []string{"log"}, MessageConfig: source.MessageConfig{Payload: "text"}, QoS: 0})
	s.qos = 0 // newSource defaults 0 to 1, as the config does
	sink := &ackSink{}
	run(t, s, sink)
	b.publish(t, "log", "ERROR disk full")
	waitFor(t, "the message", func() bool { return len(sink.Events()) >= 1 })
	e := sink.Events()[0]
	if e.Fields["message"] != "ERROR disk full" || e.Fields["topic"] != "log" || e.Flags != 0 || e.Time.IsZero() {
		t.Errorf("event %+v", e)
	}
	if sink.Batches()[0].Ack != nil {
		t.Error("QoS 0 batch has an Ack: there is nothing to acknowledge")
	}
}

// TestReconnect: the broker goes away and comes back on the same port; the
// source reports the outage and resumes without a restart.
func TestReconnect(t *testing.T) { eachProtocol(t, testReconnect) }

func testReconnect(t *testing.T, proto string) {
	b := startBroker(t)
	s := newSource(t, Config{Broker: b.url, Protocol: proto, Topics: []string{"t"}, ClientID: "lookout-reconnect"})
	// An attempt that reaches the broker while it shuts down can hang until
	// the connect timeout; keep that short so the test sees the retry.
	s.connectTimeout = 500 * time.Millisecond
	sink := &ackSink{}
	run(t, s, sink)
	addr := strings.TrimPrefix(b.url, "tcp://")
	b.Close()
	waitFor(t, "the outage to show", func() bool { return !s.Health().Snapshot().Up })

	srv := testserver.MQTTAt(t, addr)
	deadline := time.Now().Add(10 * time.Second)
	for !s.Health().Snapshot().Up {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %+v", s.Health().Snapshot())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := srv.Publish("t", []byte(`{"n":1}`), false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a message after the reconnect", func() bool { return len(sink.Events()) >= 1 })
	if h := s.Health().Snapshot(); h.LastError == "" {
		t.Errorf("outage not reported: %+v", h)
	}
}

func TestBackoff(t *testing.T) {
	s := newSource(t, Config{Broker: "tcp://127.0.0.1:1", Topics: []string{"t"}})
	s.Rand = func(n int64) int64 { return n - 1 }
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 0},
		{1, minBackoff},
		{2, 2 * minBackoff},
		{3, 4 * minBackoff},
		{100, maxBackoff},
	}
	for _, tt := range tests {
		if got := s.reconnectBackoff(tt.attempt); got != tt.want {
			t.Errorf("reconnectBackoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
	s.Rand = func(int64) int64 { return 0 }
	if got := s.backoff(1); got != minBackoff/2 {
		t.Errorf("backoff(1) without jitter = %v, want %v", got, minBackoff/2)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{Broker: "tcp://127.0.0.1:1883", Topics: []string{"a/#"}}, ""},
		{"no broker", Config{Topics: []string{"a"}}, "broker is required"},
		{"bad scheme", Config{Broker: "http://127.0.0.1:1883", Topics: []string{"a"}}, `unsupported scheme "http"`},
		{"no topics", Config{Broker: "tcp://127.0.0.1:1883"}, "topics is required"},
		{"bad protocol", Config{Broker: "tcp://127.0.0.1:1883", Topics: []string{"a"}, Protocol: "4"}, `protocol "4" is not "5" or "3.1.1"`},
		{"protocol 3.1.1", Config{Broker: "tcp://127.0.0.1:1883", Topics: []string{"a"}, Protocol: "3.1.1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := source.New(config.Source{Name: "sensors", Type: "mqtt", Settings: &tt.cfg}, source.Deps{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := src.(*Source)
			if s.ClientID() != DefaultClientID("sensors") || !strings.HasPrefix(s.ClientID(), "lookout-") || !strings.HasSuffix(s.ClientID(), "-sensors") {
				t.Errorf("client id %q", s.ClientID())
			}
			if want := cmp.Or(tt.cfg.Protocol, ProtocolV5); s.Protocol() != want {
				t.Errorf("protocol %q, want %q", s.Protocol(), want)
			}
			if s.sessionExpiry != 3600 || s.maxMessage != DefaultMaxMessageBytes {
				t.Errorf("session expiry %d, max message %d", s.sessionExpiry, s.maxMessage)
			}
		})
	}
}
