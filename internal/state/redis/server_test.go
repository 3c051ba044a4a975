package redis

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/testserver"
)

// server is a redis-server from the OS package on a free loopback port,
// without persistence: a restart loses everything, the hardest case.
type server struct {
	*testserver.RedisServer
	addr string
}

func startServer(t *testing.T) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts redis-server; skipped under -short")
	}
	rs := testserver.Redis(t)
	return &server{RedisServer: rs, addr: rs.Addr}
}

// stop kills redis-server with SIGKILL: what it held in memory is gone.
func (s *server) stop() { s.Kill() }

// start starts an empty server again on the same address.
func (s *server) start() { s.Start() }

func (s *server) restart() { s.Restart() }

func (s *server) client(t *testing.T) *goredis.Client { return s.Client(t) }

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
