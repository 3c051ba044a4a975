package http

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	nethttp "net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

var t0 = time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC)

func newSource(t *testing.T, cfg config.Source, deps source.Deps) *Source {
	t.Helper()
	cfg.Name, cfg.Type = "target", "http"
	if deps.Clock == nil {
		deps.Clock = clock.NewFake(t0)
	}
	s, err := source.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

// serve starts a real HTTP server answering every request with code, content
// type and body.
func serve(t *testing.T, code int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const promBody = `# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",metric="m",value="v"} 1027
http_requests_total{code="500"} 3 1732600000123
# TYPE temp gauge
temp 21.5
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.05
rpc_seconds{quantile="0.99"} NaN
rpc_seconds_sum 17
rpc_seconds_count 100
# TYPE req_size histogram
req_size_bucket{le="100"} 2
req_size_bucket{le="+Inf"} 5
req_size_sum 900
req_size_count 5
plain 7
`

// sample is an event reduced to what a test compares.
func sample(e *event.Event) string {
	var keys []string
	for k := range e.Fields {
		if k != "metric" && k != "value" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%v", e.Fields["metric"])
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, e.Fields[k])
	}
	fmt.Fprintf(&b, " = %v", e.Fields["value"])
	return b.String()
}

func TestPullPrometheus(t *testing.T) {
	srv := serve(t, 200, promBody)
	s := newSource(t, config.Source{Settings: &Config{URL: srv.URL, Format: "prometheus"}}, source.Deps{})
	b, rejected := s.Pull(t.Context())
	if len(rejected) != 0 {
		t.Fatalf("rejected %v", rejected)
	}
	// Every sample carries the target's instance and job; the rest is
	// compared without them.
	il := " instance=" + strings.TrimPrefix(srv.URL, "http://") + " job=target"
	var got []string
	for _, e := range b.Events {
		if !strings.Contains(sample(e), il) {
			t.Errorf("event %s lacks%s", sample(e), il)
		}
		got = append(got, strings.Replace(sample(e), il, "", 1))
		if e.Source != "target" || e.Raw == nil || !json.Valid(e.Raw) {
			t.Errorf("event %s: source %q raw %s", sample(e), e.Source, e.Raw)
		}
	}
	want := []string{
		"http_requests_total code=200 label_metric=m label_value=v = 1027",
		"http_requests_total code=500 = 3",
		"plain = 7",
		"req_size_bucket le=100 = 2",
		"req_size_bucket le=+Inf = 5",
		"req_size_sum = 900",
		"req_size_count = 5",
		"rpc_seconds quantile=0.5 = 0.05",
		"rpc_seconds quantile=0.99 = NaN",
		"rpc_seconds_sum = 17",
		"rpc_seconds_count = 100",
		"temp = 21.5",
		"up = 1",
		"scrape_duration_seconds = 0",
		"scrape_samples_scraped = 12",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("samples\n got %q\nwant %q", got, want)
	}
	if tm := b.Events[1].Time; !tm.Equal(time.UnixMilli(1732600000123)) {
		t.Errorf("sample with a timestamp at %v", tm)
	}
	if tm := b.Events[0].Time; !tm.Equal(t0) || b.Events[0].Flags != 0 {
		t.Errorf("sample without a timestamp at %v flags %v, want the pull time", tm, b.Events[0].Flags)
	}
	if !strings.Contains(string(b.Events[8].Raw), `"value":"NaN"`) {
		t.Errorf("NaN sample raw = %s", b.Events[8].Raw)
	}
	h := s.Health().Snapshot()
	if !h.Up || h.Events != int64(len(want)) || h.Bytes != int64(len(promBody)) {
		t.Errorf("health %+v", h)
	}
	if raw := s.Raw().Last(5); len(raw) != 1 || string(raw[0].Data) != promBody {
		t.Errorf("raw ring %v", raw)
	}
}

func TestPullFailures(t *testing.T) {
	down := httptest.NewServer(nethttp.NotFoundHandler())
	downURL := down.URL
	down.Close() // a port nobody listens on

	tests := []struct {
		name         string
		format       string
		code         int
		body         string
		url          string
		wantUp       any
		wantRejected string
		wantErr      string
		wantRaw      bool
		answered     bool // a status probe got a response: the source is up, the target down
	}{
		{name: "prometheus 500", format: "prometheus", code: 500, body: "oops", wantUp: 0.0, wantErr: "status 500", wantRaw: true},
		{name: "prometheus unparseable", format: "prometheus", code: 200, body: "temp{ 1\n", wantUp: 0.0,
			wantRejected: "parsing the Prometheus text format", wantErr: "parsing", wantRaw: true},
		{name: "prometheus down", format: "prometheus", url: downURL, wantUp: 0.0, wantErr: "connection refused"},
		{name: "json 503", format: "json", code: 503, body: `{"a":1}`, wantUp: false, wantErr: "status 503", wantRaw: true},
		{name: "json down", format: "json", url: downURL, wantUp: false, wantErr: "connection refused"},
		{name: "status down", format: "status", url: downURL, wantUp: false, wantErr: "connection refused"},
		{name: "status 404", format: "status", code: 404, body: "nope", wantUp: false, wantErr: "status 404", wantRaw: true, answered: true},
		{name: "status 503", format: "status", code: 503, body: "busy", wantUp: false, wantErr: "status 503", wantRaw: true, answered: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if url == "" {
				url = serve(t, tt.code, tt.body).URL
			}
			s := newSource(t, config.Source{Settings: &Config{URL: url, Format: tt.format}}, source.Deps{})
			b, rejected := s.Pull(t.Context())
			// Prometheus's up, scrape_duration_seconds and
			// scrape_samples_scraped; the one up event otherwise.
			if n := map[bool]int{true: 3, false: 1}[tt.format == "prometheus"]; len(b.Events) != n {
				t.Fatalf("%d events, want %d", len(b.Events), n)
			}
			f := b.Events[0].Fields
			up := f["up"]
			if tt.format == "prometheus" {
				if f["metric"] != "up" {
					t.Errorf("metric = %v", f["metric"])
				}
				up = f["value"]
			}
			if up != tt.wantUp {
				t.Errorf("up = %#v, want %#v", up, tt.wantUp)
			}
			if e, _ := f["error"].(string); !strings.Contains(e, tt.wantErr) {
				t.Errorf("error field = %q, want %q", e, tt.wantErr)
			}
			if tt.wantRejected == "" && len(rejected) != 0 {
				t.Errorf("rejected %v, want none: the body was not a failed parse", rejected)
			}
			if tt.wantRejected != "" {
				if len(rejected) != 1 || !strings.Contains(rejected[0].Reason, tt.wantRejected) || string(rejected[0].Raw) != tt.body {
					t.Errorf("rejected = %+v, want the body with %q", rejected, tt.wantRejected)
				}
			}
			h := s.Health().Snapshot()
			if h.Up != tt.answered || h.LastSuccess.IsZero() != !tt.answered || !strings.Contains(h.LastError, tt.wantErr) {
				t.Errorf("health %+v, want up %v (a successful pull: %v) with %q", h, tt.answered, tt.answered, tt.wantErr)
			}
			if got := len(s.Raw().Last(5)) == 1; got != tt.wantRaw {
				t.Errorf("raw ring holds the body: %v, want %v", got, tt.wantRaw)
			}
		})
	}
}

