package window

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// benchAggs are the aggregate sets of the throughput benchmarks.
var benchAggs = map[string][]string{
	"simple": {"requests", "count()", "bytes", "sum(bytes)", "latency_avg", "avg(latency)"},
	"quantile": {"requests", "count()", "error_rate", "ratio(status >= 500)", "latency_avg", "avg(latency)",
		"latency_p99", "quantile(latency, 0.99)", "latency_max", "max(latency)"},
}

// BenchmarkPipeline measures the window engine alone: events are built
// beforehand (pre-parsed, each with its own field map), 4 events per group and window in random group
// order, 1 s windows that close as event time moves on, so emitting is
// included. Reported as events/s; run with
//
//	go test ./internal/window -run '^$' -bench Pipeline -benchtime 1s
//
// The 1,000,000-group variants need a few GB and run only with LOOKOUT_BIG=1.
func BenchmarkPipeline(b *testing.B) {
	for _, groups := range []int{10_000, 1_000_000} {
		for _, set := range []string{"simple", "quantile"} {
			for _, win := range []config.Window{{Size: time.Second}, {Size: 4 * time.Second, Every: time.Second}} {
				kind := "tumbling"
				if win.Every > 0 {
					kind = "sliding4"
				}
				b.Run(fmt.Sprintf("%s/%s/groups=%d", set, kind, groups), func(b *testing.B) {
					if groups > 100_000 && os.Getenv("LOOKOUT_BIG") == "" {
						b.Skip("set LOOKOUT_BIG=1 for the 1,000,000-group runs")
					}
					benchPipeline(b, groups, win, benchAggs[set])
				})
			}
		}
	}
}

func benchPipeline(b *testing.B, groups int, win config.Window, aggList []string) {
	const perGroup, batch = 4, 1000
	rng := rand.New(rand.NewPCG(1, 1))
	type template struct {
		service                 string
		status, latency, nbytes float64
	}
	tmpl := make([]template, groups)
	for i := range tmpl {
		status := 200.0
		if rng.IntN(50) == 0 {
			status = 503
		}
		tmpl[i] = template{"svc-" + strconv.Itoa(i), status, rng.ExpFloat64() * 0.05, float64(rng.IntN(5000))}
	}
	// Event i of a window is of group order[i]: 4 events per group and
	// window, in random group order.
	order := make([]int32, groups*perGroup)
	for i := range order {
		order[i] = int32(rng.IntN(groups))
	}
	// One batch of events, refilled before each Add the way a decoder
	// hands a batch over: each event has its own field map, just written,
	// so it is in the CPU cache as it would be after decoding. Only Add is
	// timed.
	events := make([]event.Event, batch)
	ptrs := make([]*event.Event, batch)
	for i := range events {
		events[i].Fields = make(map[string]any, 4)
		events[i].Source = "bench"
		ptrs[i] = &events[i]
	}
	// Times spread over the window in order, so windows close as it moves.
	step := time.Second / time.Duration(len(order))
	pos, window := 0, 0
	var touched byte
	fill := func() {
		if pos == len(order) {
			pos = 0
			window++
		}
		base := t0.Add(time.Duration(window) * time.Second)
		for i := range events {
			tp := &tmpl[order[pos+i]]
			f := events[i].Fields
			f["service"], f["status"], f["latency"], f["bytes"] = tp.service, tp.status, tp.latency, tp.nbytes
			// A decoder has just written the value's bytes: read them so
			// they are in the cache too, not left cold among a million
			// groups' templates.
			for j := 0; j < len(tp.service); j++ {
				touched += tp.service[j]
			}
			events[i].Time = base.Add(time.Duration(pos+i) * step)
			events[i].Flags = 0
		}
		pos += batch
	}
	var emitted int
	p, err := New(config.Pipeline{Name: "api", GroupBy: []string{"service"}, Window: win,
		Lateness: config.Duration(100 * time.Millisecond), MaxGroups: 2 * groups, Aggregates: aggs(aggList...)},
		func(*event.Window) { emitted++ })
	if err != nil {
		b.Fatal(err)
	}
	// Windows before timing, so that the groups exist, the slices have
	// grown to the panes open at a time (two for tumbling windows, size/every
	// + 1 for sliding ones) and slots are reused: the steady state.
	warm := 3
	if win.Every > 0 {
		warm = int(win.Size/win.Every) + 2
	}
	for range warm * len(order) / batch {
		fill()
		p.Add(ptrs, time.Time{})
	}
	// Besides wall time, the CPU time of the thread running Add: on a
	// shared machine the wall clock also counts the time other processes
	// had the core, while the thread's CPU time counts only Add's own work
	// (GC work on other threads is left out; assists are in).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var took, cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		fill()
		c := threadCPU()
		t := time.Now()
		p.Add(ptrs, time.Time{})
		took += time.Since(t)
		cpu += threadCPU() - c
	}
	b.ReportMetric(float64(b.N*batch)/took.Seconds(), "events/s")
	b.ReportMetric(float64(b.N*batch)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(0, "ns/op")
	benchSink = touched
	if emitted == 0 && b.N*batch > 2*len(order) {
		b.Fatal("no window was emitted")
	}
}

// TestMemoryPerGroup measures what an active group costs: 1,000,000 groups
// with 5 aggregates including a quantile, 3 events each, in one open 1 h
// window. It reports Go heap in use and process RSS per group after a GC.
// It needs about 1 GB and a minute, so it runs only with LOOKOUT_BIG=1:
//
//	LOOKOUT_BIG=1 go test ./internal/window -run TestMemoryPerGroup -v
func TestMemoryPerGroup(t *testing.T) {
	if os.Getenv("LOOKOUT_BIG") == "" {
		t.Skip("set LOOKOUT_BIG=1 to measure memory at 1,000,000 groups")
	}
	const groups, perGroup = 1_000_000, 3
	p, _ := mustNew(t, config.Pipeline{
		GroupBy: []string{"service"}, Window: config.Window{Size: time.Hour}, MaxGroups: 2 * groups,
		Aggregates: aggs(benchAggs["quantile"]...),
	})
	before := memNow()
	f := map[string]any{"status": 200.0}
	e := &event.Event{Fields: f}
	batch := []*event.Event{e}
	for i := range groups {
		f["service"] = "svc-" + strconv.Itoa(i)
		for j := range perGroup {
			f["latency"] = float64(i%100+j) / 1000
			e.Time = t0.Add(time.Duration(i) * time.Microsecond)
			p.Add(batch, time.Time{})
		}
	}
	after := memNow()
	if s := p.Stats(); s.Groups != groups {
		t.Fatalf("groups = %d, want %d", s.Groups, groups)
	}
	heap := float64(after.heap-before.heap) / groups
	rss := float64(after.rss-before.rss) / groups
	t.Logf("per active group: %.0f bytes of Go heap in use, %.0f bytes of RSS (%d groups × %d events, 5 aggregates incl. quantile)",
		heap, rss, groups, perGroup)
	runtime.KeepAlive(p)
	if rss > 768 {
		t.Errorf("RSS per group %.0f bytes, target ≤ 768", rss)
	}
}

// benchSink keeps what the benchmark reads only to warm the cache.
var benchSink byte

// threadCPU returns the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	// CLOCK_THREAD_CPUTIME_ID: nanosecond resolution, unlike getrusage.
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

type memSample struct{ heap, rss uint64 }

// memNow collects garbage, returns freed memory to the OS, and reads heap in
// use and the process's resident set.
func memNow() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var rss uint64
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			rss = pages * uint64(os.Getpagesize())
		}
	}
	return memSample{ms.HeapInuse, rss}
}
