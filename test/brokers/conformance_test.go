package brokers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// The pipeline every case runs: live event times (the wall clock's), one
// window per service, the default lateness.
const (
	window   = 2 * time.Second
	lateness = time.Second // the default
	services = 4
)

// The bar every broker is held to after kill -9 and an immediate restart,
// measured from the moment the new process is started: counting again
// within resumeBar, and every window of the events produced until the
// restart closed, each with every event once, within completeBar — whether
// traffic goes on after the restart or stops.
const (
	resumeBar   = 5 * time.Second
	completeBar = window + lateness + 5*time.Second
)

// broker is one row of the suite: how to start it for a case, and what it
// can do.
type broker struct {
	name  string
	start func(t *testing.T, dir string) *target
	// groups: several lookouts may share the stream (a consumer group), so
	// the rebalance case runs.
	groups bool
	// keyed: a service's events all reach one lookout of the group (a Kafka
	// partition keyed by service), so each window must come from one store;
	// otherwise each lookout counts a share and the shares must add up.
	keyed bool
	// subscribes: the broker keeps messages for lookout only once it has
	// subscribed (an MQTT session starts at the first connect), so the
	// stream starts when the source is up.
	subscribes bool
	// extra widens the restart bar where the broker's own protocol makes
	// the restarted lookout wait; the comment at the row says why.
	extra time.Duration
}

var brokers = []broker{
	{name: "kafka", start: kafkaTarget, groups: true, keyed: true},
	// One partition and no keys, the other producer users have; a second
	// lookout in the group would get no partition, so no rebalance case.
	{name: "kafka_1p_unkeyed", start: kafkaOneTarget},
	{name: "redis", start: redisTarget, groups: true},
	// JetStream redelivers what the killed lookout had not acknowledged
	// only after ack_wait (default 30s) — the server keeps no notion of a
	// consumer that came back — and the restarted lookout waits up to
	// ack_wait for that replay before pulling new messages, so the replay
	// comes in order (docs/configuration.md, nats).
	{name: "nats", start: natsTarget, groups: true, extra: 30 * time.Second},
	{name: "mqtt", start: mqttTarget, subscribes: true},
	{name: "logfile", start: logfileTarget},
}

// kill says when a case kills lookout with SIGKILL.
type kill int

const (
	noKill kill = iota
	// inLateness: just after a window's end, while it waits out its
	// lateness: two windows are open, the older one full.
	inLateness
	// midWindow: in the middle of a window: one window open, half full.
	// With 2s windows and 1s lateness it is also the moment the previous
	// window closes, before it is stored.
	midWindow
)

type conformanceCase struct {
	name string
	kill kill
	// trafficStops: the producer stops at the restart; otherwise it goes
	// on until the windows from before the restart are complete, and a
	// few windows longer.
	trafficStops bool
	// twice: the restarted lookout is killed again as soon as it counts,
	// in the middle of its replay, and started once more: what was
	// redelivered once must be redelivered again and still count once.
	twice bool
	// poison, oversize: one undecodable / one too large message in the
	// middle of the stream; it is stored as rejected, and the events after
	// it are counted.
	poison, oversize bool
	// rebalance: a second lookout joins the consumer group mid-stream.
	rebalance bool
}

var cases = []conformanceCase{
	{name: "kill_in_lateness_traffic_on", kill: inLateness},
	{name: "kill_mid_window_traffic_stops", kill: midWindow, trafficStops: true},
	{name: "redelivery_killed_again_in_replay", kill: midWindow, twice: true},
	{name: "poison", poison: true},
	{name: "oversize", oversize: true},
	{name: "rebalance", rebalance: true},
}

// timing is what one restart case measured; done is false when the windows
// never completed (complete is then how long the test waited).
type timing struct {
	resume, complete time.Duration
	done             bool
}