func TestPullJSON(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		want         []map[string]any
		wantRejected []string
	}{
		{"one object", "{\n  \"svc\": \"api\",\n  \"lat\": {\"ms\": 5}\n}\n", []map[string]any{{"svc": "api", "lat.ms": 5.0}}, nil},
		{"array", `[{"a":1},{"a":2},"x"]`, []map[string]any{{"a": 1.0}, {"a": 2.0}}, []string{"not a JSON object"}},
		{"ndjson", "{\"a\":1}\n{\"a\":\n{\"a\":3}\n", []map[string]any{{"a": 1.0}, {"a": 3.0}}, []string{"invalid JSON"}},
		{"empty", "", nil, []string{"empty body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, config.Source{Settings: &Config{URL: serve(t, 200, tt.body).URL, Format: "json"},
				Fields: map[string]config.Field{"a": {Type: "number", Max: ptr(2)}}}, source.Deps{})
			b, rejected := s.Pull(t.Context())
			var got []map[string]any
			for _, e := range b.Events {
				got = append(got, e.Fields)
				if want := event.FlagNoTimestamp; e.Flags&^event.FlagOutOfRange != want || !e.Time.Equal(t0) {
					t.Errorf("event %v flags %v time %v", e.Fields, e.Flags, e.Time)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events\n got %v\nwant %v", got, tt.want)
			}
			if len(rejected) != len(tt.wantRejected) {
				t.Fatalf("rejected %+v, want %q", rejected, tt.wantRejected)
			}
			for i, r := range rejected {
				if !strings.Contains(r.Reason, tt.wantRejected[i]) {
					t.Errorf("rejected[%d] reason %q, want %q", i, r.Reason, tt.wantRejected[i])
				}
			}
			if tt.name == "ndjson" && b.Events[1].Flags&event.FlagOutOfRange == 0 {
				t.Error("a = 3 with max 2 not flagged: preprocessing not applied")
			}
			if !s.Health().Snapshot().Up {
				t.Error("a 200 pull left the source down")
			}
		})
	}
}

func ptr(f float64) *float64 { return &f }

