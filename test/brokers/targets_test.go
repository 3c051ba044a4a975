package brokers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lookout-dev/lookout/internal/testserver"
)

// msg is one message of the stream: key is its service, which a keyed
// broker (Kafka) uses to pick the partition.
type msg struct {
	key   string
	value []byte
}

// target is one broker started for one case: the config of source "src"
// reading it, and a producer writing to it.
type target struct {
	// source is the YAML of the source entry, with default settings.
	source string
	// send writes msgs in order, each stored by the broker when it returns.
	send func(t *testing.T, msgs []msg)
	// oversize is the size of a message the source must reject as too large:
	// above its default max_message_bytes (max_line_bytes for logfile).
	oversize int
}

// bigMessages is what the brokers are configured to accept in the tests, so
// a message above lookout's default limit of 1 MiB reaches lookout at all.
const bigMessages = 4 << 20

// kafkaTarget: an in-process cluster (kfake) with topic "orders" of four
// partitions, the producer keying each message by service.
func kafkaTarget(t *testing.T, _ string) *target { return kafka(t, 4, true) }

// kafkaOneTarget: one partition, messages without a key.
func kafkaOneTarget(t *testing.T, _ string) *target { return kafka(t, 1, false) }

func kafka(t *testing.T, partitions int32, keyed bool) *target {
	c := testserver.Kafka(t, "orders", partitions,
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": fmt.Sprint(bigMessages)}))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders"),
		kgo.ProducerBatchMaxBytes(bigMessages))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &target{
		source: fmt.Sprintf(`{name: src, type: kafka, brokers: [%s], topics: [orders]}`, strings.Join(c.ListenAddrs(), ", ")),
		send: func(t *testing.T, msgs []msg) {
			rs := make([]*kgo.Record, len(msgs))
			for i, m := range msgs {
				rs[i] = &kgo.Record{Value: m.value}
				if keyed {
					rs[i].Key = []byte(m.key)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Errorf("producing: %v", err)
			}
		},
		oversize: 1<<20 + 1024,
	}
}

// redisTarget: redis-server with stream "events" and the consumer group
// lookout creates.
func redisTarget(t *testing.T, _ string) *target {
	rs := testserver.Redis(t)
	rdb := rs.Client(t)
	return &target{
		source: fmt.Sprintf(`{name: src, type: redis, mode: stream, addr: %s, stream: events}`, rs.Addr),
		send: func(t *testing.T, msgs []msg) {
			pipe := rdb.Pipeline()
			for _, m := range msgs {
				pipe.XAdd(context.Background(), &goredis.XAddArgs{Stream: "events", Values: map[string]any{"data": m.value}})
			}
			if _, err := pipe.Exec(context.Background()); err != nil {
				t.Errorf("XADD: %v", err)
			}
		},
		oversize: 1<<20 + 1024,
	}
}

// natsTarget: an embedded NATS server with the JetStream stream EVENTS on
// events.>; lookout creates its durable consumer.
func natsTarget(t *testing.T, _ string) *target {
	ns := testserver.NATSAt(t, 0, t.TempDir(), func(o *server.Options) { o.MaxPayload = bigMessages })
	js := testserver.JetStream(t, ns, "EVENTS", "events.>")
	return &target{
		source: fmt.Sprintf(`{name: src, type: nats, url: %s, subject: "events.>", durable: lookout}`, ns.ClientURL()),
		send: func(t *testing.T, msgs []msg) {
			for _, m := range msgs {
				if _, err := js.PublishAsync("events."+m.key, m.value); err != nil {
					t.Errorf("publishing: %v", err)
					return
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				t.Error("publishing timed out")
			}
		},
		oversize: 1<<20 + 1024,
	}
}

// mqttTarget: an embedded broker (mochi-mqtt); messages are published with
// QoS 1 on events/<service>, lookout subscribes to events/# with its
// default QoS 1 and persistent session.
func mqttTarget(t *testing.T, _ string) *target {
	b := testserver.MQTT(t)
	return &target{
		source: fmt.Sprintf(`{name: src, type: mqtt, broker: %s, topics: ["events/#"]}`, b.URL),
		send: func(t *testing.T, msgs []msg) {
			for _, m := range msgs {
				if err := b.Publish("events/"+m.key, m.value, false, 1); err != nil {
					t.Errorf("publishing: %v", err)
					return
				}
			}
		},
		oversize: 1<<20 + 1024,
	}
}

// logfileTarget: a JSON-lines log file that the producer appends to.
func logfileTarget(t *testing.T, dir string) *target {
	path := filepath.Join(dir, "app.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var mu sync.Mutex
	return &target{
		source: fmt.Sprintf(`{name: src, type: logfile, path: %s}`, path),
		send: func(t *testing.T, msgs []msg) {
			var b []byte
			for _, m := range msgs {
				b = append(append(b, m.value...), '\n')
			}
			mu.Lock()
			defer mu.Unlock()
			if _, err := f.Write(b); err != nil {
				t.Errorf("appending: %v", err)
			}
		},
		oversize: 70000, // max_line_bytes is 65536
	}
}
