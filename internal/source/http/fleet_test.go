package http

import (
	"fmt"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

// fleetSource is an http source with the defaults a user gets and the
// settings given; interval and timeout short so that a test sees several
// scrapes.
func fleetSource(t *testing.T, tc TargetsConfig) *Source {
	t.Helper()
	c := &Config{}
	c.Defaults()
	tc.Path, tc.Scheme, tc.FileRefresh = c.Path, c.Scheme, c.FileRefresh
	if tc.Concurrency == 0 {
		tc.Concurrency = c.Concurrency
	}
	c.TargetsConfig = tc
	c.Interval, c.Timeout = config.Duration(300*time.Millisecond), config.Duration(200*time.Millisecond)
	return newSource(t, config.Source{Settings: c}, source.Deps{Clock: clock.Real{}})
}

// instances returns the instances the source's health lists, sorted.
func instances(s *Source) []string {
	var out []string
	for _, th := range s.Health().Snapshot().Targets {
		out = append(out, th.Instance)
	}
	sort.Strings(out)
	return out
}

func hostOf(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func TestFleetScrapesEveryTarget(t *testing.T) {
	a := serve(t, 200, "# TYPE temp gauge\ntemp{instance=\"inner\"} 1\n")
	b := serve(t, 200, "temp 2\n")
	down := httptest.NewServer(nethttp.NotFoundHandler())
	downAddr := hostOf(down)
	down.Close()
	s := fleetSource(t, TargetsConfig{
		Targets: []string{hostOf(a), b.URL + "/metrics", downAddr},
		Labels:  map[string]string{"env": "prod"},
	})
	sink := sourcetest.NewSink(1000)
	sourcetest.Run(t, s, sink)

	// up per instance, as the samples say it.
	up := func() map[string]any {
		m := map[string]any{}
		for _, e := range sink.Events() {
			if e.Fields["metric"] == "up" {
				m[e.Fields["instance"].(string)] = e.Fields["value"]
			}
		}
		return m
	}
	sourcetest.WaitFor(t, 20*time.Second, "up of all three targets", func() bool { return len(up()) == 3 })
	want := map[string]any{hostOf(a): 1.0, hostOf(b): 1.0, downAddr: 0.0}
	if got := up(); !reflect.DeepEqual(got, want) {
		t.Errorf("up = %v, want %v", got, want)
	}
	synthetic := map[string]int{}
	for _, e := range sink.Events() {
		f := e.Fields
		if f["job"] != "target" || f["env"] != "prod" || f["instance"] == nil {
			t.Errorf("event %v lacks job=target env=prod instance", f)
		}
		if f["metric"] == "temp" && f["instance"] == hostOf(a) && f["exported_instance"] != "inner" {
			t.Errorf("a scraped instance label is kept as exported_instance: %v", f)
		}
		if f["metric"] == "scrape_samples_scraped" {
			synthetic[f["instance"].(string)]++
			if wantN := map[bool]float64{true: 0, false: 1}[f["instance"] == downAddr]; f["value"] != wantN {
				t.Errorf("scrape_samples_scraped of %v = %v, want %v", f["instance"], f["value"], wantN)
			}
		}
	}
	if len(synthetic) != 3 {
		t.Errorf("scrape_samples_scraped for %v, want all three targets", synthetic)
	}
	h := s.Health().Snapshot()
	if !h.Up {
		t.Errorf("the source is down with two of three targets up: %+v", h)
	}
	for _, th := range h.Targets {
		if th.Up != (th.Instance != downAddr) || th.LastScrape.IsZero() || (th.Instance == downAddr) != (th.LastError != "") {
			t.Errorf("target health %+v", th)
		}
	}
	if len(h.Targets) != 3 {
		t.Errorf("health lists %d targets, want 3", len(h.Targets))
	}
}

func TestOffsetSpreadsTargets(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 3, 0, time.UTC)
	iv := 10 * time.Second
	for _, h := range []uint64{0, 1, 7e9, 12345678901234} {
		o := offset(h, now, iv)
		if o < 0 || o >= iv {
			t.Fatalf("offset %v outside [0, %v)", o, iv)
		}
		// Each target scrapes at the same point of every interval,
		// whenever the source started.
		at := now.Add(o).UnixNano() % int64(iv)
		if later := now.Add(1234 * time.Millisecond); later.Add(offset(h, later, iv)).UnixNano()%int64(iv) != at {
			t.Errorf("hash %d: the phase depends on the start time", h)
		}
		if at != int64(h%uint64(iv)) {
			t.Errorf("hash %d: phase %d, want %d", h, at, h%uint64(iv))
		}
	}
}

func TestRelabel(t *testing.T) {
	str := func(s string) *string { return &s }
	s := fleetSource(t, TargetsConfig{
		Targets: []string{"127.0.0.1:1"},
		Relabel: []RelabelConfig{
			{SourceLabels: []string{"__address__"}, Regex: str(`(.*):9100`), TargetLabel: "host", Replacement: str("$1")},
			{SourceLabels: []string{"__meta_role"}, Regex: str("db"), Action: "drop"},
			{SourceLabels: []string{"__address__"}, Regex: str(`.*:(9100|9200)`), Action: "keep"},
			{SourceLabels: []string{"__meta_path"}, Regex: str("(.+)"), TargetLabel: "__metrics_path__"},
			{Regex: str("__meta_(zone)"), Action: "labelmap"},
		},
	})
	groups := s.staticGroup([]string{"10.0.0.1:9100", "10.0.0.2:9100", "10.0.0.3:9300", "https://10.0.0.4:9200/x?a=b"})
	groups.Targets[1]["__meta_role"] = "db"
	groups.Targets[0]["__meta_path"] = "/node"
	groups.Labels = model.LabelSet{"__meta_zone": "z1"}
	ts, errs := s.targetsOf(groupsOf(groups))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, tg := range ts {
		var ls []string
		for _, l := range tg.labels {
			ls = append(ls, l.Name+"="+l.Value)
		}
		got = append(got, tg.url+" "+strings.Join(ls, ","))
	}
	want := []string{
		"http://10.0.0.1:9100/node host=10.0.0.1,instance=10.0.0.1:9100,job=target,zone=z1",
		"https://10.0.0.4:9200/x?a=b instance=10.0.0.4:9200,job=target,zone=z1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets\n got %q\nwant %q", got, want)
	}
}

