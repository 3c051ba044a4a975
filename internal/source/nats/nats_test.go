package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
	"github.com/lookout-dev/lookout/internal/testserver"
)

// startServer runs an embedded NATS server with JetStream on a free
// loopback port (or on port, to restart one), storing in dir.
func startServer(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	return testserver.NATSAt(t, port, dir, nil)
}

// withStream creates stream EVENTS on events.> and returns a JetStream
// client for publishing.
func withStream(t testing.TB, ns *server.Server) jetstream.JetStream {
	t.Helper()
	return testserver.JetStream(t, ns, "EVENTS", "events.>")
}

func publish(t testing.TB, js jetstream.JetStream, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := js.PublishAsync("events.api", fmt.Appendf(nil, `{"id":%d,"service":"api"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		t.Fatal("publishing timed out")
	}
}

func newSource(t testing.TB, url string, mod func(*config.Source, *Config)) *Source {
	t.Helper()
	k := &Config{URL: url, Subject: "events.>", Durable: "lookout", MessageConfig: source.MessageConfig{Payload: "json"}}
	cfg := config.Source{Name: "bus", Type: "nats", Settings: k}
	if mod != nil {
		mod(&cfg, k)
	}
	s, err := New(cfg, source.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func consumerInfo(t testing.TB, js jetstream.JetStream) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(context.Background(), "EVENTS", "lookout")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

func allAcked(t testing.TB, js jetstream.JetStream) func() bool {
	return func() bool {
		ci := consumerInfo(t, js)
		return ci.NumAckPending == 0 && ci.NumPending == 0
	}
}

func TestJetStreamConsumeAck(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: integration test with an embedded NATS server")
	}
	ns := startServer(t, 0, t.TempDir())
	js := withStream(t, ns)
	publish(t, js, 0, 500) // before the consumer exists: delivered too
	s := newSource(t, ns.ClientURL(), nil)
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 10*time.Second, "500 events", func() bool { n, _ := sink.Counts(); return n == 500 })
	publish(t, js, 500, 1000)
	sourcetest.WaitFor(t, 10*time.Second, "1000 events", func() bool { n, _ := sink.Counts(); return n == 1000 })
	sourcetest.WaitFor(t, 10*time.Second, "every message acknowledged", allAcked(t, js))
	for id, n := range sink.AckedIDs() {
		if n != 1 {
			t.Errorf("event %v acked %d times", id, n)
		}
	}
	ci := consumerInfo(t, js)
	if ci.Config.AckPolicy != jetstream.AckExplicitPolicy || ci.Config.AckWait != DefaultAckWait || ci.Config.MaxAckPending != DefaultMaxAckPending {
		t.Errorf("consumer config = %v %v %v, want explicit acks with the defaults", ci.Config.AckPolicy, ci.Config.AckWait, ci.Config.MaxAckPending)
	}
	e := sink.Events()[0]
	if e.Fields["subject"] != "events.api" || time.Since(e.Time) > time.Minute || e.Flags != 0 {
		t.Errorf("event = subject %v time %v flags %v, want events.api, the stream's time, no flags", e.Fields["subject"], e.Time, e.Flags)
	}
}

// A consumer killed with messages unacknowledged leaves them to JetStream,
// which redelivers them after ack_wait to the next one; a batch lookout
// failed is negatively acknowledged and redelivered at once.
func TestJetStreamRedelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: integration test with an embedded NATS server")
	}
	for _, tc := range []struct {
		name   string
		ackErr error
	}{
		{"never acked", nil},
		{"acked with an error", errors.New("store failed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startServer(t, 0, t.TempDir())
			js := withStream(t, ns)
			publish(t, js, 0, 100)
			mod := func(cfg *config.Source, c *Config) { c.AckWait = config.Duration(time.Second) }
			a := newSource(t, ns.ClientURL(), mod)
			sinkA := sourcetest.NewAckSink()
			stopA := sourcetest.Run(t, a, sinkA)
			sourcetest.WaitFor(t, 10*time.Second, "A's 100 events", func() bool { n, _ := sinkA.Counts(); return n == 100 })
			sourcetest.WaitFor(t, 10*time.Second, "A's acks", allAcked(t, js))
			sinkA.Set(tc.ackErr == nil, tc.ackErr)
			publish(t, js, 100, 150)
			sourcetest.WaitFor(t, 10*time.Second, "A's 150 events", func() bool { n, _ := sinkA.Counts(); return n >= 150 })
			stopA()

			b := newSource(t, ns.ClientURL(), mod)
			sinkB := sourcetest.NewAckSink()
			sourcetest.Run(t, b, sinkB)
			sourcetest.WaitFor(t, 20*time.Second, "B's redelivered events", func() bool { n, _ := sinkB.Counts(); return n >= 50 })
			sourcetest.WaitFor(t, 20*time.Second, "B's acks", allAcked(t, js))
			ids := sinkB.AckedIDs()
			for i := 100; i < 150; i++ {
				if ids[float64(i)] != 1 {
					t.Errorf("event %d acked %d times by B, want 1", i, ids[float64(i)])
				}
			}
			for i := range 100 {
				if ids[float64(i)] != 0 {
					t.Errorf("event %d, acked by A, was redelivered to B", i)
				}
			}
		})
	}
}

func TestBadMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: integration test with an embedded NATS server")
	}
	for _, durable := range []string{"", "lookout"} {
		t.Run("durable="+durable, func(t *testing.T) {
			ns := startServer(t, 0, t.TempDir())
			js := withStream(t, ns)
			s := newSource(t, ns.ClientURL(), func(cfg *config.Source, c *Config) {
				c.Durable = durable
				c.MaxMessageBytes = 1000
				cfg.Fields = map[string]config.Field{"status": {Type: "number"}}
			})
			sink := sourcetest.NewAckSink()
			sourcetest.Run(t, s, sink)
			nc, err := nats.Connect(ns.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if durable == "" {
				// Core NATS delivers only to a live subscription.
				sourcetest.WaitFor(t, 10*time.Second, "the subscription", func() bool { return ns.NumSubscriptions() > 0 && s.Health().Snapshot().Up })
			}
			big := `{"pad":"` + strings.Repeat("x", 2000) + `"}`
			for _, m := range []string{`{"id":1}`, `not json`, `[1,2]`, big, `{"id":2,"status":"five hundred"}`, `{"id":3}`} {
				if err := nc.Publish("events.api", []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			nc.Flush()
			sourcetest.WaitFor(t, 10*time.Second, "3 events and 3 rejected", func() bool { n, r := sink.Counts(); return n == 3 && r == 3 })
			if durable != "" {
				sourcetest.WaitFor(t, 10*time.Second, "the bad messages acknowledged too", allAcked(t, js))
			}
			for i, w := range []struct{ raw, reason string }{
				{"not json", "invalid JSON"},
				{"[1,2]", "not a JSON object"},
				{big[:1000], "message of 2010 bytes is larger than max_message_bytes 1000"},
			} {
				r := sink.Rejected()[i]
				if r.Source != "bus" || string(r.Raw) != w.raw || !strings.Contains(r.Reason, w.reason) {
					t.Errorf("rejected = {%s %.20q %q}, want bus, %.20q, reason containing %q", r.Source, r.Raw, r.Reason, w.raw, w.reason)
				}
			}
			if e := sink.Events()[1]; e.Flags&event.FlagBadType == 0 {
				t.Errorf("status \"five hundred\": flags %v, want bad_type", e.Flags)
			}
		})
	}
}

// Core NATS: a server restart loses what is published meanwhile; the
// source reconnects by itself and counts the gap.
func TestCoreReconnectCountsGap(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: integration test with an embedded NATS server")
	}
	dir := t.TempDir()
	ns := startServer(t, 0, dir)
	url := ns.ClientURL()
	s := newSource(t, url, func(cfg *config.Source, c *Config) { c.Durable = "" })
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 10*time.Second, "the subscription", func() bool { return ns.NumSubscriptions() > 0 && s.Health().Snapshot().Up })
	pub := func(ns *server.Server, msg string) {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Publish("events.api", []byte(msg))
		nc.Flush()
	}
	pub(ns, `{"id":1}`)
	sourcetest.WaitFor(t, 10*time.Second, "1 event", func() bool { n, _ := sink.Counts(); return n == 1 })

	tcpPort := ns.Addr().String()[strings.LastIndex(ns.Addr().String(), ":")+1:]
	ns.Shutdown()
	sourcetest.WaitFor(t, 10*time.Second, "the source to notice", func() bool { return !s.Health().Snapshot().Up })
	var portN int
	fmt.Sscan(tcpPort, &portN)
	ns2 := startServer(t, portN, dir)
	sourcetest.WaitFor(t, 20*time.Second, "the resubscription", func() bool { return ns2.NumSubscriptions() > 0 && s.Health().Snapshot().Up })
	pub(ns2, `{"id":2}`)
	sourcetest.WaitFor(t, 10*time.Second, "the event after the reconnect", func() bool { n, _ := sink.Counts(); return n == 2 })
	if g := s.Health().Snapshot().Gaps; g != 1 {
		t.Errorf("gaps = %d after one reconnect, want 1", g)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Source
	}{
		{"no url", config.Source{Name: "b", Settings: &Config{Subject: "x"}}},
		{"no subject", config.Source{Name: "b", Settings: &Config{URL: "nats://127.0.0.1:1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, source.Deps{}); err == nil || !strings.Contains(err.Error(), "url and subject are required") {
				t.Errorf("New: %v, want url and subject are required", err)
			}
		})
	}
}

// Redelivery after a crash is a matter of the server's timers, which can
// fire later than the restarted lookout's wait on a busy machine. Whenever
// the dead lookout's unacknowledged messages come back, they are handed over
// before any message published since, whose later event times would
// otherwise close their windows first. Here half of them come back late:
// the dead consumer asked for a delay beyond ack_wait (NakWithDelay), as a
// late timer would.
func TestRestartReplaysUnackedBeforeNewer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: integration test with an embedded NATS server")
	}
	const ackWait = time.Second
	ns := startServer(t, 0, t.TempDir())
	js := withStream(t, ns)
	ctx := context.Background()
	dead, err := js.CreateOrUpdateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{
		Durable: "lookout", FilterSubject: "events.>", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: ackWait, MaxAckPending: DefaultMaxAckPending, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, js, 0, 100)
	batch, err := dead.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var pulled []jetstream.Msg
	for m := range batch.Messages() {
		pulled = append(pulled, m)
	}
	if len(pulled) != 100 {
		t.Fatalf("the dead consumer pulled %d messages, want 100", len(pulled))
	}
	for _, m := range pulled[50:] {
		if err := m.NakWithDelay(2 * ackWait); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, js, 100, 200) // while no lookout runs

	s := newSource(t, ns.ClientURL(), func(cfg *config.Source, c *Config) { c.AckWait = config.Duration(ackWait) })
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 20*time.Second, "200 events", func() bool { n, _ := sink.Counts(); return n >= 200 })
	sourcetest.WaitFor(t, 20*time.Second, "every message acknowledged", allAcked(t, js))
	seen := map[float64]int{}
	newer := 0
	for i, e := range sink.Events() {
		id := e.Fields["id"].(float64)
		seen[id]++
		switch {
		case id >= 100:
			newer++
		case newer > 0:
			t.Fatalf("event %d (the dead lookout's) came at position %d, after %d messages published later", int(id), i, newer)
		}
	}
	for i := range 200 {
		if seen[float64(i)] != 1 {
			t.Errorf("event %d handed over %d times, want 1", i, seen[float64(i)])
		}
	}
}

// The lag is every message waiting in JetStream for the durable: after a
// crash, those the dead lookout had and those published since, reported at
// once, while the restarted one still waits for the redelivery (ack_wait);
// and 0 once it has everything.
func TestLagAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: integration test with an embedded NATS server")
	}
	ns := startServer(t, 0, t.TempDir())
	js := withStream(t, ns)
	publish(t, js, 0, 100)
	mod := func(cfg *config.Source, c *Config) { c.AckWait = config.Duration(3 * time.Second) }
	a := newSource(t, ns.ClientURL(), mod)
	sinkA := sourcetest.NewAckSink()
	sinkA.Set(true, nil) // read, never acknowledged
	stopA := sourcetest.Run(t, a, sinkA)
	sourcetest.WaitFor(t, 10*time.Second, "A's 100 events", func() bool { n, _ := sinkA.Counts(); return n == 100 })
	sourcetest.WaitFor(t, 10*time.Second, "A's lag 0: it holds everything", func() bool {
		n, known := a.Health().Backlog()
		return known && n == 0
	})
	stopA()
	publish(t, js, 100, 130)

	b := newSource(t, ns.ClientURL(), mod)
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, b, sink)
	sourcetest.WaitFor(t, 10*time.Second, "B's lag of 130 before the redelivery", func() bool {
		n, known := b.Health().Backlog()
		return known && n == 130
	})
	sourcetest.WaitFor(t, 20*time.Second, "every message acknowledged", allAcked(t, js))
	sourcetest.WaitFor(t, 10*time.Second, "B's lag 0", func() bool { n, _ := b.Health().Backlog(); return n == 0 })
}
