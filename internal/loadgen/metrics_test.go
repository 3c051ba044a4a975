package loadgen

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const exposition = `# HELP lookout_pipeline_events_total Events folded into a pipeline's windows.
# TYPE lookout_pipeline_events_total counter
lookout_pipeline_events_total{pipeline="api"} 1.5e+06
lookout_pipeline_events_total{pipeline="host"} 120
lookout_pipeline_events_total_extra 7
lookout_pipeline_open_windows{pipeline="api",note="a } in a label"} 10000
lookout_windows_emitted_total 42
`

func TestParseMetrics(t *testing.T) {
	got, err := parseMetrics(strings.NewReader(exposition), []string{
		"lookout_pipeline_events_total", "lookout_pipeline_open_windows", "lookout_windows_emitted_total", "absent_total"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"lookout_pipeline_events_total": 1_500_120, "lookout_pipeline_open_windows": 10000,
		"lookout_windows_emitted_total": 42, "absent_total": 0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, err := parseMetrics(strings.NewReader("lookout_windows_emitted_total{x=\"1\"\n"), []string{"lookout_windows_emitted_total"}); err == nil {
		t.Error("a broken line parsed")
	}
}

func TestScrapeSendsToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(exposition))
	}))
	defer srv.Close()
	m, err := Scrape(t.Context(), srv.Client(), srv.URL, "tok", "lookout_windows_emitted_total")
	if err != nil || m["lookout_windows_emitted_total"] != 42 {
		t.Errorf("Scrape = %v, %v", m, err)
	}
	if _, err := Scrape(t.Context(), srv.Client(), srv.URL, "", "x"); err == nil {
		t.Error("a 401 scrape succeeded")
	}
}
