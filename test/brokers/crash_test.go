package brokers

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The stream the crash tests produce: perWindow events in each of windows
// one-second windows, on a timeline of its own that starts at a whole second
// an hour ahead of the wall clock. With event times ahead of the clock only
// event time closes windows, so the test is the same on a slow machine: each
// window closes once a later event arrives, never because the test was slow.
const (
	windows   = 30
	perWindow = 50
	total     = windows * perWindow
)

// producer writes messages to one broker.
type producer interface {
	send(t *testing.T, msgs [][]byte)
	// acked reports whether the broker has seen lookout acknowledge some
	// messages (committed offsets, XACK, JetStream acks).
	acked() bool
}

// sourceYAML is the part of the config that differs per broker.
type broker struct {
	name   string
	source func(t *testing.T) (yaml string, p producer)
}

func TestCrashCountsEveryEventOnce(t *testing.T) {
	for _, b := range []broker{
		{"kafka", kafkaBroker},
		{"redis", redisBroker},
		{"nats", natsBroker},
	} {
		t.Run(b.name, func(t *testing.T) {
			srcYAML, prod := b.source(t)
			dir := t.TempDir()
			addr := freeAddr(t)
			cfg := filepath.Join(dir, "lookout.yaml")
			if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {listen: %s}
storage: {path: %s, flush_interval: 100ms}
sources:
%s
pipelines:
  - name: p
    from: [src]
    window: 1s
    lateness: 300ms
    aggregates: {n: count()}
`, addr, filepath.Join(dir, "data"), srcYAML)), 0o644); err != nil {
				t.Fatal(err)
			}

			base := time.Now().Add(time.Hour).Truncate(time.Second)
			msg := func(i int) []byte {
				ts := base.Add(time.Duration(i) * time.Second / perWindow)
				return fmt.Appendf(nil, `{"id":%d,"ts":"%s"}`, i, ts.Format(time.RFC3339Nano))
			}
			sendRange := func(from, to int) {
				for i := from; i < to; i += perWindow / 2 {
					var ms [][]byte
					for j := i; j < min(i+perWindow/2, to); j++ {
						ms = append(ms, msg(j))
					}
					prod.send(t, ms)
					time.Sleep(10 * time.Millisecond) // a stream, not one burst
				}
			}

			p1 := start(t, addr, cfg)
			sendRange(0, total/2)
			// Mid-stream: some windows are closed and stored (their
			// messages acknowledged), the newest are still open.
			waitFor(t, 30*time.Second, "the first closed windows", func() bool { return len(closedWindows(t, p1)) >= 5 })
			// Keep the stream going until the broker has seen some
			// acknowledgements: a batch is acknowledged once the window
			// of its newest event closed, which takes later events.
			next := total / 2
			for ; !prod.acked(); next += perWindow / 2 {
				if next >= 3*total/4 {
					t.Fatal("no acknowledgement reached the broker")
				}
				sendRange(next, next+perWindow/2)
				time.Sleep(100 * time.Millisecond)
			}
			p1.kill()

			sendRange(next, 3*total/4) // while lookout is down
			p2 := start(t, addr, cfg)
			sendRange(3*total/4, total)
			// One more event, after the last window and its lateness,
			// closes the last window.
			prod.send(t, [][]byte{fmt.Appendf(nil, `{"id":-1,"ts":"%s"}`, base.Add((windows+1)*time.Second).Format(time.RFC3339Nano))})

			// On a timeout the checks below name the missing windows.
			got := closedWindows(t, p2)
			for deadline := time.Now().Add(60 * time.Second); len(got) < windows && time.Now().Before(deadline); got = closedWindows(t, p2) {
				time.Sleep(100 * time.Millisecond)
			}
			for w := range windows {
				start := base.Add(time.Duration(w) * time.Second)
				if n, ok := got[start.UnixMilli()]; !ok || n != perWindow {
					t.Errorf("window %s: count %v (present %v), want %d", start.Format(time.TimeOnly), n, ok, perWindow)
				}
			}
			if len(got) != windows {
				t.Errorf("%d windows, want %d", len(got), windows)
			}
			var late struct {
				Data []struct {
					Name   string `json:"name"`
					Events int64  `json:"events"`
				} `json:"data"`
			}
			if err := p2.getJSON("/api/v1/sources", &late); err == nil {
				t.Logf("after the restart the sources received %+v: the %d produced after the kill plus what was redelivered", late.Data, total-next+1)
			}
		})
	}
}

// closedWindows returns the count of each closed window of pipeline p by
// its start.
func closedWindows(t *testing.T, p *proc) map[int64]float64 {
	var resp struct {
		Data []struct {
			Start  time.Time          `json:"start"`
			Values map[string]float64 `json:"values"`
		} `json:"data"`
	}
	if err := p.getJSON("/api/v1/windows?pipeline=p&limit=10000", &resp); err != nil {
		t.Logf("reading windows: %v", err)
		return nil
	}
	out := map[int64]float64{}
	for _, w := range resp.Data {
		if _, dup := out[w.Start.UnixMilli()]; dup {
			t.Errorf("window %v stored twice", w.Start)
		}
		out[w.Start.UnixMilli()] = w.Values["n"]
	}
	return out
}

// --- kafka: an in-process cluster (kfake) speaking the wire protocol.

type kafkaProducer struct {
	cl *kgo.Client
	c  *kfake.Cluster
}

func (k kafkaProducer) acked() bool {
	gi := k.c.GroupInfo("lookout")
	return gi != nil && gi.Commits["orders"][0].Offset > 0
}

func (k kafkaProducer) send(t *testing.T, msgs [][]byte) {
	t.Helper()
	var rs []*kgo.Record
	for _, m := range msgs {
		rs = append(rs, &kgo.Record{Value: m})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// kafkaCluster starts an in-process Kafka cluster with the topic "orders"
// of the given partitions, and a client producing to it; both close with
// the test. Consumer groups may use session timeouts down to 100 ms.
func kafkaCluster(t *testing.T, partitions int) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), "orders"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// The default partitioner hashes the key: one key, one partition.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl
}

func kafkaBroker(t *testing.T) (string, producer) {
	// One partition: the stream's order is the event order, as the
	// windows here expect; ordering across partitions is Kafka's to lose.
	c, cl := kafkaCluster(t, 1)
	// session_timeout: the killed lookout's partitions go to the
	// restarted one after a second instead of Kafka's default 45.
	return fmt.Sprintf(`  - {name: src, type: kafka, brokers: [%s], topics: [orders], group: lookout, session_timeout: 1s}`,
		strings.Join(c.ListenAddrs(), ", ")), kafkaProducer{cl, c}
}

// --- redis: the Debian redis-server on a free port.

type redisProducer struct{ rdb *goredis.Client }

func (r redisProducer) acked() bool {
	gs, err := r.rdb.XInfoGroups(context.Background(), "clicks").Result()
	return err == nil && len(gs) == 1 && gs[0].EntriesRead > gs[0].Pending
}

func (r redisProducer) send(t *testing.T, msgs [][]byte) {
	t.Helper()
	pipe := r.rdb.Pipeline()
	for _, m := range msgs {
		pipe.XAdd(context.Background(), &goredis.XAddArgs{Stream: "clicks", Values: map[string]any{"data": m}})
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatalf("XADD: %v", err)
	}
}

func redisBroker(t *testing.T) (string, producer) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found; install it: apt-get install redis-server")
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", t.TempDir(), "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	waitFor(t, 10*time.Second, "redis-server", func() bool { return rdb.Ping(context.Background()).Err() == nil })
	// The restarted lookout is a new consumer (hostname-pid): it claims
	// what the killed one left pending once idle for claim_idle.
	return fmt.Sprintf(`  - {name: src, type: redis, mode: stream, addr: %s, stream: clicks, group: lookout, claim_idle: 1s}`, addr),
		redisProducer{rdb}
}

// --- nats: an embedded server with JetStream.

type natsProducer struct{ js jetstream.JetStream }

func (n natsProducer) acked() bool {
	c, err := n.js.Consumer(context.Background(), "EVENTS", "lookout")
	if err != nil {
		return false
	}
	ci, err := c.Info(context.Background())
	return err == nil && ci.AckFloor.Stream > 0
}

func (n natsProducer) send(t *testing.T, msgs [][]byte) {
	t.Helper()
	for _, m := range msgs {
		if _, err := n.js.PublishAsync("events.api", m); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-n.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishing timed out")
	}
}

func natsBroker(t *testing.T) (string, producer) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}}); err != nil {
		t.Fatal(err)
	}
	// ack_wait: what the killed lookout had not acknowledged comes back
	// after 2s, and the restarted lookout waits for it before new messages.
	return fmt.Sprintf(`  - {name: src, type: nats, url: %s, subject: events.>, durable: lookout, stream: EVENTS, ack_wait: 2s}`, ns.ClientURL()),
		natsProducer{js}
}
