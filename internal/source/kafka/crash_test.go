package kafka

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

// The crash tests run a lookout's kafka source in a child process (this test
// binary, started with crashChildEnv set) and kill it with SIGKILL: it
// neither commits nor leaves the group, as after a kill -9 or a power cut.
const crashChildEnv = "LOOKOUT_KAFKA_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	os.Exit(m.Run())
}

// crashChild consumes with the default settings of a source named "orders"
// on the data dir LOOKOUT_DATA_DIR, acknowledging every batch, and prints
// the id of every event it got, until it is killed.
func crashChild() {
	cfg := crashConfig(strings.Split(os.Getenv("LOOKOUT_BROKERS"), ","))
	s, err := New(cfg, source.Deps{DataDir: os.Getenv("LOOKOUT_DATA_DIR")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := &printSink{w: bufio.NewWriter(os.Stdout)}
	_ = s.Run(context.Background(), out)
}

// crashConfig is a kafka source with every setting left at its default.
func crashConfig(brokers []string) config.Source {
	return config.Source{Name: "orders", Type: "kafka", Settings: &Config{Brokers: brokers, Topics: []string{"orders"}, MessageConfig: source.MessageConfig{Payload: "json"}}}
}

// printSink prints the id of every event, one a line, and acknowledges.
type printSink struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (p *printSink) Submit(_ context.Context, b event.Batch, _ []event.Rejected) error {
	p.mu.Lock()
	for _, e := range b.Events {
		id, _ := e.Number("id")
		fmt.Fprintln(p.w, int(id))
	}
	p.w.Flush()
	p.mu.Unlock()
	if b.Ack != nil {
		b.Ack(nil)
	}
	return nil
}

func (p *printSink) TrySubmit(b event.Batch, r []event.Rejected) error {
	return p.Submit(context.Background(), b, r)
}

// crashProducer writes events with ids 0, 1, ... to topic in small
// batches, keyed by id (keyed) or round-robin, until stopped.
type crashProducer struct {
	next   atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

func startProducer(t *testing.T, c *kfake.Cluster, keyed bool) *crashProducer {
	t.Helper()
	part := kgo.RoundRobinPartitioner()
	if keyed {
		part = kgo.StickyKeyPartitioner(nil)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders"),
		kgo.RecordPartitioner(part))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &crashProducer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer cl.Close()
		for ctx.Err() == nil {
			var rs []*kgo.Record
			for range 20 {
				id := p.next.Load()
				r := &kgo.Record{Value: eventJSON(int(id))}
				if keyed {
					r.Key = []byte("k" + strconv.Itoa(int(id%7)))
				}
				rs = append(rs, r)
				p.next.Add(1)
			}
			if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
				t.Errorf("producing: %v", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop ends the production and returns how many events were produced.
func (p *crashProducer) stop() {
	p.cancel()
	<-p.done
}

// startChild runs the source in a child process and returns it with the
// ids it printed, counted as they come.
func startChild(t *testing.T, c *kfake.Cluster, dataDir string) (*exec.Cmd, *idSet) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1",
		"LOOKOUT_BROKERS="+strings.Join(c.ListenAddrs(), ","), "LOOKOUT_DATA_DIR="+dataDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ids := &idSet{m: map[int]int{}}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, err := strconv.Atoi(sc.Text()); err == nil {
				ids.add(id)
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, ids
}

type idSet struct {
	mu sync.Mutex
	m  map[int]int
}

func (s *idSet) add(id int) {
	s.mu.Lock()
	s.m[id]++
	s.mu.Unlock()
}

func (s *idSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *idSet) has(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id] > 0
}

// After a kill -9 of a lookout while records flow, a lookout started at once
// on the same data dir, with default settings (a 45 s session timeout),
// consumes again within seconds, not after the dead member's session ran
// out; and every record produced reaches one of the two.
func TestRestartAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: in-process Kafka cluster and a child process")
	}
	for _, tc := range []struct {
		name       string
		partitions int32
		keyed      bool
	}{
		{"1 partition", 1, false},
		{"4 partitions unkeyed", 4, false},
		{"4 partitions keyed", 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster(t, "orders", tc.partitions)
			dataDir := t.TempDir()
			prod := startProducer(t, c, tc.keyed)
			child, childIDs := startChild(t, c, dataDir)
			sourcetest.WaitFor(t, 30*time.Second, "the first lookout consuming", func() bool { return childIDs.len() >= 200 })
			// Let at least one commit happen, so the restart starts
			// from a committed offset rather than the beginning.
			time.Sleep(1500 * time.Millisecond)
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()
			killedAt := time.Now()
			before := childIDs.len()

			s, err := New(crashConfig(c.ListenAddrs()), source.Deps{DataDir: dataDir})
			if err != nil {
				t.Fatal(err)
			}
			sink := sourcetest.NewAckSink()
			sourcetest.Run(t, s, sink)
			// Generous for a loaded CI machine, yet well under the
			// 45 s session timeout the dead member would hold its
			// partitions for.
			sourcetest.WaitFor(t, 20*time.Second, "the restarted lookout consuming", func() bool { n, _ := sink.Counts(); return n > 0 })
			t.Logf("restart to first event: %v (the first lookout had %d events)", time.Since(killedAt).Round(time.Millisecond), before)
			// Every partition is consumed again, not only some.
			time.Sleep(500 * time.Millisecond)
			prod.stop()
			total := int(prod.next.Load())
			sourcetest.WaitFor(t, 30*time.Second, "every record at one of the two lookouts", func() bool {
				acked := sink.AckedIDs()
				for id := range total {
					if acked[float64(id)] == 0 && !childIDs.has(id) {
						return false
					}
				}
				return true
			})
			sourcetest.WaitFor(t, 10*time.Second, "commits at the end offsets", func() bool {
				gi := c.GroupInfo("lookout")
				for _, p := range c.PartitionInfos("orders") {
					// A partition no key hashed to has nothing to commit.
					if p.HighWatermark > 0 && (gi == nil || gi.Commits["orders"][p.Partition].Offset != p.HighWatermark) {
						return false
					}
				}
				return true
			})
		})
	}
}

// A static member that stops deliberately leaves the group: its partitions
// go to the other member at once, not after the 45 s session timeout.
func TestStopLeavesGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: in-process Kafka cluster")
	}
	c := cluster(t, "orders", 4)
	newStatic := func() (*Source, *sourcetest.AckSink, func()) {
		s, err := New(crashConfig(c.ListenAddrs()), source.Deps{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		sink := sourcetest.NewAckSink()
		return s, sink, sourcetest.Run(t, s, sink)
	}
	_, _, stopA := newStatic()
	_, sinkB, _ := newStatic()
	sourcetest.WaitFor(t, 30*time.Second, "both members assigned", func() bool {
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
	stopA()
	var vs [][]byte
	for i := range 100 {
		vs = append(vs, eventJSON(i))
	}
	produce(t, c, "orders", vs...)
	sourcetest.WaitFor(t, 20*time.Second, "all 100 at the remaining member", func() bool { return len(sinkB.AckedIDs()) == 100 })
}
