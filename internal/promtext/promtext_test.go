package promtext

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const exampleBody = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.99"} NaN
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
`

// sampleLine is a Sample reduced to what a test compares.
func sampleLine(s *Sample) string {
	l := fmt.Sprintf("%s/%s %s %v", s.Family, s.Name, s.Labels, s.Value)
	switch s.Role {
	case Bucket:
		l += fmt.Sprintf(" le=%v", s.Bound)
	case Quantile:
		l += fmt.Sprintf(" quantile=%v", s.Bound)
	case Sum:
		l += " sum"
	case Count:
		l += " count"
	}
	if s.Group >= 0 {
		l += fmt.Sprintf(" group=%d", s.Group)
	}
	if s.HasTimestamp {
		l += fmt.Sprintf(" @%d", s.Timestamp)
	}
	if s.Exemplar != nil {
		l += fmt.Sprintf(" # %s %v", s.Exemplar.Labels, s.Exemplar.Value)
		if s.Exemplar.HasTimestamp {
			l += fmt.Sprintf(" @%d", s.Exemplar.Timestamp)
		}
	}
	return l
}

func parseAll(t *testing.T, body string, f Format) []string {
	t.Helper()
	var p Parser
	var got []string
	if err := p.Parse([]byte(body), f, func(s *Sample) { got = append(got, sampleLine(s)) }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestParseText(t *testing.T) {
	got := parseAll(t, exampleBody, Text)
	want := []string{
		`http_requests_total/http_requests_total [{method post} {code 200}] 1027 @1395066363000`,
		`http_requests_total/http_requests_total [{method post} {code 400}] 3 @1395066363000`,
		`msdos_file_access_time_seconds/msdos_file_access_time_seconds [{path C:\DIR\FILE.TXT} {error Cannot find file:` + "\n" + `"FILE.TXT"}] 1.458255915e+09`,
		`metric_without_timestamp_and_labels/metric_without_timestamp_and_labels [] 12.47`,
		`something_weird/something_weird [{problem division by zero}] +Inf @-3982045`,
		`http_request_duration_seconds/http_request_duration_seconds_bucket [] 24054 le=0.05 group=0`,
		`http_request_duration_seconds/http_request_duration_seconds_bucket [] 144320 le=+Inf group=0`,
		`http_request_duration_seconds/http_request_duration_seconds_sum [] 53423 sum group=0`,
		`http_request_duration_seconds/http_request_duration_seconds_count [] 144320 count group=0`,
		`rpc_duration_seconds/rpc_duration_seconds [] 3102 quantile=0.01 group=1`,
		`rpc_duration_seconds/rpc_duration_seconds [] NaN quantile=0.99 group=1`,
		`rpc_duration_seconds/rpc_duration_seconds_sum [] 1.7560473e+07 sum group=1`,
		`rpc_duration_seconds/rpc_duration_seconds_count [] 2693 count group=1`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("samples\n got %q\nwant %q", got, want)
	}
}

// TestFlattenMerges: the lines of one histogram merge by labels, missing
// sums and counts are 0, and families come in name order, as expfmt's
// families flatten.
func TestFlattenMerges(t *testing.T) {
	body := "z 1\n# TYPE lat histogram\nlat_bucket{a=\"1\",le=\"1\"} 3\nlat_bucket{a=\"2\",le=\"1\"} 1\nlat_bucket{a=\"1\",le=\"2.0\"} 4 1000\na 2\n"
	var p Parser
	var got []string
	err := p.Flatten([]byte(body), Text, func(f *Flat) {
		l := fmt.Sprintf("%s %s", f.Name, f.Labels)
		if f.BoundName != "" {
			l += fmt.Sprintf(" %s=%v", f.BoundName, f.Bound)
		}
		l += fmt.Sprintf(" = %v", f.Value)
		if f.HasTimestamp {
			l += fmt.Sprintf(" @%d", f.Timestamp)
		}
		got = append(got, l)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a [] = 2",
		"lat_bucket [{a 1}] le=1 = 3 @1000",
		"lat_bucket [{a 1}] le=2 = 4 @1000",
		"lat_sum [{a 1}] = 0 @1000",
		"lat_count [{a 1}] = 0 @1000",
		"lat_bucket [{a 2}] le=1 = 1",
		"lat_sum [{a 2}] = 0",
		"lat_count [{a 2}] = 0",
		"z [] = 1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("samples\n got %q\nwant %q", got, want)
	}
}

func TestParseTextErrors(t *testing.T) {
	for _, tt := range []struct{ body, msg string }{
		{"x 1", "line 1: unexpected end of input stream"},
		{"a 1\nx{a=\"b\" 1\n", "line 2: unexpected end of label value"},
		{"x{a=\"\\t\"} 1\n", "line 1: invalid escape sequence"},
		{"x 1 \n", "line 1: expected integer as timestamp"},
		{"x 1 2 3\n", "line 1: spurious string after timestamp"},
		{"x one\n", "line 1: expected float as value"},
		{"x 0x1p3\n", "line 1: expected float as value"},
		{"x{a=\"1\",a=\"2\"} 1\n", "line 1: duplicate label names"},
		{"x{__name__=\"y\"} 1\n", "line 1: label name \"__name__\" is reserved"},
		{"x 1\n# TYPE x gauge\n", "line 2: second TYPE line"},
		{"# TYPE x ghost\n", "line 1: unknown metric type"},
		{"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", "line 2: expected float as value for \"le\" label"},
		{"# TYPE h histogram\nh_count -1\n", "line 2: negative count"},
		{"{} 1\n", "line 1: invalid metric name"},
	} {
		var p Parser
		err := p.Parse([]byte(tt.body), Text, func(*Sample) {})
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tt.msg) {
			t.Errorf("%q: error %v, want %q", tt.body, err, tt.msg)
		}
	}
}

const omBody = `# TYPE foo histogram
# HELP foo Latency.
# UNIT foo seconds
foo_bucket{le="0.1"} 8 1520879607.789 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.054 1520879607.7
foo_bucket{le="+Inf"} 17
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# TYPE requests counter
requests_total{path="/a b"} 3 # {trace_id="00f067aa0ba902b7"} 1
{"odd.name",k="v"} 1
# EOF
`

func TestParseOpenMetrics(t *testing.T) {
	got := parseAll(t, omBody, OpenMetrics)
	want := []string{
		`foo/foo_bucket [{le 0.1}] 8 @1520879607789 # [{trace_id 4bf92f3577b34da6a3ce929d0e0e4736}] 0.054 @1520879607700`,
		`foo/foo_bucket [{le +Inf}] 17`,
		`foo/foo_count [] 17`,
		`foo/foo_sum [] 324789.3`,
		`foo/foo_created [] 1.520430000123e+09`,
		`requests/requests_total [{path /a b}] 3 # [{trace_id 00f067aa0ba902b7}] 1`,
		`odd.name/odd.name [{k v}] 1`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("samples\n got %q\nwant %q", got, want)
	}
}

