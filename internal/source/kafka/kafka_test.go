package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
	"github.com/lookout-dev/lookout/internal/testserver"
)

// cluster starts an in-process Kafka cluster (kfake speaks the wire
// protocol) with the topic and partitions given.
func cluster(t testing.TB, topic string, partitions int32) *kfake.Cluster {
	t.Helper()
	return testserver.Kafka(t, topic, partitions)
}

// produce writes values to topic, round-robin over its partitions, and
// waits until all are stored.
func produce(t testing.TB, c *kfake.Cluster, topic string, values ...[]byte) {
	t.Helper()
	produceWith(t, c, nil, topic, values...)
}

// produceWith is produce with extra client options: TLS, SASL.
func produceWith(t testing.TB, c *kfake.Cluster, opts []kgo.Opt, topic string, values ...[]byte) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchMaxBytes(4 << 20),
		kgo.MaxBufferedRecords(1 << 20)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, v := range values {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("producing: %v", firstErr)
	}
}

func eventJSON(id int) []byte {
	return fmt.Appendf(nil, `{"id":%d,"service":"api","ts":%d}`, id, time.Now().UnixMilli())
}

func newSource(t testing.TB, c *kfake.Cluster, mod func(*config.Source, *Config)) *Source {
	t.Helper()
	k := &Config{Brokers: c.ListenAddrs(), Topics: []string{"orders"},
		Group: "lookout", SessionTimeout: config.Duration(2 * time.Second), MessageConfig: source.MessageConfig{Payload: "json"}}
	cfg := config.Source{Name: "orders", Type: "kafka", Settings: k}
	if mod != nil {
		mod(&cfg, k)
	}
	s, err := New(cfg, source.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run starts s and returns a function that cancels it and waits for Run.

// committedAtEnd reports whether the group's committed offsets equal every
// partition's end offset, and describes both when they do not.
func committedAtEnd(c *kfake.Cluster, group, topic string) (bool, string) {
	gi := c.GroupInfo(group)
	var commits map[int32]kfake.GroupCommit
	if gi != nil {
		commits = gi.Commits[topic]
	}
	ok := true
	var desc []string
	for _, p := range c.PartitionInfos(topic) {
		got := commits[p.Partition].Offset
		if _, has := commits[p.Partition]; !has {
			got = -1
		}
		if got != p.HighWatermark {
			ok = false
		}
		desc = append(desc, fmt.Sprintf("p%d committed %d end %d", p.Partition, got, p.HighWatermark))
	}
	return ok, strings.Join(desc, ", ")
}

func TestConsumeAckCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 3)
	var values [][]byte
	for i := range 300 {
		values = append(values, eventJSON(i))
	}
	produce(t, c, "orders", values...)
	s := newSource(t, c, nil)
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)

	sourcetest.WaitFor(t, 20*time.Second, "300 events", func() bool { n, _ := sink.Counts(); return n == 300 })
	sourcetest.WaitFor(t, 10*time.Second, "commits at the end offsets", func() bool { ok, _ := committedAtEnd(c, "lookout", "orders"); return ok })
	ids := sink.AckedIDs()
	for i := range 300 {
		if ids[float64(i)] != 1 {
			t.Errorf("event %d acked %d times, want 1", i, ids[float64(i)])
		}
	}
	sourcetest.WaitFor(t, 10*time.Second, "lag 0", func() bool { return s.Health().Snapshot().Lag == 0 })
	h := s.Health().Snapshot()
	if h.Events != 300 || !h.Up {
		t.Errorf("health = events %d up %v, want 300 true", h.Events, h.Up)
	}
	if got := len(s.Raw().Last(1000)); got != 100 {
		t.Errorf("raw ring holds %d messages, want its capacity 100", got)
	}
}

// An event is stamped with its time field, or with the record's timestamp
// when it has none.
func TestEventTime(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 1)
	produce(t, c, "orders", []byte(`{"id":1,"ts":"2030-01-02T03:04:05Z"}`), []byte(`{"id":2}`))
	s := newSource(t, c, nil)
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 20*time.Second, "2 events", func() bool { n, _ := sink.Counts(); return n == 2 })
	if got := sink.Events()[0].Time; !got.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("event with ts: time %v", got)
	}
	if e := sink.Events()[1]; time.Since(e.Time) > time.Minute || e.Flags&event.FlagNoTimestamp != 0 {
		t.Errorf("event without ts: time %v flags %v, want the record's timestamp and no flag", e.Time, e.Flags)
	}
}

func TestBadMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 1)
	big := []byte(`{"pad":"` + strings.Repeat("x", 2000) + `"}`)
	produce(t, c, "orders",
		eventJSON(1),
		[]byte(`not json`),
		[]byte(`[1,2,3]`),
		[]byte(`42`),
		big,
		[]byte(`{"id":2,"status":"five hundred"}`),
		eventJSON(3),
	)
	s := newSource(t, c, func(cfg *config.Source, k *Config) {
		k.MaxMessageBytes = 1000
		cfg.Fields = map[string]config.Field{"status": {Type: "number"}}
	})
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 20*time.Second, "3 events and 4 rejected", func() bool { n, r := sink.Counts(); return n == 3 && r == 4 })
	sourcetest.WaitFor(t, 10*time.Second, "commit past the bad messages", func() bool { ok, _ := committedAtEnd(c, "lookout", "orders"); return ok })

	want := []struct{ raw, reason string }{
		{"not json", "invalid JSON"},
		{"[1,2,3]", "not a JSON object"},
		{"42", "not a JSON object"},
		{string(big[:1000]), "message of 2010 bytes is larger than max_message_bytes 1000"},
	}
	for i, w := range want {
		t.Run(w.raw[:min(len(w.raw), 10)], func(t *testing.T) {
			r := sink.Rejected()[i]
			if r.Source != "orders" || string(r.Raw) != w.raw || !strings.Contains(r.Reason, w.reason) {
				t.Errorf("rejected = {%s %.20q %q}, want source orders, raw %.20q, reason containing %q", r.Source, r.Raw, r.Reason, w.raw, w.reason)
			}
		})
	}
	// A field of the wrong type is kept, flagged, as preprocessing says.
	if e := sink.Events()[1]; e.Flags&event.FlagBadType == 0 {
		t.Errorf("event with status \"five hundred\": flags %v, want bad_type", e.Flags)
	}
	if h := s.Health().Snapshot(); h.Rejected != 4 {
		t.Errorf("health rejected = %d, want 4", h.Rejected)
	}
}

func TestTextPayload(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 1)
	produce(t, c, "orders", []byte(`disk full on /var`), []byte(`{"not":"parsed"}`))
	s := newSource(t, c, func(cfg *config.Source, k *Config) { k.Payload = "text" })
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 20*time.Second, "2 events", func() bool { n, _ := sink.Counts(); return n == 2 })
	for i, want := range []string{`disk full on /var`, `{"not":"parsed"}`} {
		if got := sink.Events()[i].Fields["message"]; got != want {
			t.Errorf("event %d message = %v, want %q", i, got, want)
		}
	}
}

// Offsets are committed only for acknowledged batches: a consumer that
// stops with batches unacknowledged (lookout had not closed their windows)
// leaves them to the next one, which gets exactly those.
func TestUnackedAreRedelivered(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	for _, tc := range []struct {
		name   string
		ackErr error
	}{
		{"never acked", nil},
		{"acked with an error", fmt.Errorf("store failed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster(t, "orders", 1)
			var first [][]byte
			for i := range 100 {
				first = append(first, eventJSON(i))
			}
			produce(t, c, "orders", first...)

			a := newSource(t, c, nil)
			sinkA := sourcetest.NewAckSink()
			stopA := sourcetest.Run(t, a, sinkA)
			sourcetest.WaitFor(t, 20*time.Second, "100 events at A", func() bool { n, _ := sinkA.Counts(); return n == 100 })
			sourcetest.WaitFor(t, 10*time.Second, "A's commit", func() bool { ok, _ := committedAtEnd(c, "lookout", "orders"); return ok })

			sinkA.Set(tc.ackErr == nil, tc.ackErr)
			var second [][]byte
			for i := 100; i < 150; i++ {
				second = append(second, eventJSON(i))
			}
			produce(t, c, "orders", second...)
			sourcetest.WaitFor(t, 20*time.Second, "150 events at A", func() bool { n, _ := sinkA.Counts(); return n == 150 })
			stopA()
			if ok, desc := committedAtEnd(c, "lookout", "orders"); ok {
				t.Fatalf("committed past unacknowledged records: %s", desc)
			}

			b := newSource(t, c, nil)
			sinkB := sourcetest.NewAckSink()
			sourcetest.Run(t, b, sinkB)
			sourcetest.WaitFor(t, 20*time.Second, "50 events at B", func() bool { n, _ := sinkB.Counts(); return n >= 50 })
			sourcetest.WaitFor(t, 10*time.Second, "B's commit", func() bool { ok, _ := committedAtEnd(c, "lookout", "orders"); return ok })
			ids := sinkB.AckedIDs()
			if len(ids) != 50 {
				t.Errorf("B acked %d distinct events, want the 50 A left", len(ids))
			}
			for i := 100; i < 150; i++ {
				if ids[float64(i)] != 1 {
					t.Errorf("event %d acked %d times by B, want 1", i, ids[float64(i)])
				}
			}
		})
	}
}

