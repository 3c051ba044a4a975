package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Spread is the median and range of one figure over several runs.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Runs   int     `json:"runs"`
}

// NewSpread summarises xs.
func NewSpread(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1], Runs: len(s)}
}

// Result is what a scenario run prints: every run's summary and the spread
// of its key figures, with enough context to put it in docs/benchmarks.md.
type Result struct {
	Scenario    string            `json:"scenario"`
	Description string            `json:"description,omitempty"`
	Command     string            `json:"command"`
	Machine     string            `json:"machine"`
	GoVersion   string            `json:"go_version"`
	Date        string            `json:"date"`
	Figures     map[string]Spread `json:"figures"`
	Runs        []Summary         `json:"runs"`
}

// figure is one number taken from a Summary, with its target if the issue
// set one.
type figure struct {
	key    string
	unit   string
	target string
	get    func(Summary) float64
	// many, when set instead of get, computes the figure from all the
	// runs together (a fit across group counts), one value per series.
	many func([]Summary) []float64
	// only restricts the figure to these scenarios; empty: all.
	only []string
}

var figures = []figure{
	{key: "events_per_cpu_second", unit: "events/CPU-s", target: "≥ 600,000 (storage on)", only: []string{"push-10k-groups"},
		get: func(s Summary) float64 { return s.EventsPerCPUSecond }},
	{key: "events_per_cpu_second", unit: "events/CPU-s", only: []string{"push-10k-groups-nostore", "push-10k-groups-zstd"},
		get: func(s Summary) float64 { return s.EventsPerCPUSecond }},
	{key: "aggregated_per_s", unit: "events/s", target: "≥ 1,000,000 (storage off)", only: []string{"push-10k-groups-nostore"},
		get: func(s Summary) float64 { return s.AggregatedPerS }},
	{key: "aggregated_per_s", unit: "events/s", only: []string{"push-10k-groups", "push-10k-groups-zstd", "rss-100k-groups"},
		get: func(s Summary) float64 { return s.AggregatedPerS }},
	{key: "cpu_seconds_per_million_events", unit: "CPU-s", only: []string{"push-10k-groups", "push-10k-groups-zstd", "push-10k-groups-nostore"},
		get: func(s Summary) float64 { return s.CPUSecondsPerMillion }},
	{key: "throttled_429", unit: "answers", only: []string{"push-10k-groups", "push-10k-groups-zstd", "push-10k-groups-nostore"},
		get: func(s Summary) float64 { return float64(s.Throttled429) }},
	{key: "alert_latency_p50_ms", unit: "ms", only: []string{"alert-latency"},
		get: func(s Summary) float64 { return s.AlertLatencyMS.P50 }},
	{key: "alert_latency_p99_ms", unit: "ms", target: "≤ 50 ms", only: []string{"alert-latency"},
		get: func(s Summary) float64 { return s.AlertLatencyMS.P99 }},
	{key: "alert_latency_max_ms", unit: "ms", only: []string{"alert-latency"},
		get: func(s Summary) float64 { return s.AlertLatencyMS.Max }},
	{key: "alerts_matched_of_expected", unit: "fraction", only: []string{"alert-latency"},
		get: func(s Summary) float64 {
			if s.AlertsExpected == 0 {
				return 0
			}
			return float64(s.AlertsMatched) / float64(s.AlertsExpected)
		}},
	{key: "rss_per_group_bytes", unit: "bytes", target: "≤ 768 beyond a fixed base", only: []string{"rss-100k-groups"},
		get: func(s Summary) float64 { return s.RSSPerGroupBytes }},
	{key: "rss_steady_per_group_bytes", unit: "bytes", only: []string{"rss-100k-groups"},
		get: func(s Summary) float64 { return s.RSSSteadyPerGroupBytes }},
	{key: "rss_base_bytes", unit: "bytes", only: []string{"rss-100k-groups", "rss-groups-slope"},
		get: func(s Summary) float64 { return float64(s.RSSBaseBytes) }},
	{key: "rss_end_bytes", unit: "bytes", only: []string{"push-10k-groups", "push-10k-groups-zstd", "push-10k-groups-nostore", "rss-100k-groups"},
		get: func(s Summary) float64 { return float64(s.RSSEndBytes) }},
	{key: "rss_slope_bytes_per_group", unit: "bytes", target: "≤ 768 beyond a fixed base", only: []string{"rss-groups-slope"},
		many: slopeFigure(func(l Line) float64 { return l.Slope })},
	{key: "rss_intercept_bytes", unit: "bytes", only: []string{"rss-groups-slope"},
		many: slopeFigure(func(l Line) float64 { return l.Intercept })},
}

func (f figure) applies(scenario string) bool {
	return len(f.only) == 0 || slices.Contains(f.only, scenario)
}

