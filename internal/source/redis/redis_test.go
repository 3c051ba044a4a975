package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
	"github.com/lookout-dev/lookout/internal/testserver"
)

func startRedis(t testing.TB) *testserver.RedisServer {
	t.Helper()
	return testserver.Redis(t)
}

func newSource(t testing.TB, srv *testserver.RedisServer, mod func(*config.Source, *Config)) *Source {
	t.Helper()
	k := &Config{Mode: "stream", Addr: srv.Addr, Stream: "clicks",
		Group: "lookout", Field: "data", MessageConfig: source.MessageConfig{Payload: "json"}, ClaimIdle: config.Duration(30 * time.Second)}
	cfg := config.Source{Name: "clicks", Type: "redis", Settings: k}
	if mod != nil {
		mod(&cfg, k)
	}
	s, err := New(cfg, source.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func client(t testing.TB, srv *testserver.RedisServer) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func xadd(t testing.TB, rdb *goredis.Client, values ...map[string]any) {
	t.Helper()
	for _, v := range values {
		if err := rdb.XAdd(context.Background(), &goredis.XAddArgs{Stream: "clicks", Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func events(from, to int) []map[string]any {
	var out []map[string]any
	for i := from; i < to; i++ {
		out = append(out, map[string]any{"data": fmt.Sprintf(`{"id":%d,"service":"api"}`, i)})
	}
	return out
}

func pending(t testing.TB, rdb *goredis.Client) int64 {
	p, err := rdb.XPending(context.Background(), "clicks", "lookout").Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

func TestStreamConsumeAck(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: redis-server")
	}
	srv := startRedis(t)
	rdb := client(t, srv)
	xadd(t, rdb, events(0, 500)...) // before the group exists: read too
	s := newSource(t, srv, nil)
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 10*time.Second, "500 events", func() bool { n, _ := sink.Counts(); return n == 500 })
	xadd(t, rdb, events(500, 1000)...)
	sourcetest.WaitFor(t, 10*time.Second, "1000 events", func() bool { n, _ := sink.Counts(); return n == 1000 })
	sourcetest.WaitFor(t, 10*time.Second, "every entry acknowledged", func() bool { return pending(t, rdb) == 0 })
	for i, n := range sink.AckedIDs() {
		if n != 1 {
			t.Errorf("event %v acked %d times", i, n)
		}
	}
	if h := s.Health().Snapshot(); h.Events != 1000 || !h.Up {
		t.Errorf("health = events %d up %v, want 1000 true", h.Events, h.Up)
	}
	e := sink.Events()[0]
	if time.Since(e.Time) > time.Minute || e.Flags&event.FlagNoTimestamp != 0 {
		t.Errorf("event without ts: time %v flags %v, want the entry ID's time", e.Time, e.Flags)
	}
}

// An entry without the configured field is taken field by field, numbers
// and bools read as such.
func TestStreamFieldByField(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: redis-server")
	}
	srv := startRedis(t)
	rdb := client(t, srv)
	xadd(t, rdb, map[string]any{"service": "api", "latency": "12.5", "ok": "true", "ts": "2030-01-02T03:04:05Z"})
	s := newSource(t, srv, nil)
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 10*time.Second, "1 event", func() bool { n, _ := sink.Counts(); return n == 1 })
	e := sink.Events()[0]
	for k, want := range map[string]any{"service": "api", "latency": 12.5, "ok": true} {
		if e.Fields[k] != want {
			t.Errorf("field %s = %#v, want %#v", k, e.Fields[k], want)
		}
	}
	if !e.Time.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("time = %v, want the ts field's", e.Time)
	}
}

func TestStreamBadMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: redis-server")
	}
	srv := startRedis(t)
	rdb := client(t, srv)
	big := `{"pad":"` + strings.Repeat("x", 2000) + `"}`
	xadd(t, rdb,
		map[string]any{"data": `{"id":1}`},
		map[string]any{"data": `not json`},
		map[string]any{"data": `[1,2]`},
		map[string]any{"data": big},
		map[string]any{"data": `{"id":2,"status":"five hundred"}`},
		map[string]any{"data": `{"id":3}`},
	)
	s := newSource(t, srv, func(cfg *config.Source, c *Config) {
		c.MaxMessageBytes = 1000
		cfg.Fields = map[string]config.Field{"status": {Type: "number"}}
	})
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 10*time.Second, "3 events and 3 rejected", func() bool { n, r := sink.Counts(); return n == 3 && r == 3 })
	sourcetest.WaitFor(t, 10*time.Second, "the bad entries acknowledged too", func() bool { return pending(t, rdb) == 0 })
	for i, w := range []struct{ raw, reason string }{
		{"not json", "invalid JSON"},
		{"[1,2]", "not a JSON object"},
		{big[:1000], "message of 2010 bytes is larger than max_message_bytes 1000"},
	} {
		t.Run(w.raw[:min(len(w.raw), 8)], func(t *testing.T) {
			r := sink.Rejected()[i]
			if r.Source != "clicks" || string(r.Raw) != w.raw || !strings.Contains(r.Reason, w.reason) {
				t.Errorf("rejected = {%s %.20q %q}, want clicks, %.20q, reason containing %q", r.Source, r.Raw, r.Reason, w.raw, w.reason)
			}
		})
	}
	if e := sink.Events()[1]; e.Flags&event.FlagBadType == 0 {
		t.Errorf("status \"five hundred\": flags %v, want bad_type", e.Flags)
	}
}