// Two lookouts in one group share the partitions; when the second joins
// mid-stream the group rebalances. Every produced event is acknowledged by
// one of them and the group ends committed at the end offsets.
func TestRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 4)
	const total = 4000
	a := newSource(t, c, nil)
	sinkA := sourcetest.NewAckSink()
	sourcetest.Run(t, a, sinkA)

	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < total; i += 200 {
			var vs [][]byte
			for j := i; j < i+200; j++ {
				vs = append(vs, eventJSON(j))
			}
			produce(t, c, "orders", vs...)
			time.Sleep(20 * time.Millisecond) // a stream, not one burst
		}
	}()
	sourcetest.WaitFor(t, 20*time.Second, "A consuming", func() bool { n, _ := sinkA.Counts(); return n > 0 })
	b := newSource(t, c, nil)
	sinkB := sourcetest.NewAckSink()
	sourcetest.Run(t, b, sinkB)
	sourcetest.WaitFor(t, 20*time.Second, "both members assigned", func() bool {
		gi := c.GroupInfo("lookout")
		if gi == nil || len(gi.Members) != 2 {
			return false
		}
		for _, m := range gi.Members {
			if m.NumAssigned() == 0 {
				return false
			}
		}
		return true
	})
	<-produced
	sourcetest.WaitFor(t, 30*time.Second, "commits at the end offsets", func() bool { ok, _ := committedAtEnd(c, "lookout", "orders"); return ok })

	union := sinkA.AckedIDs()
	for id, n := range sinkB.AckedIDs() {
		union[id] += n
	}
	missing := 0
	for i := range total {
		if union[float64(i)] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events were never acknowledged", missing, total)
	}
	if n, _ := sinkB.Counts(); n == 0 {
		t.Errorf("the second member got nothing: no rebalance happened")
	}
}

// The lag is every record Kafka has not handed to lookout yet. It is
// reported right after the start, and while lookout is full (Submit
// blocking), and is 0 once lookout has everything.
func TestLag(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 1)
	const total = 25000 // more than one poll
	var vs [][]byte
	for i := range total {
		vs = append(vs, eventJSON(i))
	}
	produce(t, c, "orders", vs...)
	s := newSource(t, c, nil)
	sink := &blockingSink{AckSink: sourcetest.NewAckSink(), release: make(chan struct{})}
	sink.n = 1 // the very first submission blocks
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 20*time.Second, "the lag of what lookout was not handed", func() bool {
		n, known := s.Health().Backlog()
		return known && n > 0 && n == total-int64(sink.attempted.Load())
	})
	close(sink.release)
	sourcetest.WaitFor(t, 20*time.Second, "every event", func() bool { n, _ := sink.Counts(); return n == total })
	sourcetest.WaitFor(t, 20*time.Second, "lag 0", func() bool { n, _ := s.Health().Backlog(); return n == 0 })
}

// After a restart the lag is the backlog left behind, the records the
// earlier run read but never acknowledged included: they are read again.
func TestLagAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 1)
	values := func(from, to int) [][]byte {
		var vs [][]byte
		for i := from; i < to; i++ {
			vs = append(vs, eventJSON(i))
		}
		return vs
	}
	produce(t, c, "orders", values(0, 100)...)
	a := newSource(t, c, nil)
	sinkA := sourcetest.NewAckSink()
	stopA := sourcetest.Run(t, a, sinkA)
	sourcetest.WaitFor(t, 20*time.Second, "A's commit", func() bool { ok, _ := committedAtEnd(c, "lookout", "orders"); return ok })
	sinkA.Set(true, nil) // read from now on, never acknowledged
	const held = 25000   // more than one poll
	produce(t, c, "orders", values(100, 100+held)...)
	sourcetest.WaitFor(t, 20*time.Second, "A holding everything", func() bool { n, _ := sinkA.Counts(); return n == 100+held })
	sourcetest.WaitFor(t, 20*time.Second, "A's lag 0: it holds everything", func() bool { n, _ := a.Health().Backlog(); return n == 0 })
	stopA()

	b := newSource(t, c, nil)
	sink := &blockingSink{AckSink: sourcetest.NewAckSink(), release: make(chan struct{})}
	sink.n = 1 // the first submission blocks
	sourcetest.Run(t, b, sink)
	sourcetest.WaitFor(t, 20*time.Second, "B's lag of what A left", func() bool {
		n, known := b.Health().Backlog()
		return known && n > 0 && n == held-sink.attempted.Load()
	})
	close(sink.release)
	sourcetest.WaitFor(t, 20*time.Second, "B's lag 0", func() bool { n, _ := b.Health().Backlog(); return n == 0 })
}

// blockingSink blocks every submission after the first until release is closed.
type blockingSink struct {
	*sourcetest.AckSink
	n       int
	release chan struct{}
	// attempted counts the events of every submission, blocked or not.
	attempted atomic.Int64
}