func TestPullStatusAndHeaders(t *testing.T) {
	var gotAuth, gotHost atomic.Value
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		gotHost.Store(r.Host)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	s := newSource(t, config.Source{Settings: &Config{URL: srv.URL, Format: "status", Headers: map[string]config.Secret{
		"Authorization": "Bearer s3cret", "Host": "example.test"}}}, source.Deps{})
	b, _ := s.Pull(t.Context())
	f := b.Events[0].Fields
	if f["up"] != true || f["status"] != 204.0 || f["url"] != srv.URL {
		t.Errorf("status event %v", f)
	}
	if rt, ok := f["response_time"].(float64); !ok || rt < 0 {
		t.Errorf("response_time = %v", f["response_time"])
	}
	if gotAuth.Load() != "Bearer s3cret" || gotHost.Load() != "example.test" {
		t.Errorf("server saw Authorization %q Host %q", gotAuth.Load(), gotHost.Load())
	}
}

func TestPullTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := newSource(t, config.Source{Settings: &Config{URL: srv.URL, Format: "status", Timeout: config.Duration(50 * time.Millisecond)}}, source.Deps{})
	b, _ := s.Pull(t.Context())
	f := b.Events[0].Fields
	if f["up"] != false || !strings.Contains(f["error"].(string), "deadline exceeded") {
		t.Errorf("event after a timeout = %v", f)
	}
	if _, ok := f["status"]; ok {
		t.Errorf("status set without a response: %v", f)
	}
}

func TestFirstDelay(t *testing.T) {
	tests := []struct {
		name   string
		jitter time.Duration
		rand   func(int64) int64
		want   time.Duration
	}{
		{"no jitter", 0, func(int64) int64 { panic("rand called without jitter") }, 0},
		{"lowest", 3 * time.Second, func(int64) int64 { return 0 }, 0},
		{"highest", 3 * time.Second, func(n int64) int64 { return n - 1 }, 3*time.Second - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, config.Source{Settings: &Config{URL: "http://127.0.0.1:1/", Jitter: config.Duration(tt.jitter)}}, source.Deps{})
			s.Rand = tt.rand
			if got := s.firstDelay(); got != tt.want {
				t.Errorf("firstDelay = %v, want %v", got, tt.want)
			}
		})
	}
	// With the real random source every delay stays in [0, jitter).
	s := newSource(t, config.Source{Settings: &Config{URL: "http://127.0.0.1:1/", Jitter: config.Duration(time.Second)}}, source.Deps{})
	for i := 0; i < 1000; i++ {
		if d := s.firstDelay(); d < 0 || d >= time.Second {
			t.Fatalf("firstDelay = %v, outside [0, 1s)", d)
		}
	}
}

// TestRunSchedule runs the source in a synctest bubble: the first pull comes
// after the jitter delay, the next ones every interval after it.
func TestRunSchedule(t *testing.T) {
	var pulls atomic.Int64
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		pulls.Add(1)
		fmt.Fprint(w, `{"n":1}`)
	}))
	defer srv.Close()
	synctest.Test(t, func(t *testing.T) {
		// No keep-alive: an idle connection's reader would never let the
		// bubble's clock advance.
		client := &nethttp.Client{Transport: &nethttp.Transport{DisableKeepAlives: true}}
		s := newSource(t, config.Source{Settings: &Config{URL: srv.URL, Format: "json", Interval: config.Duration(10 * time.Second),
			Jitter: config.Duration(5 * time.Second)}}, source.Deps{Clock: clock.Real{}, HTTP: client})
		s.Rand = func(n int64) int64 { return int64(3 * time.Second) }
		sink := sourcetest.NewSink(10)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		start := time.Now()
		go func() { done <- s.Run(ctx, sink) }()

		var at []time.Duration
		for i := 0; i < 3; i++ {
			sub := <-sink.C
			at = append(at, sub.Batch.Events[0].Time.Sub(start))
		}
		want := []time.Duration{3 * time.Second, 13 * time.Second, 23 * time.Second}
		if !reflect.DeepEqual(at, want) {
			t.Errorf("pulls at %v, want %v", at, want)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		if pulls.Load() != 3 {
			t.Errorf("server saw %d pulls, want 3", pulls.Load())
		}
	})
}

func TestNewErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  config.Source
		want string
	}{
		{"no url", config.Source{Name: "x", Type: "http", Settings: &Config{}}, "url, targets, file_sd, dns_sd or http_sd is required"},
		{"bad format", config.Source{Name: "x", Type: "http", Settings: &Config{URL: "http://x", Format: "xml"}}, `unknown format "xml"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := source.New(tt.cfg, source.Deps{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRawJSONNonFinite(t *testing.T) {
	f := map[string]any{"value": math.Inf(-1), "metric": "x"}
	if got := string(rawJSON(f)); got != `{"metric":"x","value":"-Inf"}` {
		t.Errorf("rawJSON = %s", got)
	}
	if !math.IsInf(f["value"].(float64), -1) {
		t.Error("rawJSON changed the event's fields")
	}
}