// A consumer killed with entries unacknowledged leaves them pending; the
// next consumer claims them once idle and every event is acknowledged once.
func TestStreamKilledConsumerIsClaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: redis-server")
	}
	for _, tc := range []struct {
		name   string
		ackErr error
	}{
		{"never acked", nil},
		{"acked with an error", errors.New("store failed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startRedis(t)
			rdb := client(t, srv)
			xadd(t, rdb, events(0, 100)...)
			a := newSource(t, srv, func(cfg *config.Source, c *Config) { c.Consumer = "a" })
			sinkA := sourcetest.NewAckSink()
			stopA := sourcetest.Run(t, a, sinkA)
			sourcetest.WaitFor(t, 10*time.Second, "A's 100 events", func() bool { n, _ := sinkA.Counts(); return n == 100 })
			sourcetest.WaitFor(t, 10*time.Second, "A's acks", func() bool { return pending(t, rdb) == 0 })
			sinkA.Set(tc.ackErr == nil, tc.ackErr)
			xadd(t, rdb, events(100, 150)...)
			sourcetest.WaitFor(t, 10*time.Second, "A's 150 events", func() bool { n, _ := sinkA.Counts(); return n == 150 })
			stopA()
			if p := pending(t, rdb); p != 50 {
				t.Fatalf("%d entries pending after A stopped, want the 50 it had not finished", p)
			}

			b := newSource(t, srv, func(cfg *config.Source, c *Config) {
				c.Consumer = "b"
				c.ClaimIdle = config.Duration(300 * time.Millisecond)
			})
			sinkB := sourcetest.NewAckSink()
			sourcetest.Run(t, b, sinkB)
			sourcetest.WaitFor(t, 10*time.Second, "B's claim of 50 events", func() bool { n, _ := sinkB.Counts(); return n == 50 })
			sourcetest.WaitFor(t, 10*time.Second, "B's acks", func() bool { return pending(t, rdb) == 0 })
			ids := sinkB.AckedIDs()
			for i := 100; i < 150; i++ {
				if ids[float64(i)] != 1 {
					t.Errorf("event %d acked %d times by B, want 1", i, ids[float64(i)])
				}
			}
		})
	}
}

// Entries of this consumer that wait longer than claim_idle for their
// windows are not claimed back and handed over a second time.
func TestStreamSlowAckNotDuplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: redis-server")
	}
	srv := startRedis(t)
	rdb := client(t, srv)
	xadd(t, rdb, events(0, 20)...)
	s := newSource(t, srv, func(cfg *config.Source, c *Config) { c.ClaimIdle = config.Duration(100 * time.Millisecond) })
	sink := sourcetest.NewAckSink()
	sink.Set(true, nil)
	sourcetest.Run(t, s, sink)
	sourcetest.WaitFor(t, 10*time.Second, "20 events", func() bool { n, _ := sink.Counts(); return n == 20 })
	// Several claim rounds pass while the batch is held.
	claims := func() int64 {
		p, _ := rdb.XPendingExt(context.Background(), &goredis.XPendingExtArgs{Stream: "clicks", Group: "lookout", Start: "-", End: "+", Count: 1}).Result()
		if len(p) == 0 {
			return 0
		}
		return p[0].RetryCount
	}
	sourcetest.WaitFor(t, 10*time.Second, "a claim round over the held entries", func() bool { return claims() > 1 })
	if n, _ := sink.Counts(); n != 20 {
		t.Errorf("%d events handed over, want 20: claimed entries still in flight were handed over again", n)
	}
	sink.Release()
	sourcetest.WaitFor(t, 10*time.Second, "acks", func() bool { return pending(t, rdb) == 0 })
}