// TestBrokerConformance runs every case against every broker: the built
// lookout binary on a real broker (or file), kill -9, a restart on the same
// data directory, and the closed windows read back over HTTP. Each window
// must hold every event produced into it exactly once. The restart cases
// log the time from the restart to the first event counted (resume) and to
// the last window complete (complete); LOOKOUT_CONFORMANCE_RUNS=N repeats
// each case N times and logs the medians.
func TestBrokerConformance(t *testing.T) {
	runs := 1
	if s := os.Getenv("LOOKOUT_CONFORMANCE_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("LOOKOUT_CONFORMANCE_RUNS=%q: want a positive number", s)
		}
		runs = n
	}
	// The brokers run side by side, each in its own goroutine rather than
	// with t.Parallel, whose limit is GOMAXPROCS (2 on a 2-core machine):
	// a case mostly waits (for windows to close, for a broker's redelivery),
	// and run two at a time the suite took twice as long. Within a broker
	// the cases run one after another.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, b := range brokers {
		wg.Add(1)
		// Done outside the subtest: t.Run does not call a subtest -run
		// leaves out.
		go func() {
			defer wg.Done()
			t.Run(b.name, func(t *testing.T) { runBroker(t, b, runs) })
		}()
	}
}

// runBroker runs every case against broker b, each runs times.
func runBroker(t *testing.T, b broker, runs int) {
	for _, c := range cases {
		if c.rebalance && !b.groups {
			continue // no consumer group: nothing to join
		}
		var times []timing
		for run := range runs {
			name := c.name
			if runs > 1 {
				name = fmt.Sprintf("%s/run%d", c.name, run+1)
			}
			t.Run(name, func(t *testing.T) {
				if tm, ok := runCase(t, b, c); ok {
					times = append(times, tm)
				}
			})
		}
		if runs > 1 && len(times) > 0 {
			var done []timing
			for _, x := range times {
				if x.done {
					done = append(done, x)
				}
			}
			complete := "never"
			if len(done) > 0 {
				complete = median(done, func(x timing) time.Duration { return x.complete }).String()
			}
			t.Logf("conformance %s %s: median of %d runs: resume %v complete %s (%d of %d completed)", b.name, c.name, len(times),
				median(times, func(x timing) time.Duration { return x.resume }), complete, len(done), len(times))
		}
	}
}

func median(ts []timing, f func(timing) time.Duration) time.Duration {
	ds := make([]time.Duration, len(ts))
	for i, x := range ts {
		ds[i] = f(x)
	}
	slices.Sort(ds)
	return ds[len(ds)/2].Round(10 * time.Millisecond)
}

