package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// fleetConfig scrapes whatever the file_sd files list, every second, and
// alerts on each target whose up sample is 0 for three windows in a row.
const fleetConfig = `
server:
  listen: %s
storage:
  path: %s
sources:
  - name: node
    type: http
    file_sd: [targets/*.json]   # from the config file's directory
    interval: 1s
    timeout: 900ms
pipelines:
  - name: up
    from: [node]
    where: 'metric == "up"'
    group_by: [instance]
    window: 1s
    lateness: 300ms
    aggregates:
      up: min(value)
  - name: rates
    from: [node]
    where: 'metric == "requests_total"'
    group_by: [instance]
    window: 10s
    lateness: 2s                # a scrape's samples carry its start time and may come up to timeout later
    aggregates:
      rate: rate(value)
      scrapes: count()
rules:
  - name: TargetDown
    pipeline: up
    when: up == 0
    for: 3
    repeat: 1h
    notify: [hook]
notifiers:
  - {name: hook, type: webhook, url: '%s/hook'}
`

// exporters is a fleet of Prometheus exporters, each on its own loopback
// port, served by this test process. Exporter i counts requests_total up
// at rateOf(i) a second from its start.
type exporters struct {
	t     *testing.T
	srvs  map[string]*http.Server
	rates map[string]float64
}

func rateOf(i int) float64 { return float64(1 + i%10) }

func (x *exporters) add(n int) []string {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			x.t.Fatal(err)
		}
		rate, start := rateOf(len(x.rates)), time.Now()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "# TYPE requests_total counter\nrequests_total %g\n", rate*time.Since(start).Seconds())
		}), ReadHeaderTimeout: 10 * time.Second}
		x.rates[ln.Addr().String()] = rate
		go func() { _ = srv.Serve(ln) }()
		x.srvs[ln.Addr().String()] = srv
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

func (x *exporters) kill(addr string) { _ = x.srvs[addr].Close() }