// writeFile writes a file_sd file the way config management does: to a
// temporary name, then renamed over the old one.
func writeFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFileSD(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), `[{"targets": ["127.0.0.1:9001", "127.0.0.1:9002"], "labels": {"team": "x"}}]`)
	s := fleetSource(t, TargetsConfig{FileSD: []string{filepath.Join(dir, "*.json"), filepath.Join(dir, "*.yml")}})
	sourcetest.Run(t, s, sourcetest.NewSink(10000))
	waitTargets := func(what string, want ...string) {
		t.Helper()
		sourcetest.WaitFor(t, 20*time.Second, what, func() bool { return reflect.DeepEqual(instances(s), want) })
	}
	waitTargets("the file's targets", "127.0.0.1:9001", "127.0.0.1:9002")
	writeFile(t, filepath.Join(dir, "a.json"), `[{"targets": ["127.0.0.1:9002", "127.0.0.1:9003"]}]`)
	waitTargets("the rewritten file's targets", "127.0.0.1:9002", "127.0.0.1:9003")
	writeFile(t, filepath.Join(dir, "b.yml"), "- targets: ['127.0.0.1:9004']\n")
	waitTargets("a new YAML file's targets too", "127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:9004")
	if err := os.Remove(filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	waitTargets("a removed file's targets gone", "127.0.0.1:9004")
}

