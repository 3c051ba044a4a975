package http

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/source"
)

// FuzzPrometheus checks the http source's Prometheus text parser against
// expfmt, the reference parser: it fails exactly when expfmt does (and
// where expfmt crashes), and
// otherwise makes one event per sample expfmt sees (a summary's quantiles,
// sum and count; a histogram's buckets, sum and count), each with a metric
// name, a numeric value equal to expfmt's and a raw form that is JSON.
func FuzzPrometheus(f *testing.F) {
	for _, seed := range []string{
		"up 1\n",
		"# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\n",
		"# TYPE rpc summary\nrpc{quantile=\"0.5\"} 4773\nrpc_sum 1.7560473e+07\nrpc_count 2693\n",
		"# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 3\nlat_bucket{le=\"+Inf\"} 5\nlat_sum 1.5\nlat_count 5\n",
		"x{metric=\"a\",value=\"b\"} NaN\ny -Inf\n",
		"{\"utf8.name\"} 3\n",
		"# HELP g a gauge\n# TYPE g gauge\ng{a=\"\\n\\\"\\\\\"} 2\n",
		"# TYPE lat histogram\nlat_bucket{le=\"1\"} 2.5\nlat_count 2.5\n",
		"# TYPE s summary\nx 1\n{\"s\",a=\"b\"} 1\n",
	} {
		f.Add([]byte(seed))
	}
	s, err := source.New(config.Source{Name: "target", Type: "http", Settings: &Config{URL: "http://127.0.0.1:1/", Format: "prometheus"}},
		source.Deps{Clock: clock.NewFake(t0)})
	if err != nil {
		f.Fatal(err)
	}
	src := s.(*Source)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := src.parsePrometheus(body, t0)
		fams, refErr, panicked := func() (fams map[string]*dto.MetricFamily, err error, panicked bool) {
			defer func() {
				if recover() != nil {
					panicked = true
				}
			}()
			p := expfmt.NewTextParser(model.UTF8Validation)
			fams, err = p.TextToMetricFamilies(strings.NewReader(string(body)))
			return fams, err, false
		}()
		if panicked {
			// expfmt crashes on some malformed bodies; the source must
			// reject them instead.
			if err == nil {
				t.Fatalf("a body expfmt crashes on is accepted")
			}
			return
		}
		if (err == nil) != (refErr == nil) {
			t.Fatalf("parse error %v, expfmt's %v", err, refErr)
		}
		if err != nil {
			return
		}
		// The samples expfmt sees, as metric name → values.
		want := map[string][]float64{}
		for _, name := range slices.Sorted(maps.Keys(fams)) {
			fam := fams[name]
			for _, m := range fam.GetMetric() {
				switch fam.GetType() {
				case dto.MetricType_COUNTER:
					want[name] = append(want[name], m.GetCounter().GetValue())
				case dto.MetricType_GAUGE:
					want[name] = append(want[name], m.GetGauge().GetValue())
				case dto.MetricType_SUMMARY:
					for _, q := range m.GetSummary().GetQuantile() {
						want[name] = append(want[name], q.GetValue())
					}
					want[name+"_sum"] = append(want[name+"_sum"], m.GetSummary().GetSampleSum())
					want[name+"_count"] = append(want[name+"_count"], float64(m.GetSummary().GetSampleCount()))
				case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
					// A count that is not an integer is kept as a float.
					for _, b := range m.GetHistogram().GetBucket() {
						c := float64(b.GetCumulativeCount())
						if b.CumulativeCountFloat != nil {
							c = b.GetCumulativeCountFloat()
						}
						want[name+"_bucket"] = append(want[name+"_bucket"], c)
					}
					want[name+"_sum"] = append(want[name+"_sum"], m.GetHistogram().GetSampleSum())
					c := float64(m.GetHistogram().GetSampleCount())
					if m.GetHistogram().SampleCountFloat != nil {
						c = m.GetHistogram().GetSampleCountFloat()
					}
					want[name+"_count"] = append(want[name+"_count"], c)
				default:
					want[name] = append(want[name], m.GetUntyped().GetValue())
				}
			}
		}
		n := 0
		for _, vs := range want {
			n += len(vs)
		}
		if len(got) != n {
			t.Fatalf("%d events, expfmt has %d samples", len(got), n)
		}
		seen := map[string]int{}
		for _, e := range got {
			name, ok := e.Fields["metric"].(string)
			v, isNum := e.Fields["value"].(float64)
			if !ok || !isNum {
				t.Fatalf("event without a metric name or numeric value: %v", e.Fields)
			}
			if !json.Valid(e.Raw) {
				t.Fatalf("raw form is not JSON: %q", e.Raw)
			}
			i := seen[name]
			seen[name]++
			if i >= len(want[name]) {
				t.Fatalf("more %s events than expfmt samples", name)
			}
			// Families keep their samples' order, so the i-th event of a
			// name is the i-th sample.
			if w := want[name][i]; math.Float64bits(w) != math.Float64bits(v) && !(math.IsNaN(w) && math.IsNaN(v)) {
				t.Fatalf("%s sample %d = %v, expfmt %v", name, i, v, w)
			}
		}
	})
}