// writeSD writes a file_sd file the way config management does: to a
// temporary name, then renamed over the old one.
func writeSD(t *testing.T, path string, addrs []string) {
	t.Helper()
	b, err := json.Marshal([]map[string]any{{"targets": addrs, "labels": map[string]string{"dc": "lo"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

type targetHealth struct {
	Instance   string    `json:"instance"`
	Up         bool      `json:"up"`
	LastScrape time.Time `json:"last_scrape"`
	LastError  string    `json:"last_error"`
}

// targetsOf returns the targets /api/v1/sources lists for the node source.
func targetsOf(t *testing.T, p *lookouttest.Proc) []targetHealth {
	var resp struct {
		Data []struct {
			Name    string         `json:"name"`
			Targets []targetHealth `json:"targets"`
		} `json:"data"`
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/sources"), &resp)
	for _, s := range resp.Data {
		if s.Name == "node" {
			return s.Targets
		}
	}
	return nil
}

// TestFleetFileSD: 200 exporters found through a file_sd file, scraped
// with instance and up; 10 added and 10 removed by rewriting the file; 5
// killed: up is 0 for exactly those 5, and the rule on it fires once for
// each.
func TestFleetFileSD(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs 200 exporters")
	}
	t.Parallel()
	hook := &hookReceiver{}
	hsrv := httptest.NewServer(hook)
	t.Cleanup(hsrv.Close)
	x := &exporters{t: t, srvs: map[string]*http.Server{}, rates: map[string]float64{}}
	t.Cleanup(func() {
		for _, s := range x.srvs {
			_ = s.Close()
		}
	})

	dir := t.TempDir()
	sdDir := filepath.Join(dir, "targets")
	if err := os.Mkdir(sdDir, 0o700); err != nil {
		t.Fatal(err)
	}
	sdFile := filepath.Join(sdDir, "node.json")
	addrs := x.add(200)
	writeSD(t, sdFile, addrs)
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(fleetConfig, addr, dir+"/data", hsrv.URL))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)

	// scrapedAll reports whether the source lists exactly want, each
	// scraped at least once after since and up.
	scrapedAll := func(want []string, since time.Time) func() bool {
		sorted := slices.Sorted(slices.Values(want))
		return func() bool {
			ts := targetsOf(t, p)
			var got []string
			for _, th := range ts {
				if !th.Up || !th.LastScrape.After(since) {
					return false
				}
				got = append(got, th.Instance)
			}
			sort.Strings(got)
			return slices.Equal(got, sorted)
		}
	}
	lookouttest.WaitFor(t, 30*time.Second, "all 200 targets scraped and up", scrapedAll(addrs, time.Time{}))

	// Ten more, ten fewer.
	added := x.add(10)
	removed := addrs[:10]
	for _, a := range removed {
		x.kill(a)
	}
	addrs = append(slices.Clone(addrs[10:]), added...)
	rewritten := time.Now()
	writeSD(t, sdFile, addrs)
	lookouttest.WaitFor(t, 30*time.Second, "the rewritten file's 200 targets, the 10 new ones scraped", scrapedAll(addrs, rewritten.Add(-time.Second)))

	// Five exporters die.
	dead := addrs[20:25]
	for _, a := range dead {
		x.kill(a)
	}
	downNow := func() []string {
		var down []string
		for _, th := range targetsOf(t, p) {
			if !th.Up {
				down = append(down, th.Instance)
			}
		}
		sort.Strings(down)
		return down
	}
	wantDown := slices.Sorted(slices.Values(dead))
	lookouttest.WaitFor(t, 30*time.Second, "up 0 for the 5 dead targets", func() bool { return slices.Equal(downNow(), wantDown) })
	firing := func() map[string]int {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		m := map[string]int{}
		for _, pl := range hook.payloads {
			for _, a := range pl.Alerts {
				if a.Status == "firing" && a.Labels["alertname"] == "TargetDown" {
					m[a.Labels["instance"]]++
				}
			}
		}
		return m
	}
	lookouttest.WaitFor(t, 30*time.Second, "TargetDown firing for the 5 dead targets", func() bool { return len(firing()) >= 5 })
	// A few more intervals: no target fires twice, and no live one fires.
	time.Sleep(3 * time.Second)
	want := map[string]int{}
	for _, a := range dead {
		want[a] = 1
	}
	if got := firing(); !maps.Equal(got, want) {
		t.Errorf("TargetDown fired %v, want once for each of %v", got, dead)
	}
	if got := downNow(); !slices.Equal(got, wantDown) {
		t.Errorf("targets down %v, want %v", got, wantDown)
	}
	for _, th := range targetsOf(t, p) {
		if slices.Contains(dead, th.Instance) && th.LastError == "" {
			t.Errorf("dead target %s has no last_error", th.Instance)
		}
	}

	// rate() of each live exporter's counter within 2 % of the true rate,
	// in every window that had every scrape and whose window before had
	// too (the 10 deltas 1 s apart; a scrape a loaded machine skipped moves
	// one delta to the next window, as an increase without extrapolation
	// does), and at least two such windows per exporter.
	var live []string
	for _, a := range addrs {
		if !slices.Contains(dead, a) {
			live = append(live, a)
		}
	}
	type win struct{ rate, scrapes float64 }
	full := map[string][]float64{}
	lookouttest.WaitFor(t, 120*time.Second, "two windows of full scrapes for every live exporter", func() bool {
		var res struct {
			Data []windowJSON `json:"data"`
		}
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=rates&limit=100000"), &res)
		sort.Slice(res.Data, func(i, j int) bool { return res.Data[i].Start < res.Data[j].Start })
		byInstance := map[string][]win{}
		for _, w := range res.Data {
			if r, n := w.Values["rate"], w.Values["scrapes"]; r != nil && n != nil {
				byInstance[w.Group["instance"]] = append(byInstance[w.Group["instance"]], win{*r, *n})
			}
		}
		clear(full)
		for inst, ws := range byInstance {
			for i := 1; i < len(ws); i++ {
				if ws[i].scrapes == 10 && ws[i-1].scrapes == 10 {
					full[inst] = append(full[inst], ws[i].rate)
				}
			}
		}
		for _, a := range live {
			if len(full[a]) < 2 {
				return false
			}
		}
		return true
	})
	for _, a := range live {
		for _, got := range full[a] {
			if want := x.rates[a]; math.Abs(got-want) > 0.02*want {
				t.Errorf("rate() of %s's counter %.3f/s in a window of every scrape, want %.0f/s within 2 %% (all %v)", a, got, want, full[a])
			}
		}
	}
}