func TestParseOpenMetricsErrors(t *testing.T) {
	for _, tt := range []struct{ body, msg string }{
		{"a 1\n", "line 1: no # EOF at the end"},
		{"a 1\n# EOF\nb 2\n", "line 3: content after # EOF"},
		{"a 1 # trace\n# EOF\n", "line 1: expected an exemplar"},
		{"a 1 x\n# EOF\n", "line 1: expected a timestamp in seconds"},
		{"# TYPE a sometype\n# EOF\n", "line 1: unknown metric type"},
		{"a{b=c} 1\n# EOF\n", "line 1: expected '\"' at start of label value"},
	} {
		var p Parser
		err := p.Parse([]byte(tt.body), OpenMetrics, func(*Sample) {})
		if err == nil || !strings.HasPrefix(err.Error(), tt.msg) {
			t.Errorf("%q: error %v, want %q", tt.body, err, tt.msg)
		}
	}
}

func TestFormat(t *testing.T) {
	for ct, want := range map[string]Format{
		"application/openmetrics-text; version=1.0.0; charset=utf-8": OpenMetrics,
		"Application/OpenMetrics-Text":                               OpenMetrics,
		"text/plain; version=0.0.4; charset=utf-8":                   Text,
		"": Text,
	} {
		if got := FormatOf(ct); got != want {
			t.Errorf("FormatOf(%q) = %v, want %v", ct, got, want)
		}
	}
	if Sniff([]byte(omBody)) != OpenMetrics || Sniff([]byte(exampleBody)) != Text || Sniff([]byte("# EOF")) != OpenMetrics {
		t.Error("Sniff tells the formats apart wrongly")
	}
}

// TestParseFloat holds the short path to strconv.ParseFloat.
func TestParseFloat(t *testing.T) {
	for _, s := range []string{"0", "-0", "+5.", ".5", "123456789012345", "0.000000000000001", "-99.99", "1e3", "1234567890123456", "NaN", "+Inf", "-inf", "1_0", ".", "-", "", "1.2.3"} {
		got, ok := parseFloat(s)
		want, err := strconvParse(s)
		if ok != (err == nil) || (ok && math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want))) {
			t.Errorf("parseFloat(%q) = %v %v, want %v %v", s, got, ok, want, err)
		}
	}
}

func strconvParse(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, errors.New("unsupported")
	}
	return strconv.ParseFloat(s, 64)
}

// FuzzParseFloat holds the short path to strconv.ParseFloat.
func FuzzParseFloat(f *testing.F) {
	for _, s := range []string{"1e22", "1e23", "1.5e-22", "9.876543e+12", "1e+", "1e", "1e-0", "1E5", "1e00005", "-0e3", "123456789012345e-22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseFloat(s)
		want, err := strconvParse(s)
		if ok != (err == nil) || (ok && math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want))) {
			t.Fatalf("parseFloat(%q) = %v %v, want %v %v", s, got, ok, want, err)
		}
	})
}