func (s *blockingSink) Submit(ctx context.Context, b event.Batch, rej []event.Rejected) error {
	s.attempted.Add(int64(len(b.Events)))
	s.n++
	if s.n > 1 {
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.AckSink.Submit(ctx, b, rej)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers and topics are required"},
		{"bad start", func(c *Config) { c.Start = "middle" }, `unknown start "middle"`},
		{"bad mechanism", func(c *Config) { c.SASL = SASL{Mechanism: "GSSAPI", Username: "u"} }, `unknown sasl.mechanism "GSSAPI"`},
		{"missing ca file", func(c *Config) { c.TLS = TLS{Enabled: true, CAFile: "/nonexistent/ca.pem"} }, "reading tls.ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &Config{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"orders"}}
			tc.mod(k)
			cfg := config.Source{Name: "orders", Type: "kafka", Settings: k}
			_, err := New(cfg, source.Deps{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A broker that cannot be reached leaves the source down with the reason,
// retrying, until Run is cancelled.
func TestUnreachableBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: network")
	}
	cfg := config.Source{Name: "orders", Type: "kafka", Settings: &Config{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"orders"}}}
	s, err := New(cfg, source.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	sourcetest.Run(t, s, sourcetest.NewAckSink())
	sourcetest.WaitFor(t, 20*time.Second, "a recorded failure", func() bool { return s.Health().Snapshot().LastError != "" })
	if h := s.Health().Snapshot(); h.Up || !strings.Contains(h.LastError, "connecting to kafka") {
		t.Errorf("health = up %v error %q, want down with a connecting error", h.Up, h.LastError)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute} {
		for range 20 {
			if d := reconnect.Delay(n); d < want/2 || d > want {
				t.Fatalf("reconnect.Delay(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

var _ = json.Valid

// Each event carries its partition's number (Origin); when partitions move to
// a second member the first tells lookout which (Deps.Revoked) and the move
// waits for its answer: the second member gets no record of them before.
func TestRevokedTellsMovedOrigins(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 4)
	cfg := config.Source{Name: "orders", Type: "kafka", Settings: &Config{Brokers: c.ListenAddrs(), Topics: []string{"orders"},
		Group: "lookout", SessionTimeout: config.Duration(2 * time.Second), MessageConfig: source.MessageConfig{Payload: "json"}}}
	origins := &source.Origins{} // shared, as the app shares one among its sources
	sinkB := sourcetest.NewAckSink()
	var mu sync.Mutex
	var revoked []int32
	var seenByB []int // what the second member had received when lookout was told, and when it answered
	a, err := New(cfg, source.Deps{Origins: origins, Revoked: func(ctx context.Context, src string, os []int32) error {
		if src != "orders" {
			t.Errorf("Revoked for source %q, want orders", src)
		}
		before, _ := sinkB.Counts()
		select { // lookout taking its time: the rebalance must wait for it
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		after, _ := sinkB.Counts()
		mu.Lock()
		revoked = append(revoked, os...)
		seenByB = append(seenByB, before, after)
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	sinkA := sourcetest.NewAckSink()
	sourcetest.Run(t, a, sinkA)
	var vs [][]byte
	for i := range 400 {
		vs = append(vs, eventJSON(i))
	}
	produce(t, c, "orders", vs...)
	sourcetest.WaitFor(t, 20*time.Second, "A consuming everything", func() bool { n, _ := sinkA.Counts(); return n == 400 })

	want := map[int32]bool{}
	for p := range int32(4) {
		want[origins.Of("orders\x00orders\x00"+fmt.Sprint(p))] = true
	}
	for _, e := range sinkA.Events() {
		if !want[e.Origin] {
			t.Fatalf("event with origin %d, want one of the partitions' %v", e.Origin, want)
		}
	}

	// A stream, so that B would get records the moment it is assigned.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			produce(t, c, "orders", vs[:20]...)
		}
	}()
	b, err := New(cfg, source.Deps{Origins: origins})
	if err != nil {
		t.Fatal(err)
	}
	sourcetest.Run(t, b, sinkB)
	sourcetest.WaitFor(t, 20*time.Second, "B consuming", func() bool { n, _ := sinkB.Counts(); return n > 0 })
	close(stop)
	<-stopped

	mu.Lock()
	defer mu.Unlock()
	if len(revoked) == 0 {
		t.Fatal("the first member never said which partitions moved")
	}
	moved := map[int32]bool{}
	for _, o := range revoked {
		moved[o] = true
	}
	for _, e := range sinkB.Events() {
		if !moved[e.Origin] {
			t.Errorf("B got an event of origin %d, which A did not give up (it gave up %v)", e.Origin, revoked)
		}
	}
	for _, n := range seenByB {
		if n != 0 {
			t.Errorf("B had received %v events while A was still forgetting the moved partitions, want none", seenByB)
			break
		}
	}
}
