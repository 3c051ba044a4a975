package promtext

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// expfmtFlat parses body with expfmt and flattens its families the way
// Flatten promises, one line per sample. ok is false when expfmt rejects
// the body; panicked when it panics (it does on some malformed input).
func expfmtFlat(body []byte) (lines []string, ok, panicked bool) {
	defer func() {
		if recover() != nil {
			lines, ok, panicked = nil, false, true
		}
	}()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, false, false
	}
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		fam := fams[name]
		for _, m := range fam.GetMetric() {
			var labels []Label
			for _, l := range m.GetLabel() {
				labels = append(labels, Label{l.GetName(), l.GetValue()})
			}
			f := Flat{Labels: labels, Timestamp: m.GetTimestampMs(), HasTimestamp: m.TimestampMs != nil}
			add := func(name, boundName string, bound, v float64) {
				f.Name, f.BoundName, f.Bound, f.Value = name, boundName, bound, v
				lines = append(lines, flatLine(&f))
			}
			switch fam.GetType() {
			case dto.MetricType_COUNTER:
				add(name, "", 0, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, "", 0, m.GetGauge().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add(name, "quantile", q.GetQuantile(), q.GetValue())
				}
				add(name+"_sum", "", 0, s.GetSampleSum())
				add(name+"_count", "", 0, float64(s.GetSampleCount()))
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					c := float64(b.GetCumulativeCount())
					if b.CumulativeCountFloat != nil {
						c = b.GetCumulativeCountFloat()
					}
					add(name+"_bucket", "le", b.GetUpperBound(), c)
				}
				add(name+"_sum", "", 0, h.GetSampleSum())
				c := float64(h.GetSampleCount())
				if h.SampleCountFloat != nil {
					c = h.GetSampleCountFloat()
				}
				add(name+"_count", "", 0, c)
			default:
				add(name, "", 0, m.GetUntyped().GetValue())
			}
		}
	}
	return lines, true, false
}

// flatLine writes a sample exactly: floats by their bits (any NaN as NaN).
func flatLine(f *Flat) string {
	bits := func(v float64) string {
		if math.IsNaN(v) {
			return "NaN"
		}
		return strconv.FormatUint(math.Float64bits(v), 16)
	}
	s := fmt.Sprintf("%q %q", f.Name, f.Labels)
	if f.BoundName != "" {
		s += " " + f.BoundName + "=" + bits(f.Bound)
	}
	s += " = " + bits(f.Value)
	if f.HasTimestamp {
		s += " @" + strconv.FormatInt(f.Timestamp, 10)
	}
	return s
}

func flatten(p *Parser, body []byte) ([]string, error) {
	var got []string
	err := p.Flatten(body, Text, func(f *Flat) { got = append(got, flatLine(f)) })
	return got, err
}

var fuzzSeeds = []string{
	"up 1\n",
	"# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\n",
	"# TYPE rpc summary\nrpc{quantile=\"0.5\"} 4773\nrpc_sum 1.7560473e+07\nrpc_count 2693\n",
	"# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 3\nlat_bucket{le=\"+Inf\"} 5\nlat_sum 1.5\nlat_count 5\n",
	"# TYPE lat histogram\nlat_bucket{a=\"1\",le=\"1\"} 3\nlat_bucket{a=\"2\",le=\"1\"} 1\nlat_bucket{a=\"1\",le=\"2\"} 4 1000\nlat_sum{a=\"1\"} 2\n",
	"# TYPE lat histogram\nlat_bucket{le=\"1\"} 2.5\nlat_count -0\nlat_sum 1\n",
	"x{metric=\"a\",value=\"b\"} NaN\ny -Inf\nx 2\n",
	"{\"utf8.name\"} 3\n{\"a b\",c=\"d\"} 4\n{c=\"d\",\"e\"} 5\n",
	"# HELP g a gauge\\n\\\\\n# TYPE g gauge\ng{a=\"\\n\\\"\\\\\"} 2\n",
	"\t # comment\n\nx{a=\"b\",} +5. 12\n  \n",
	"x 1 \n",
	"x 1",
	"x 0x10\nx 1_0\n",
	"# TYPE s summary\ns{quantile=\"0.5\"} 1\n{\"s\",quantile=\"0.9\"} 2\n{quantile=\"0.1\",\"t\"} 3\n",
	"# TYPE c COUNTER\nc 1\n# TYPE c gauge\n",
	"# TYPE h gaugehistogram\nh_bucket{le=\"1\"} 1\nh_gcount 1\n",
	exampleBody,
}

// FuzzFlattenExpfmt checks Flatten against expfmt, the reference: the same
// bodies are accepted, and for each the same samples come out, in the same
// order, labels, bounds, values (to the bit) and timestamps.
func FuzzFlattenExpfmt(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	var p Parser
	f.Fuzz(func(t *testing.T, body []byte) {
		want, ok, panicked := expfmtFlat(body)
		got, err := flatten(&p, body)
		if panicked {
			return // expfmt has no answer to compare with
		}
		if (err == nil) != ok {
			t.Fatalf("error %v, expfmt accepts: %v", err, ok)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("samples\n got %q\nwant %q", got, want)
		}
	})
}

// TestFlattenExporterBody holds a 1 MB exporter body, the benchmark's, to
// expfmt.
func TestFlattenExporterBody(t *testing.T) {
	body := exporterBody(1 << 20)
	want, ok, _ := expfmtFlat(body)
	if !ok {
		t.Fatal("expfmt rejects the body")
	}
	var p Parser
	got, err := flatten(&p, body)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("sample %d: got %s, want %s", i, got[i], want[i])
			}
		}
		t.Fatalf("%d samples, expfmt %d", len(got), len(want))
	}
}