func TestHTTPSD(t *testing.T) {
	sd := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"targets": ["127.0.0.1:9101"], "labels": {"__meta_dc": "a"}}, {"targets": ["127.0.0.1:9102"]}]`)
	}))
	t.Cleanup(sd.Close)
	s := fleetSource(t, TargetsConfig{HTTPSD: &HTTPSD{URL: sd.URL}})
	sourcetest.Run(t, s, sourcetest.NewSink(10000))
	want := []string{"127.0.0.1:9101", "127.0.0.1:9102"}
	sourcetest.WaitFor(t, 20*time.Second, "the http_sd targets", func() bool { return reflect.DeepEqual(instances(s), want) })
}

// dnsServer answers SRV records for _node._tcp.test. and A records for
// node.test. on a loopback UDP port.
func dnsServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("test.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 30, Rrtype: q.Qtype}
		switch {
		case q.Name == "_node._tcp.test." && q.Qtype == dns.TypeSRV:
			m.Answer = append(m.Answer,
				&dns.SRV{Hdr: hdr, Port: 9100, Target: "a.test."},
				&dns.SRV{Hdr: hdr, Port: 9101, Target: "b.test."})
		case q.Name == "node.test." && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP("127.0.0.7")}, &dns.A{Hdr: hdr, A: net.ParseIP("127.0.0.8")})
		default:
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestDNSSD(t *testing.T) {
	addr := dnsServer(t)
	for _, tt := range []struct {
		name string
		sd   DNSSD
		want []string
	}{
		{"SRV", DNSSD{Names: []string{"_node._tcp.test"}, Server: addr}, []string{"a.test:9100", "b.test:9101"}},
		{"A", DNSSD{Names: []string{"node.test"}, Type: "A", Port: 9200, Server: addr}, []string{"127.0.0.7:9200", "127.0.0.8:9200"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := fleetSource(t, TargetsConfig{DNSSD: &tt.sd})
			sourcetest.Run(t, s, sourcetest.NewSink(10000))
			sourcetest.WaitFor(t, 20*time.Second, "the DNS targets", func() bool { return reflect.DeepEqual(instances(s), tt.want) })
		})
	}
}

func groupsOf(gs ...*targetgroup.Group) []*targetgroup.Group { return gs }

// TestFleetConcurrency: six targets that each take most of the interval to
// answer are never scraped more than concurrency at a time.
func TestFleetConcurrency(t *testing.T) {
	var inFlight, most atomic.Int64
	slow := func() string {
		srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			select { // the answer is slow; the scrape's timeout may end it first
			case <-time.After(250 * time.Millisecond):
			case <-r.Context().Done():
			}
			fmt.Fprint(w, "temp 1\n")
		}))
		t.Cleanup(srv.Close)
		return hostOf(srv)
	}
	var targets []string
	for range 6 {
		targets = append(targets, slow())
	}
	s := fleetSource(t, TargetsConfig{Targets: targets, Concurrency: 2})
	sink := sourcetest.NewSink(10000)
	sourcetest.Run(t, s, sink)
	scraped := func() int {
		n := 0
		for _, th := range s.Health().Snapshot().Targets {
			if !th.LastScrape.IsZero() {
				n++
			}
		}
		return n
	}
	sourcetest.WaitFor(t, 20*time.Second, "every target scraped", func() bool { return scraped() == 6 })
	if m := most.Load(); m != 2 {
		t.Errorf("at most %d scrapes at once, want 2 (concurrency)", m)
	}
}

// TestRelabelFromYAML: relabel steps written as in prometheus.yml, through
// the config loader, relabel the targets as Prometheus would.
func TestRelabelFromYAML(t *testing.T) {
	c, err := config.Parse("lookout.yaml", []byte(`
sources:
  - name: node
    type: http
    targets: ['10.0.0.1:9100', '10.0.0.2:9100']
    relabel:
      - {source_labels: [__address__], regex: '(.*):9100', target_label: host, replacement: '$1'}
      - {source_labels: [host], regex: '10\.0\.0\.2', action: drop}
      - {target_label: __metrics_path__, replacement: /probe}
pipelines:
  - {name: p, from: [node], window: 1s, aggregates: {n: count()}}
`))
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(c.Sources[0], source.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ts, errs := src.targetsOf(groupsOf(src.staticGroup(src.tc.Targets)))
	if len(errs) > 0 || len(ts) != 1 {
		t.Fatalf("targets %v, errors %v; want the one not dropped", ts, errs)
	}
	if ts[0].url != "http://10.0.0.1:9100/probe" || ts[0].labels[0].Name != "host" || ts[0].labels[0].Value != "10.0.0.1" {
		t.Errorf("target %s %v", ts[0].url, ts[0].labels)
	}
}
