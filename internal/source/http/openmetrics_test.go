package http

import (
	"encoding/hex"
	nethttp "net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

const omExposition = `# TYPE req_seconds histogram
# HELP req_seconds Request latency.
req_seconds_bucket{le="0.1"} 8 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.054 1732600000.5
req_seconds_bucket{le="+Inf"} 17
req_seconds_count 17
req_seconds_sum 3.5
# TYPE jobs counter
jobs_total{queue="a"} 3 1732600000.123
# EOF
`

// TestPullOpenMetrics: the source asks for OpenMetrics as Prometheus does,
// reads what an OpenMetrics target answers, and an exemplar's trace id
// becomes the event's trace, where a window's exemplars come from.
func TestPullOpenMetrics(t *testing.T) {
	var accept string
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		accept = r.Header.Get("Accept")
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		w.Write([]byte(omExposition))
	}))
	t.Cleanup(srv.Close)
	s := newSource(t, config.Source{Settings: &Config{URL: srv.URL, Format: "prometheus"}}, source.Deps{})
	b, rejected := s.Pull(t.Context())
	if len(rejected) != 0 {
		t.Fatalf("rejected %v", rejected)
	}
	if !strings.HasPrefix(accept, "application/openmetrics-text;version=1.0.0,") || !strings.Contains(accept, "text/plain;version=0.0.4;q=0.5") {
		t.Errorf("Accept %q", accept)
	}
	var got []string
	for _, e := range b.Events {
		got = append(got, sample(e))
	}
	target := "instance=" + strings.TrimPrefix(srv.URL, "http://") + " job=target"
	want := []string{
		"req_seconds_bucket " + target + " le=0.1 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 = 8",
		"req_seconds_bucket " + target + " le=+Inf = 17",
		"req_seconds_count " + target + " = 17",
		"req_seconds_sum " + target + " = 3.5",
		"jobs_total " + target + " queue=a = 3",
		"up " + target + " = 1",
		"scrape_duration_seconds " + target + " = 0", // the fake clock does not move
		"scrape_samples_scraped " + target + " = 5",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("samples\n got %q\nwant %q", got, want)
	}
	tc, ok := b.Events[0].Trace()
	if !ok || hex.EncodeToString(tc.TraceID[:]) != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("bucket event's trace %v %v", tc, ok)
	}
	if _, ok := b.Events[1].Trace(); ok {
		t.Error("a sample without an exemplar has a trace")
	}
	if tm := b.Events[4].Time; !tm.Equal(time.UnixMilli(1732600000123)) {
		t.Errorf("OpenMetrics timestamp in seconds read as %v", tm)
	}
}

// TestPullOpenMetricsCut: an OpenMetrics answer without its # EOF was cut
// short; it is rejected whole rather than read as a smaller scrape.
func TestPullOpenMetricsCut(t *testing.T) {
	body := strings.TrimSuffix(omExposition, "# EOF\n")
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	s := newSource(t, config.Source{Settings: &Config{URL: srv.URL, Format: "prometheus"}}, source.Deps{})
	b, rejected := s.Pull(t.Context())
	if len(rejected) != 1 || !strings.Contains(rejected[0].Reason, "parsing OpenMetrics") || !strings.Contains(rejected[0].Reason, "no # EOF") {
		t.Fatalf("rejected %v", rejected)
	}
	if up := upOf(b.Events); up != 0.0 {
		t.Errorf("up = %v, want 0", up)
	}
}

// TestPullPrometheusExpfmtCrash: a body on which expfmt's parser panics (a
// summary's labels before its quoted name, after a line of another family)
// is rejected, not a crash of lookout.
func TestPullPrometheusExpfmtCrash(t *testing.T) {
	body := "# TYPE s summary\nx 1\n{\"s\",a=\"b\"} 1\n"
	srv := serve(t, 200, body)
	s := newSource(t, config.Source{Settings: &Config{URL: srv.URL, Format: "prometheus"}}, source.Deps{})
	b, rejected := s.Pull(t.Context())
	if len(rejected) != 1 || string(rejected[0].Raw) != body || !strings.Contains(rejected[0].Reason, "line 3") {
		t.Fatalf("rejected %v", rejected)
	}
	if up := upOf(b.Events); up != 0.0 {
		t.Errorf("up = %v, want 0", up)
	}
}

// upOf is the value of the scrape's up sample; nil when there is none.
func upOf(evs []*event.Event) any {
	for _, e := range evs {
		if e.Fields["metric"] == "up" {
			return e.Fields["value"]
		}
	}
	return nil
}
