// Package testserver starts the brokers and servers that tests talk to, each
// on a free loopback port and stopped when the test ends: Redis (the
// redis-server OS binary), NATS with JetStream and MQTT (both embedded), and
// Kafka (franz-go's in-process kfake cluster). Tests use real servers, never
// mocks; this package is the one place that knows how to start them.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
)

// RedisInstall is the command that installs the redis-server binary.
const RedisInstall = "bash scripts/deps/redis.sh (as root; it runs apt-get install -y redis-server)"

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// RedisServer is a redis-server process without persistence: Kill loses
// everything it held, the hardest case for a client.
type RedisServer struct {
	// Addr is host:port.
	Addr string

	t   testing.TB
	dir string
	mu  sync.Mutex
	cmd *exec.Cmd
}

// Redis starts redis-server on a free loopback port and waits until it
// answers PING. The test fails, naming the install command, when the binary
// is missing.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found; install it: %s", RedisInstall)
	}
	s := &RedisServer{Addr: freePort(t), t: t, dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Start starts the server again on the same address after Kill.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.cmd = cmd
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer within 10s", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server with SIGKILL; what it held in memory is gone.
func (s *RedisServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart kills the server and starts an empty one on the same address.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.Kill()
	s.Start()
}

// Client returns a client of the server, closed when the test ends.
func (s *RedisServer) Client(t testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// NATS starts an embedded NATS server with JetStream on a free loopback port,
// storing in a directory of the test.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return NATSAt(t, 0, t.TempDir(), nil)
}

// NATSAt starts an embedded NATS server with JetStream on port (0: a free
// one), storing in dir — the same port and dir start a stopped server again
// with its streams. opt, when not nil, changes the options first (a larger
// max_payload, say).
func NATSAt(t testing.TB, port int, dir string, opt func(*server.Options)) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	o := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true}
	if opt != nil {
		opt(o)
	}
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready within 10s")
	}
	return ns
}

// JetStream connects to ns and creates the stream name on subjects; the
// connection closes when the test ends.
func JetStream(t testing.TB, ns *server.Server, name string, subjects ...string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: subjects}); err != nil {
		t.Fatalf("creating stream %s: %v", name, err)
	}
	return js
}

// MQTTBroker is an embedded MQTT broker (mochi-mqtt, v3.1.1 and v5) that
// allows every client, with an inline client for publishing.
type MQTTBroker struct {
	*mochi.Server
	// URL is tcp://host:port.
	URL string

	once     sync.Once
	takeover *takeoverGuard
}

// Publish publishes from the broker's inline client, never while a client
// takes its session over.
func (b *MQTTBroker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	b.takeover.gate.RLock()
	defer b.takeover.gate.RUnlock()
	return b.Server.Publish(topic, payload, retain, qos)
}

// takeoverGuard works around a race in mochi's session takeover: a
// reconnecting client's session is copied from the old client, then the old
// one's is cleared, and only then is the new client registered; a message
// published in between goes to the old client and is lost. Under load that
// lost a message or two at a lookout restart (a real broker such as
// mosquitto keeps one queue per session and has no such window). So the
// guard holds the inline client's publishes from the start of a session to
// its CONNACK, by when the new client is registered; a time limit keeps a
// connection that never gets that far from blocking publishing.
type takeoverGuard struct {
	mochi.HookBase
	gate    sync.RWMutex
	mu      sync.Mutex
	pending map[string]func()
}

// takeoverLimit bounds how long one connection may hold publishes.
const takeoverLimit = 2 * time.Second

func (g *takeoverGuard) ID() string { return "takeover-guard" }

func (g *takeoverGuard) Provides(b byte) bool {
	return b == mochi.OnSessionEstablish || b == mochi.OnPacketEncode
}

func (g *takeoverGuard) OnSessionEstablish(cl *mochi.Client, _ packets.Packet) {
	g.gate.Lock()
	var once sync.Once
	unlock := func() { once.Do(g.gate.Unlock) }
	time.AfterFunc(takeoverLimit, unlock)
	g.mu.Lock()
	if prev := g.pending[cl.ID]; prev != nil {
		prev()
	}
	g.pending[cl.ID] = unlock
	g.mu.Unlock()
}

func (g *takeoverGuard) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack {
		g.mu.Lock()
		unlock := g.pending[cl.ID]
		delete(g.pending, cl.ID)
		g.mu.Unlock()
		if unlock != nil {
			unlock()
		}
	}
	return pk
}

// MQTT starts an embedded MQTT broker on a free loopback port.
func MQTT(t testing.TB) *MQTTBroker {
	t.Helper()
	return MQTTAt(t, "127.0.0.1:0")
}

// MQTTAt starts an embedded MQTT broker listening on addr, which may be the
// address of one closed before (a broker restart).
func MQTTAt(t testing.TB, addr string) *MQTTBroker {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	guard := &takeoverGuard{pending: map[string]func(){}}
	if err := srv.AddHook(guard, nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	b := &MQTTBroker{Server: srv, URL: "tcp://" + tcp.Address(), takeover: guard}
	t.Cleanup(b.Close)
	return b
}

// Close stops the broker; calling it again does nothing.
func (b *MQTTBroker) Close() { b.once.Do(func() { b.Server.Close() }) }

// Kafka starts an in-process Kafka cluster (kfake speaks the wire protocol)
// of one broker with topic of the given partitions. Consumer groups may use
// session timeouts down to 100 ms; opts add to or override these options.
func Kafka(t testing.TB, topic string, partitions int32, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	all := append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond)}, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