// runCase runs one case against a fresh broker and returns the restart's
// times (ok false for a case without a restart).
func runCase(t *testing.T, b broker, c conformanceCase) (timing, bool) {
	dir := t.TempDir()
	tgt := b.start(t, dir)
	cfgA := writeConfig(t, filepath.Join(dir, "a"), tgt.source, c.rebalance)
	a := start(t, cfgA.addr, cfgA.path)
	if b.subscribes {
		lookouttest.WaitFor(t, 60*time.Second, "the source to subscribe", func() bool { return sourceUp(t, a, "src") })
	}
	s := startStream(t, tgt)
	defer s.halt()

	lookouttest.WaitFor(t, 60*time.Second, "the first closed windows", func() bool { return len(windowsOf(t, a)) >= services })

	switch {
	case c.poison || c.oversize:
		bad := []byte(`{"service":"svc0","ts":`) // cut short: not JSON
		if c.oversize {
			bad = fmt.Appendf(nil, `{"service":"svc0","ts":%d,"pad":"%s"}`, time.Now().UnixMilli(),
				strings.Repeat("x", tgt.oversize))
		}
		tgt.send(t, []msg{{key: "svc0", value: bad}})
		time.Sleep(2 * window) // the stream goes on behind it
		s.halt()
		want := s.want()
		checkWindows(t, want, []*lookouttest.Proc{a}, true, 60*time.Second)
		var n float64
		lookouttest.WaitFor(t, 30*time.Second, "the message in the rejected table", func() bool {
			n = queryNumber(t, a, "SELECT count(*) FROM rejected WHERE source = 'src'")
			return n >= 1
		})
		if n != 1 {
			t.Errorf("rejected table holds %v messages of src, want 1", n)
		}
		return timing{}, false

	case c.rebalance:
		cfgB := writeConfig(t, filepath.Join(dir, "b"), tgt.source, true)
		joined := time.Now()
		p2 := start(t, cfgB.addr, cfgB.path)
		lookouttest.WaitFor(t, 90*time.Second, "the second lookout counting", func() bool {
			return metric(t, p2, `lookout_pipeline_events_total{pipeline="p"}`) > 0
		})
		resume := time.Since(joined)
		t.Logf("conformance %s %s: the second lookout counting %v after its start", b.name, c.name, resume.Round(10*time.Millisecond))
		time.Sleep(3 * window)
		s.halt()
		checkWindows(t, s.want(), []*lookouttest.Proc{a, p2}, b.keyed, 90*time.Second)
		if bar := resumeBar + b.extra; resume > bar {
			t.Errorf("the second lookout counting %v after its start, want within %v", resume.Round(10*time.Millisecond), bar)
		}
		return timing{}, false
	}

	// Kill at the chosen point of a window, with traffic flowing.
	w := window.Milliseconds()
	at := w / 2
	if c.kill == inLateness {
		at = lateness.Milliseconds() / 2
	}
	now := time.Now().UnixMilli()
	next := now - now%w + w + at
	time.Sleep(time.Until(time.UnixMilli(next)))
	a.Kill()
	t.Logf("killed at %s", time.Now().Format("15:04:05.000"))
	time.Sleep(time.Second) // traffic while lookout is down

	restart := func() (*lookouttest.Proc, time.Time) {
		t0 := time.Now()
		if c.trafficStops {
			s.halt()
		}
		return start(t, cfgA.addr, cfgA.path), t0
	}
	p, t0 := restart()
	if c.twice {
		lookouttest.WaitFor(t, 90*time.Second, "the restarted lookout counting", func() bool {
			return metric(t, p, `lookout_pipeline_events_total{pipeline="p"}`) > 0
		})
		p.Kill()
		t.Logf("killed again at %s, %v after the restart", time.Now().Format("15:04:05.000"), time.Since(t0).Round(10*time.Millisecond))
		p, t0 = restart()
	}

	t.Logf("restarted at %s", t0.Format("15:04:05.000"))
	var tm timing
	lookouttest.WaitFor(t, 90*time.Second, "the restarted lookout counting", func() bool {
		return metric(t, p, `lookout_pipeline_events_total{pipeline="p"}`) > 0
	})
	tm.resume = time.Since(t0)
	// Complete: every window begun before the restart is stored with what
	// was produced into it.
	cut := t0.UnixMilli() - t0.UnixMilli()%w
	before := func() map[key]int {
		out := map[key]int{}
		for k, n := range s.want() {
			if k.start <= cut {
				out[k] = n
			}
		}
		return out
	}
	// Wait well past the bar (beyond an idle_timeout of 30s), so a slow
	// recovery's time is still measured.
	deadline := t0.Add(completeBar + b.extra + 40*time.Second)
	done := false
	for !done && time.Now().Before(deadline) {
		if done = windowsMatch(before(), windowsOf(t, p)); !done {
			time.Sleep(50 * time.Millisecond)
		}
	}
	tm.complete, tm.done = time.Since(t0), done
	complete := tm.complete.Round(10 * time.Millisecond).String()
	if !done {
		complete = "never (waited " + complete + ")"
	}
	t.Logf("conformance %s %s: resume %v complete %s", b.name, c.name, tm.resume.Round(10*time.Millisecond), complete)
	if !c.trafficStops {
		time.Sleep(2 * window) // and the stream goes on
	}
	s.halt()
	checkWindows(t, s.want(), []*lookouttest.Proc{p}, true, completeBar+10*time.Second)

	if bar := resumeBar + b.extra; tm.resume > bar {
		t.Errorf("counting again %v after the restart, want within %v", tm.resume.Round(10*time.Millisecond), bar)
	}
	if bar := completeBar + b.extra; tm.complete > bar {
		t.Errorf("every window from before the restart complete %v after it, want within %v (window + lateness + 5s)",
			tm.complete.Round(10*time.Millisecond), bar)
	}
	return tm, true
}