func TestPubSub(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: redis-server")
	}
	srv := startRedis(t)
	rdb := client(t, srv)
	s := newSource(t, srv, func(cfg *config.Source, c *Config) {
		c.Mode, c.Stream, c.Group = "pubsub", "", ""
		c.Channels = []string{"alerts", "metrics.*"}
	})
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	subscribers := func() bool {
		n, _ := rdb.PubSubNumSub(context.Background(), "alerts").Result()
		p, _ := rdb.PubSubNumPat(context.Background()).Result()
		return n["alerts"] == 1 && p == 1
	}
	sourcetest.WaitFor(t, 10*time.Second, "the subscription", subscribers)
	ctx := context.Background()
	rdb.Publish(ctx, "alerts", `{"id":1}`)
	rdb.Publish(ctx, "metrics.cpu", `{"id":2}`)
	rdb.Publish(ctx, "other", `{"id":3}`)
	rdb.Publish(ctx, "alerts", `oops`)
	sourcetest.WaitFor(t, 10*time.Second, "2 events and 1 rejected", func() bool { n, r := sink.Counts(); return n == 2 && r == 1 })
	for i, want := range []string{"alerts", "metrics.cpu"} {
		if got := sink.Events()[i].Fields["channel"]; got != want {
			t.Errorf("event %d channel = %v, want %s", i, got, want)
		}
	}
	if r := sink.Rejected()[0]; r.Source != "clicks" || string(r.Raw) != "oops" {
		t.Errorf("rejected = %+v", r)
	}
	if g := s.Health().Snapshot().Gaps; g != 0 {
		t.Errorf("gaps = %d before any reconnect, want 0", g)
	}

	// Redis restarts: what is published meanwhile is lost, and the source
	// says so by counting a gap once it is subscribed again.
	srv.Kill()
	sourcetest.WaitFor(t, 10*time.Second, "the source to notice", func() bool { return !s.Health().Snapshot().Up })
	srv.Start()
	rdb2 := client(t, srv)
	sourcetest.WaitFor(t, 20*time.Second, "the resubscription", func() bool {
		n, _ := rdb2.PubSubNumSub(context.Background(), "alerts").Result()
		return n["alerts"] == 1
	})
	rdb2.Publish(ctx, "alerts", `{"id":4}`)
	sourcetest.WaitFor(t, 10*time.Second, "the event after the reconnect", func() bool { n, _ := sink.Counts(); return n == 3 })
	if g := s.Health().Snapshot().Gaps; g != 1 {
		t.Errorf("gaps = %d after one reconnect, want 1", g)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Source
		want string
	}{
		{"no addr", config.Source{Name: "r", Settings: &Config{Mode: "stream", Stream: "s"}}, "addr is required"},
		{"no stream", config.Source{Name: "r", Settings: &Config{Mode: "stream", Addr: "127.0.0.1:1"}}, "stream is required"},
		{"no channels", config.Source{Name: "r", Settings: &Config{Mode: "pubsub", Addr: "127.0.0.1:1"}}, "channels are required"},
		{"bad mode", config.Source{Name: "r", Settings: &Config{Mode: "list", Addr: "127.0.0.1:1"}}, `unknown mode "list"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, source.Deps{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestEntryTime(t *testing.T) {
	for id, want := range map[string]time.Time{
		"1700000000123-0": time.UnixMilli(1700000000123).UTC(),
		"0-1":             {},
		"x-1":             {},
	} {
		if got := entryTime(id); !got.Equal(want) {
			t.Errorf("entryTime(%q) = %v, want %v", id, got, want)
		}
	}
}

var _ = strconv.Itoa
