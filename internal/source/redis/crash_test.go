package redis

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

// The crash test runs the stream source in a child process (this test
// binary, started with crashChildEnv set) and kills it with SIGKILL.
const crashChildEnv = "LOOKOUT_REDIS_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	os.Exit(m.Run())
}

// crashConfig is a stream source with every setting at its default.
func crashConfig(addr string) config.Source {
	return config.Source{Name: "clicks", Type: "redis", Settings: &Config{Mode: "stream", Addr: addr, Stream: "clicks",
		Group: "lookout", Field: "data", MessageConfig: source.MessageConfig{Payload: "json"}, ClaimIdle: config.Duration(DefaultClaimIdle)}}
}

// crashChild consumes on the data dir LOOKOUT_DATA_DIR, prints the id of
// every event, and acknowledges those below 100 only: the rest stay pending
// as if their windows were still open when it is killed.
func crashChild() {
	s, err := New(crashConfig(os.Getenv("LOOKOUT_REDIS_ADDR")), source.Deps{DataDir: os.Getenv("LOOKOUT_DATA_DIR")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_ = s.Run(context.Background(), &printSink{w: bufio.NewWriter(os.Stdout)})
}

type printSink struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (p *printSink) Submit(_ context.Context, b event.Batch, _ []event.Rejected) error {
	p.mu.Lock()
	ack := true
	for _, e := range b.Events {
		id, _ := e.Number("id")
		fmt.Fprintln(p.w, int(id))
		ack = ack && id < 100
	}
	p.w.Flush()
	p.mu.Unlock()
	if ack && b.Ack != nil {
		b.Ack(nil)
	}
	return nil
}

func (p *printSink) TrySubmit(b event.Batch, r []event.Rejected) error {
	return p.Submit(context.Background(), b, r)
}

// holdFirst blocks the first submission until release is closed, counting
// the events of every submission.
type holdFirst struct {
	*sourcetest.AckSink
	n         atomic.Int64
	attempted atomic.Int64
	release   chan struct{}
}

func (h *holdFirst) Submit(ctx context.Context, b event.Batch, rej []event.Rejected) error {
	h.attempted.Add(int64(len(b.Events)))
	if h.n.Add(1) == 1 {
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.AckSink.Submit(ctx, b, rej)
}

// After a kill -9, a lookout restarted on the same data directory with the
// default claim_idle (30 s) is the same consumer: it re-reads its own
// pending entries at once, reports them and the unread ones as its lag
// right away, and ends with every entry acknowledged.
func TestStreamRestartAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: redis-server and a child process")
	}
	srv := startRedis(t)
	rdb := client(t, srv)
	dataDir := t.TempDir()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", "LOOKOUT_REDIS_ADDR="+srv.Addr, "LOOKOUT_DATA_DIR="+dataDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var seen atomic.Int64
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, err := strconv.Atoi(sc.Text()); err == nil {
				seen.Add(1)
			}
		}
	}()
	xadd(t, rdb, events(0, 100)...)
	sourcetest.WaitFor(t, 20*time.Second, "the first lookout's 100 acks", func() bool { return seen.Load() == 100 && pending(t, rdb) == 0 })
	xadd(t, rdb, events(100, 150)...)
	sourcetest.WaitFor(t, 20*time.Second, "50 pending at the first lookout", func() bool { return seen.Load() == 150 && pending(t, rdb) == 50 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	xadd(t, rdb, events(150, 350)...) // while it is down
	restarted := time.Now()

	s, err := New(crashConfig(srv.Addr), source.Deps{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	sink := &holdFirst{AckSink: sourcetest.NewAckSink(), release: make(chan struct{})}
	sourcetest.Run(t, s, sink)
	// Well under claim_idle, which a new consumer name would wait out.
	sourcetest.WaitFor(t, 15*time.Second, "the pending entries handed over again", func() bool { return sink.attempted.Load() > 0 })
	t.Logf("restart to first entry: %v", time.Since(restarted).Round(time.Millisecond))
	sourcetest.WaitFor(t, 15*time.Second, "the lag of the entries not handed over", func() bool {
		n, known := s.Health().Backlog()
		return known && n > 0 && n == 250-sink.attempted.Load()
	})
	close(sink.release)
	sourcetest.WaitFor(t, 15*time.Second, "every entry acknowledged", func() bool { return pending(t, rdb) == 0 && len(sink.AckedIDs()) == 250 })
	ids := sink.AckedIDs()
	for i := 100; i < 350; i++ {
		if ids[float64(i)] != 1 {
			t.Errorf("event %d acknowledged %d times, want 1", i, ids[float64(i)])
		}
	}
	sourcetest.WaitFor(t, 15*time.Second, "lag 0", func() bool { n, _ := s.Health().Backlog(); return n == 0 })
}

// Another lookout still running in the group keeps its pending entries: a
// lookout starting beside it reads new entries at once, without waiting up
// to claim_idle for entries that are not orphans.
func TestStreamStartBesideRunningConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: redis-server")
	}
	srv := startRedis(t)
	rdb := client(t, srv)
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, "clicks", "lookout", "0").Err(); err != nil {
		t.Fatal(err)
	}
	xadd(t, rdb, events(0, 10)...)
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "lookout", Consumer: "other", Streams: []string{"clicks", ">"}, Count: 10}).Err(); err != nil {
		t.Fatal(err)
	}
	// The other consumer stays alive: it keeps asking for its own pending
	// entries (which takes nothing new).
	alive, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for alive.Err() == nil {
			_ = rdb.XReadGroup(alive, &goredis.XReadGroupArgs{Group: "lookout", Consumer: "other", Streams: []string{"clicks", "0"}, Count: 1}).Err()
			time.Sleep(200 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)

	s, err := New(crashConfig(srv.Addr), source.Deps{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sink := sourcetest.NewAckSink()
	sourcetest.Run(t, s, sink)
	xadd(t, rdb, events(10, 15)...)
	// Well under claim_idle (30 s): a start beside a live consumer must not
	// wait for that consumer's entries to go idle before it reads new ones.
	sourcetest.WaitFor(t, 15*time.Second, "the 5 new entries", func() bool { return len(sink.AckedIDs()) == 5 })
	for id := range sink.AckedIDs() {
		if id < 10 {
			t.Errorf("entry %v of the running consumer was taken", id)
		}
	}
}