type config struct{ path, addr string }

// writeConfig writes the config of one lookout with its own data directory
// under dir. rebalance sets the lateness docs/operations.md asks for in a
// consumer group (longer than a handover takes).
func writeConfig(t *testing.T, dir, source string, rebalance bool) config {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := config{path: filepath.Join(dir, "lookout.yaml"), addr: lookouttest.FreeAddr(t)}
	pipeline := fmt.Sprintf("window: %s", window)
	if rebalance {
		pipeline = "window: 4s\n    lateness: 3s"
	}
	if err := os.WriteFile(c.path, fmt.Appendf(nil, `server: {listen: %s}
storage: {path: %s}
sources:
  - %s
pipelines:
  - name: p
    from: [src]
    group_by: [service]
    %s
    aggregates: {n: count()}
`, c.addr, filepath.Join(dir, "data"), source, pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// key is one window of one service.
type key struct {
	service string
	start   int64 // Unix ms
}

// stream is a producer of live events: every 50ms one event per service,
// stamped with the wall clock; it keeps how many it produced into each
// window.
type stream struct {
	t       *testing.T
	mu      sync.Mutex
	sent    map[key]int
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// sourceUp reports whether lookout says the source is up.
func sourceUp(t *testing.T, p *lookouttest.Proc, name string) bool {
	var r struct {
		Data []struct {
			Name string `json:"name"`
			Up   bool   `json:"up"`
		} `json:"data"`
	}
	if err := p.GetJSON("/api/v1/sources", &r); err != nil {
		t.Logf("reading /api/v1/sources: %v", err)
		return false
	}
	for _, s := range r.Data {
		if s.Name == name {
			return s.Up
		}
	}
	return false
}

func startStream(t *testing.T, tgt *target) *stream {
	s := &stream{t: t, sent: map[key]int{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	// The window size the keys use: the rebalance case's 4s windows hold
	// two of these, checked by merging below.
	w := window.Milliseconds()
	go func() {
		defer close(s.stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for id := 0; ; {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			now := time.Now().UnixMilli()
			ms := make([]msg, services)
			for i := range ms {
				svc := fmt.Sprintf("svc%d", i)
				ms[i] = msg{key: svc, value: fmt.Appendf(nil, `{"service":%q,"id":%d,"ts":%d}`, svc, id, now)}
				id++
			}
			tgt.send(t, ms)
			s.mu.Lock()
			for i := range ms {
				s.sent[key{fmt.Sprintf("svc%d", i), now - now%w}]++
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// halt stops the producer and waits until its last send returned.
func (s *stream) halt() {
	s.once.Do(func() { close(s.stop) })
	<-s.stopped
}

// want returns what was produced into each window so far.
func (s *stream) want() map[key]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.sent)
}

// regroup maps the producer's 2s windows onto the stored windows' size.
func regroup(want map[key]int, size int64) map[key]int {
	if size == window.Milliseconds() {
		return want
	}
	out := map[key]int{}
	for k, n := range want {
		out[key{k.service, k.start - k.start%size}] += n
	}
	return out
}

// windowsMatch reports whether the stored windows hold every wanted window
// with its count (and, as far as it goes, nothing else need be checked).
func windowsMatch(want map[key]int, got []storedWindow) bool {
	have := map[key]float64{}
	for _, w := range got {
		have[key{w.Group["service"], w.Start.UnixMilli()}] += w.Values["n"]
	}
	for k, n := range want {
		if have[k] != float64(n) {
			return false
		}
	}
	return true
}

// checkWindows waits until the stores of ps hold want, then checks every
// window: present, with the produced count, nothing stored for a window
// nothing was produced into, and, when once, each window stored by one
// lookout only once. Without once (a consumer group that splits a service's
// events), the lookouts' counts of a window must add up to the produced.
func checkWindows(t *testing.T, want map[key]int, ps []*lookouttest.Proc, once bool, timeout time.Duration) {
	t.Helper()
	var size int64
	collect := func() map[key][]float64 {
		got := map[key][]float64{}
		for _, p := range ps {
			for _, w := range windowsOf(t, p) {
				size = w.End.UnixMilli() - w.Start.UnixMilli()
				k := key{w.Group["service"], w.Start.UnixMilli()}
				got[k] = append(got[k], w.Values["n"])
			}
		}
		return got
	}
	sum := func(vs []float64) (s float64) {
		for _, v := range vs {
			s += v
		}
		return s
	}
	got := collect()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); got = collect() {
		ok := size > 0
		for k, n := range regroup(want, max(size, 1)) {
			if sum(got[k]) != float64(n) {
				ok = false
				break
			}
		}
		if ok {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if size == 0 {
		t.Fatal("no window stored")
	}
	want = regroup(want, size)
	ks := make([]key, 0, len(want))
	for k := range want {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		return ks[i].start < ks[j].start || ks[i].start == ks[j].start && ks[i].service < ks[j].service
	})
	bad := 0
	for _, k := range ks {
		n, vs := want[k], got[k]
		what := fmt.Sprintf("%s window %s", k.service, time.UnixMilli(k.start).Format("15:04:05.000"))
		switch {
		case len(vs) == 0:
			t.Errorf("%s: missing, want count %d", what, n)
		case once && len(vs) > 1:
			t.Errorf("%s: stored %d times with counts %v, want once with %d", what, len(vs), vs, n)
		case sum(vs) != float64(n):
			t.Errorf("%s: count %v, want %d", what, vs, n)
		default:
			continue
		}
		if bad++; bad == 20 {
			t.Errorf("and more")
			break
		}
	}
	for k, vs := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s window %s: stored %v but nothing was produced into it", k.service, time.UnixMilli(k.start).Format("15:04:05.000"), vs)
		}
	}
}

type storedWindow struct {
	Start  time.Time          `json:"start"`
	End    time.Time          `json:"end"`
	Group  map[string]string  `json:"group"`
	Values map[string]float64 `json:"values"`
}

// windowsOf returns the closed windows of pipeline p that lookout stored.
func windowsOf(t *testing.T, p *lookouttest.Proc) []storedWindow {
	var resp struct {
		Data []storedWindow `json:"data"`
	}
	if err := p.GetJSON("/api/v1/windows?pipeline=p&limit=100000", &resp); err != nil {
		t.Logf("reading windows: %v", err)
		return nil
	}
	return resp.Data
}

// queryNumber runs SQL returning one number over lookout's query API; -1
// when that fails.
func queryNumber(t *testing.T, p *lookouttest.Proc, sql string) float64 {
	body, _ := json.Marshal(map[string]string{"sql": sql})
	r, err := http.Post(p.URL("/api/v1/query"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Logf("query: %v", err)
		return -1
	}
	defer r.Body.Close()
	var resp struct {
		Rows [][]any `json:"rows"`
	}
	if err := json.NewDecoder(r.Body).Decode(&resp); err != nil || len(resp.Rows) != 1 || len(resp.Rows[0]) != 1 {
		t.Logf("query %q: %d %v %v", sql, r.StatusCode, err, resp.Rows)
		return -1
	}
	f, ok := resp.Rows[0][0].(float64)
	if !ok {
		return -1
	}
	return f
}

// metric returns the value of one series in lookout's /metrics, -1 when it
// is absent or unreadable.
func metric(t *testing.T, p *lookouttest.Proc, series string) float64 {
	r, err := http.Get(p.URL("/metrics"))
	if err != nil {
		t.Logf("reading metrics: %v", err)
		return -1
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return f
		}
	}
	return -1
}
