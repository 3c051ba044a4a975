package host

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

const netHeader = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"

// procFiles is one state of a fake /proc.
type procFiles struct {
	stat, meminfo, loadavg, netdev string
}

func writeProc(t *testing.T, root string, p procFiles) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"stat": p.stat, "meminfo": p.meminfo, "loadavg": p.loadavg, "net/dev": p.netdev} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newSource(t *testing.T, clk clock.Clock, cfg config.Source) *Source {
	t.Helper()
	cfg.Name, cfg.Type = "host", "host"
	s, err := source.New(cfg, source.Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

func TestSampleFromFixtures(t *testing.T) {
	first := procFiles{
		stat: "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\nintr 1\n",
		meminfo: "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n" +
			"SwapTotal:       200 kB\nSwapFree:        150 kB\n",
		loadavg: "0.50 0.25 0.10 1/100 1234\n",
		netdev: netHeader +
			"    lo: 99999 10 0 0 0 0 0 0 99999 10 0 0 0 0 0 0\n" +
			"  eth0: 1000 10 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n" +
			"  eth1:2000 10 0 0 0 0 0 0 1500 5 0 0 0 0 0 0\n",
	}
	tests := []struct {
		name   string
		second procFiles
		want   map[string]any
	}{
		{
			name: "busy and sending",
			second: procFiles{
				// +300 busy (user 200, system 100), +100 idle, +0 iowait: 75%.
				stat:    "cpu  300 0 200 800 100 0 0 0 0 0\ncpu0 150 0 100 400 50 0 0 0 0 0\ncpu1 150 0 100 400 50 0 0 0 0 0\nintr 1\n",
				meminfo: first.meminfo, loadavg: "1.50 0.75 0.30 2/100 1234\n",
				netdev: netHeader +
					"    lo: 0 10 0 0 0 0 0 0 0 10 0 0 0 0 0 0\n" +
					"  eth0: 6000 10 0 0 0 0 0 0 1500 5 0 0 0 0 0 0\n" +
					"  eth1:2000 10 0 0 0 0 0 0 5500 5 0 0 0 0 0 0\n",
			},
			want: map[string]any{"cpu": 75.0, "cores": 2.0, "mem": 75.0, "swap": 25.0, "load1": 1.5, "load5": 0.75,
				"load15": 0.3, "net_rx": 1000.0, "net_tx": 1000.0},
		},
		{
			name: "counter reset and no swap",
			second: procFiles{
				stat:    "cpu  100 0 100 800 100 0 0 0 0 0\n",
				meminfo: "MemTotal: 1000 kB\nMemAvailable: 1000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
				loadavg: "0 0 0 1/1 1\n",
				netdev:  netHeader + "  eth0: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n",
			},
			want: map[string]any{"cpu": 0.0, "cores": 1.0, "mem": 0.0, "swap": 0.0, "net_rx": 0.0, "net_tx": 0.0},
		},
	}
	t0 := time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			s := newSource(t, clk, config.Source{})
			s.ProcRoot = t.TempDir()
			s.DiskPath = s.ProcRoot
			writeProc(t, s.ProcRoot, first)
			prev, err := s.read()
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(5 * time.Second)
			writeProc(t, s.ProcRoot, tt.second)
			cur, err := s.read()
			if err != nil {
				t.Fatal(err)
			}
			e := s.sample(prev, cur)
			for k, v := range tt.want {
				if got, _ := e.Number(k); math.Abs(got-v.(float64)) > 1e-9 {
					t.Errorf("%s = %v, want %v", k, e.Fields[k], v)
				}
			}
			if h, _ := os.Hostname(); e.Fields["host"] != h {
				t.Errorf("host = %v, want %s", e.Fields["host"], h)
			}
			if d, ok := e.Number("disk"); !ok || d <= 0 || d > 100 {
				t.Errorf("disk = %v, want a percentage", e.Fields["disk"])
			}
			if !e.Time.Equal(t0.Add(5*time.Second)) || e.Flags != 0 || e.Source != "host" {
				t.Errorf("event time %v flags %v source %q", e.Time, e.Flags, e.Source)
			}
			var raw map[string]any
			if err := json.Unmarshal(e.Raw, &raw); err != nil {
				t.Fatalf("raw %s: %v", e.Raw, err)
			}
			if raw["ts"] != "2024-11-26T06:00:05Z" || raw["cpu"] != e.Fields["cpu"] || len(raw) != len(e.Fields)+1 {
				t.Errorf("raw = %s", e.Raw)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	good := procFiles{stat: "cpu 1 2 3 4 5 6 7 8\n", meminfo: "MemTotal: 10 kB\n", loadavg: "1 2 3\n", netdev: netHeader}
	tests := []struct {
		name   string
		mutate func(*procFiles)
	}{
		{"no cpu line", func(p *procFiles) { p.stat = "intr 1\n" }},
		{"bad cpu number", func(p *procFiles) { p.stat = "cpu 1 x 3 4\n" }},
		{"no MemTotal", func(p *procFiles) { p.meminfo = "MemFree: 1 kB\n" }},
		{"short loadavg", func(p *procFiles) { p.loadavg = "1 2\n" }},
		{"short net line", func(p *procFiles) { p.netdev = netHeader + "eth0: 1 2\n" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, clock.Real{}, config.Source{})
			s.ProcRoot = t.TempDir()
			p := good
			tt.mutate(&p)
			writeProc(t, s.ProcRoot, p)
			if _, err := s.read(); err == nil {
				t.Error("read succeeded on a broken file")
			}
		})
	}
	s := newSource(t, clock.Real{}, config.Source{})
	s.ProcRoot = t.TempDir()
	writeProc(t, s.ProcRoot, good)
	if _, err := s.read(); err != nil {
		t.Errorf("read of the good fixture: %v", err)
	}
}

// TestRunRealProc runs the source against the machine's own /proc, on the
// fake clock of a synctest bubble: nothing before one interval, then one
// event per interval with every field in its range.
func TestRunRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Fatalf("this test needs Linux /proc: %v", err)
	}
	synctest.Test(t, func(t *testing.T) {
		s := newSource(t, clock.Real{}, config.Source{Settings: &Config{Interval: config.Duration(2 * time.Second)},
			Fields: map[string]config.Field{"cpu": {Type: "number", Min: ptr(0), Max: ptr(100)}}})
		sink := sourcetest.NewSink(10)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		start := time.Now()
		go func() { done <- s.Run(ctx, sink) }()

		time.Sleep(1999 * time.Millisecond) // the bubble's fake clock, not real time
		synctest.Wait()
		if n := len(sink.Events()); n != 0 {
			t.Fatalf("%d events before the first interval", n)
		}
		for i := 1; i <= 3; i++ {
			sub := <-sink.C
			if len(sub.Batch.Events) != 1 || sub.Batch.Source != "host" {
				t.Fatalf("submission %d = %+v", i, sub)
			}
			e := sub.Batch.Events[0]
			if want := start.Add(time.Duration(i) * 2 * time.Second); !e.Time.Equal(want) {
				t.Errorf("event %d at %v, want %v", i, e.Time.Sub(start), want.Sub(start))
			}
			checkRanges(t, e)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		h := s.Health().Snapshot()
		if !h.Up || h.Events != 3 || len(s.Raw().Last(10)) != 3 {
			t.Errorf("health %+v, raw %d", h, len(s.Raw().Last(10)))
		}
	})
}

func checkRanges(t *testing.T, e *event.Event) {
	t.Helper()
	if e.Flags != 0 {
		t.Errorf("flags %v", e.Flags)
	}
	for _, k := range []string{"cpu", "mem", "swap", "disk"} {
		if v, ok := e.Number(k); !ok || v < 0 || v > 100 {
			t.Errorf("%s = %v, want 0..100", k, e.Fields[k])
		}
	}
	for _, k := range []string{"load1", "load5", "load15", "net_rx", "net_tx"} {
		if v, ok := e.Number(k); !ok || v < 0 {
			t.Errorf("%s = %v, want a number ≥ 0", k, e.Fields[k])
		}
	}
	if m, _ := e.Number("mem"); m == 0 {
		t.Error("mem = 0 on a running machine")
	}
	if h, ok := e.Fields["host"].(string); !ok || h == "" {
		t.Errorf("host = %v", e.Fields["host"])
	}
}

func ptr(f float64) *float64 { return &f }

func TestRunReportsBrokenProc(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSource(t, clock.Real{}, config.Source{Settings: &Config{Interval: config.Duration(time.Second)}})
		s.ProcRoot = t.TempDir() // empty: every read fails
		sink := sourcetest.NewSink(1)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- s.Run(ctx, sink) }()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		h := s.Health().Snapshot()
		if h.Up || h.LastError == "" || h.Events != 0 {
			t.Errorf("health after failing reads = %+v", h)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil: a broken /proc is not fatal", err)
		}
	})
}
