package chaos

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// TestSoak runs lookout for LOOKOUT_SOAK_DURATION (default 10m) at half the
// push throughput it measures first, with event storage on, and checks that
// it holds steady: RSS over the last tenth within ±10% of RSS after the
// warm-up (the first fifth), and no goroutine growth. It runs only with
// LOOKOUT_SOAK=1 (make soak): it is too long for make test.
func TestSoak(t *testing.T) {
	if os.Getenv("LOOKOUT_SOAK") != "1" {
		t.Skip("set LOOKOUT_SOAK=1 to run the soak test (make soak)")
	}
	dur := 10 * time.Minute
	if v := os.Getenv("LOOKOUT_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LOOKOUT_SOAK_DURATION: %v", err)
		}
		dur = d
	}
	cfg := filepath.Join(t.TempDir(), "lookout.yaml")
	if err := os.WriteFile(cfg, []byte(`storage: {events: true, retention: {events: 2m}}
sources:
  - {name: push, type: push}
pipelines:
  - name: load
    from: [push]
    group_by: [service]
    window: 1s
    lateness: 2s
    aggregates: {n: count(), lat: 'quantile(latency, 0.99)'}
rules:
  - {name: Slow, pipeline: load, when: lat > 100, notify: [log]}
notifiers:
  - {name: log, type: log}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, "lookout", cfg)
	pid := p.Cmd.Process.Pid

	// The maximum: flat out from several senders for 10 s.
	const batch = 1000
	var accepted atomic.Int64
	var wg sync.WaitGroup
	until := time.Now().Add(10 * time.Second)
	for s := range 4 {
		wg.Go(func() {
			body := pushBody(s, batch)
			for time.Now().Before(until) {
				if n, _, _, err := postEvents(p.addr, body); err == nil {
					accepted.Add(int64(n))
				}
			}
		})
	}
	wg.Wait()
	// Sustainable means stored too: the push API accepts faster than the
	// DuckDB writer commits for a while, so the time counts until the
	// writer's backlog is gone.
	lookouttest.WaitFor(t, 5*time.Minute, "the store writer to catch up", func() bool { return metric(t, p, "lookout_store_backlog_rows ") == 0 })
	maxRate := float64(accepted.Load()) / time.Since(until.Add(-10*time.Second)).Seconds()
	rate := maxRate / 2
	t.Logf("measured max %.0f events/s (accepted and stored); soaking at %.0f events/s for %v", maxRate, rate, dur)

	// Half of it, paced, for dur; sample RSS and goroutines every 5 s.
	type sample struct {
		at         time.Duration
		rss        int64
		goroutines int64
	}
	// Once a minute, where the memory is: the mapped binary (file pages),
	// the Go runtime's share (what it holds from the OS and has not
	// returned) and the rest of the anonymous memory, which is DuckDB's, so
	// a failure says whose growth it is.
	logMemory := func(at time.Duration, rss int64) {
		file, _ := readStatus(pid, "RssFile:", 1024)
		anon, _ := readStatus(pid, "RssAnon:", 1024)
		goRes := metric(t, p, "go_memstats_sys_bytes ") - metric(t, p, "go_memstats_heap_released_bytes ")
		t.Logf("t=%v RSS %d MiB: binary %d MiB, Go %.0f MiB (heap in use %.0f MiB), DuckDB and C %.0f MiB; %v goroutines; store backlog %v rows",
			at.Round(time.Second), rss>>20, file>>20, goRes/(1<<20), metric(t, p, "go_memstats_heap_inuse_bytes ")/(1<<20),
			(float64(anon)-goRes)/(1<<20), metric(t, p, "go_goroutines "), metric(t, p, "lookout_store_backlog_rows "))
	}
	var samples []sample
	begin := time.Now()
	interval := time.Duration(float64(time.Second) * batch / rate)
	body := pushBody(0, batch)
	next, nextSample, nextLog := begin, begin, begin
	var refused int
	for time.Since(begin) < dur {
		if _, code, _, err := postEvents(p.addr, body); err != nil {
			t.Fatal(err)
		} else if code != http.StatusOK {
			refused++
		}
		if now := time.Now(); !now.Before(nextSample) {
			rss, _ := readRSS(pid)
			samples = append(samples, sample{now.Sub(begin), rss, int64(metric(t, p, "go_goroutines "))})
			nextSample = nextSample.Add(5 * time.Second)
			if !now.Before(nextLog) {
				logMemory(now.Sub(begin), rss)
				nextLog = nextLog.Add(time.Minute)
			}
		}
		next = next.Add(interval)
		time.Sleep(time.Until(next)) // pacing the load, not waiting for lookout
	}
	if len(samples) < 10 {
		t.Fatalf("only %d samples", len(samples))
	}
	warm := samples[len(samples)/5]
	tail := samples[len(samples)*9/10:]
	var peak int64
	for _, s := range samples {
		peak = max(peak, s.rss)
	}
	t.Logf("refused %d pushes; RSS after warm-up %d MiB, peak %d MiB, final %d MiB; goroutines after warm-up %d, final %d",
		refused, warm.rss>>20, peak>>20, samples[len(samples)-1].rss>>20, warm.goroutines, samples[len(samples)-1].goroutines)
	for _, s := range tail {
		if d := float64(s.rss-warm.rss) / float64(warm.rss); d > 0.10 || d < -0.10 {
			t.Errorf("at %v RSS %d MiB, %+.0f%% from %d MiB after warm-up; want within ±10%%", s.at.Round(time.Second), s.rss>>20, 100*d, warm.rss>>20)
		}
		// A few goroutines come and go with HTTP connections and
		// flushes; growth is what matters.
		if s.goroutines > warm.goroutines+20 {
			t.Errorf("at %v %d goroutines, %d after warm-up", s.at.Round(time.Second), s.goroutines, warm.goroutines)
		}
	}
}

// metric reads one unlabelled sample (name followed by a space) from
// lookout's /metrics; -1 when it cannot.
func metric(t *testing.T, p *proc, name string) float64 {
	r, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Logf("metrics: %v", err)
		return -1
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
