package redis

import (
	"context"
	"net"
	"os/exec"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// server is a redis-server from the OS package on a free loopback port,
// without persistence: a restart loses everything, the hardest case.
type server struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
}

func startServer(t *testing.T) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found; install it: apt-get install -y redis-server (or bash scripts/deps/redis.sh)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &server{t: t, addr: addr, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server did not answer within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills redis-server with SIGKILL: what it held in memory is gone.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func (s *server) restart() {
	s.stop()
	s.start()
}

func (s *server) client(t *testing.T) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// open opens a Backend whose refresh loop practically never runs, so tests
// call refresh themselves and wait for nothing.
func (s *server) open(t *testing.T) *Backend {
	t.Helper()
	b, err := Open(context.Background(), Options{Addr: s.addr, KeyPrefix: "t:", Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}