// Figures computes the spread of each figure that applies to the scenario.
func Figures(scenario string, runs []Summary) map[string]Spread {
	out := map[string]Spread{}
	for _, f := range figures {
		if !f.applies(scenario) {
			continue
		}
		var xs []float64
		if f.many != nil {
			if xs = f.many(runs); len(xs) == 0 {
				continue // not enough runs for this figure
			}
		} else {
			for _, r := range runs {
				xs = append(xs, f.get(r))
			}
		}
		out[f.key] = NewSpread(xs)
	}
	return out
}

// Machine describes this machine as docs/benchmarks.md shows it: the CPU
// model from /proc/cpuinfo, the number of CPUs, the memory and the Go
// version this tool was built with (the one make bench builds lookout with).
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				f := strings.Fields(rest)
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					mem = fmt.Sprintf(", %.0f GiB", kb/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%s × %d%s, %s", model, runtime.NumCPU(), mem, runtime.Version())
}

// Bench is one benchmark's results over its -count runs.
type Bench struct {
	Pkg, Name string
	// Metrics maps a unit (ns/op, events/s, B/op …) to its values, one per
	// run.
	Metrics map[string][]float64
	order   []string
}

// ParseBench reads `go test -bench` output (as benchstat does): "pkg:"
// lines name the package of the benchmark lines that follow.
func ParseBench(r io.Reader) ([]*Bench, error) {
	var out []*Bench
	byKey := map[string]*Bench{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a benchmark that logged, or failed
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // drop the GOMAXPROCS suffix
			}
		}
		key := pkg + " " + name
		b := byKey[key]
		if b == nil {
			b = &Bench{Pkg: pkg, Name: name, Metrics: map[string][]float64{}}
			byKey[key] = b
			out = append(out, b)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("parsing %q: %w", line, err)
			}
			unit := f[i+1]
			if _, ok := b.Metrics[unit]; !ok {
				b.order = append(b.order, unit)
			}
			b.Metrics[unit] = append(b.Metrics[unit], v)
		}
	}
	return out, sc.Err()
}

// Units returns the bench's units in the order the output had them.
func (b *Bench) Units() []string { return b.order }

// Row is one line of the figures table.
type Row struct {
	Figure, Value, Spread, Target, Command, Machine, Date string
}

// LoadRows turns scenario results into table rows.
func LoadRows(results []Result) []Row {
	var rows []Row
	for _, r := range results {
		for _, f := range figures {
			if !f.applies(r.Scenario) {
				continue
			}
			sp, ok := r.Figures[f.key]
			if !ok {
				continue
			}
			rows = append(rows, Row{
				Figure:  fmt.Sprintf("%s: %s", r.Scenario, f.key),
				Value:   formatValue(sp.Median, f.unit),
				Spread:  fmt.Sprintf("%s – %s (%d runs)", formatNum(sp.Min), formatNum(sp.Max), sp.Runs),
				Target:  orDash(f.target),
				Command: "`" + r.Command + "`",
				Machine: r.Machine,
				Date:    r.Date,
			})
		}
	}
	return rows
}

// microUnits are the units shown for micro-benchmarks, most telling first.
var microUnits = []string{"events/s", "ns/op", "B/op", "allocs/op"}

// BenchRows turns micro-benchmark results into table rows.
func BenchRows(benches []*Bench, command, machine, date string) []Row {
	var rows []Row
	for _, b := range benches {
		for _, u := range microUnits {
			xs, ok := b.Metrics[u]
			if !ok {
				continue
			}
			sp := NewSpread(xs)
			rows = append(rows, Row{
				Figure:  fmt.Sprintf("%s %s", strings.TrimPrefix(b.Pkg, "github.com/lookout-dev/lookout/"), b.Name),
				Value:   formatValue(sp.Median, u),
				Spread:  fmt.Sprintf("%s – %s (%d runs)", formatNum(sp.Min), formatNum(sp.Max), sp.Runs),
				Target:  "–",
				Command: "`" + command + "`",
				Machine: machine,
				Date:    date,
			})
		}
	}
	return rows
}

// Table renders rows as a Markdown table.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| figure | value (median) | spread (min – max) | target | command | machine | date |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			r.Figure, r.Value, r.Spread, r.Target, r.Command, r.Machine, r.Date)
	}
	return b.String()
}

// Markers delimit the generated table in docs/benchmarks.md.
const (
	BeginMarker = "<!-- figures:begin (generated by lookout-load -update-doc; edit outside the markers) -->"
	EndMarker   = "<!-- figures:end -->"
)

// ReplaceTable puts table between the markers of doc. A doc without the
// markers is an error: the text around them is written by people.
func ReplaceTable(doc []byte, table string) ([]byte, error) {
	s := string(doc)
	i := strings.Index(s, BeginMarker)
	j := strings.Index(s, EndMarker)
	if i < 0 || j < i {
		return nil, fmt.Errorf("markers %q and %q not found in order", BeginMarker, EndMarker)
	}
	return []byte(s[:i+len(BeginMarker)] + "\n" + table + s[j:]), nil
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func formatValue(v float64, unit string) string {
	return formatNum(v) + " " + unit
}

// formatNum writes a number with thousands separators, and with up to three
// significant decimals below 100.
func formatNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	if math.Abs(v) < 100 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	d := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
