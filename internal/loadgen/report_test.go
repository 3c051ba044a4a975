package loadgen

import (
	"strings"
	"testing"
)

const benchOut = `goos: linux
goarch: amd64
pkg: github.com/lookout-dev/lookout/internal/window
cpu: AMD EPYC
BenchmarkPipeline-2   	      12	  95000000 ns/op	   1052631 events/s	  1024 B/op	  10 allocs/op
BenchmarkPipeline-2   	      12	  97000000 ns/op	   1030927 events/s	  1024 B/op	  10 allocs/op
BenchmarkPipeline-2   	      12	  90000000 ns/op	   1111111 events/s	  1024 B/op	  10 allocs/op
PASS
ok  	github.com/lookout-dev/lookout/internal/window	5.1s
pkg: github.com/lookout-dev/lookout/internal/store
BenchmarkWriteEvents/batch=1000-2 	 100	 2000 ns/op
BenchmarkWriteEvents/batch=1000-2 	 100	 4000 ns/op
BenchmarkBroken-2 --- FAIL: something
`

func TestParseBench(t *testing.T) {
	benches, err := ParseBench(strings.NewReader(benchOut))
	if err != nil {
		t.Fatal(err)
	}
	if len(benches) != 2 {
		t.Fatalf("%d benchmarks, want 2: %+v", len(benches), benches)
	}
	p := benches[0]
	if p.Pkg != "github.com/lookout-dev/lookout/internal/window" || p.Name != "BenchmarkPipeline" {
		t.Errorf("first bench %s %s", p.Pkg, p.Name)
	}
	if sp := NewSpread(p.Metrics["ns/op"]); sp.Median != 95e6 || sp.Min != 90e6 || sp.Max != 97e6 || sp.Runs != 3 {
		t.Errorf("ns/op spread %+v", sp)
	}
	if got := strings.Join(p.Units(), ","); got != "ns/op,events/s,B/op,allocs/op" {
		t.Errorf("units %s", got)
	}
	w := benches[1]
	if w.Name != "BenchmarkWriteEvents/batch=1000" || NewSpread(w.Metrics["ns/op"]).Median != 3000 {
		t.Errorf("second bench %s %v", w.Name, w.Metrics)
	}
	rows := BenchRows(benches, "go test -bench .", "m", "d")
	if len(rows) != 5 || rows[0].Figure != "internal/window BenchmarkPipeline" || rows[0].Value != "1,052,631 events/s" {
		t.Errorf("rows %+v", rows)
	}
}

func TestReplaceTable(t *testing.T) {
	doc := "# Benchmarks\n\nintro\n\n" + BeginMarker + "\nold table\n" + EndMarker + "\n\nnotes\n"
	out, err := ReplaceTable([]byte(doc), "| new |\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Benchmarks\n\nintro\n\n" + BeginMarker + "\n| new |\n" + EndMarker + "\n\nnotes\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if _, err := ReplaceTable([]byte("no markers"), "x"); err == nil {
		t.Error("a doc without markers was rewritten")
	}
}

func TestFiguresAndRows(t *testing.T) {
	runs := []Summary{
		{EventsPerCPUSecond: 100_000, AggregatedPerS: 90_000},
		{EventsPerCPUSecond: 120_000, AggregatedPerS: 95_000},
		{EventsPerCPUSecond: 110_000, AggregatedPerS: 80_000},
	}
	f := Figures("push-10k-groups", runs)
	if sp := f["events_per_cpu_second"]; sp.Median != 110_000 || sp.Min != 100_000 || sp.Max != 120_000 {
		t.Errorf("events_per_cpu_second %+v", sp)
	}
	if _, ok := f["alert_latency_p99_ms"]; ok {
		t.Error("an alert figure for a throughput scenario")
	}
	rows := LoadRows([]Result{{Scenario: "push-10k-groups", Command: "lookout-load -scenario push-10k-groups", Figures: f}})
	var got *Row
	for i := range rows {
		if rows[i].Figure == "push-10k-groups: events_per_cpu_second" {
			got = &rows[i]
		}
	}
	if got == nil || got.Value != "110,000 events/CPU-s" || got.Target != "≥ 600,000 (storage on)" || got.Spread != "100,000 – 120,000 (3 runs)" {
		t.Errorf("row %+v", got)
	}
	if s := NewSpread([]float64{4, 1, 3, 2}); s.Median != 2.5 {
		t.Errorf("even median %v", s.Median)
	}
}

func TestFormatNum(t *testing.T) {
	for in, want := range map[float64]string{1234567.8: "1,234,568", 12.345: "12.3", 0.5: "0.5", 999: "999", -4321: "-4,321"} {
		if got := formatNum(in); got != want {
			t.Errorf("formatNum(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestBuiltinScenarios(t *testing.T) {
	names := BuiltinNames()
	if len(names) < 4 {
		t.Fatalf("built-in scenarios %v", names)
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			s, ok := Builtin(n)
			if !ok || s.Name != n {
				t.Fatalf("Builtin(%q) = %+v, %v", n, s, ok)
			}
			cfg, err := s.Render("127.0.0.1:1", "/tmp/d", "127.0.0.1:2")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(cfg), "listen: 127.0.0.1:1") || strings.Contains(string(cfg), "{{.") {
				t.Errorf("rendered config:\n%s", cfg)
			}
		})
	}
	if _, err := ParseScenario([]byte("name: x\nbogus: 1\nconfig: y\n")); err == nil {
		t.Error("a scenario with an unknown key parsed")
	}
}
