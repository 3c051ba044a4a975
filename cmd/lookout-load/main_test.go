package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/internal/loadgen"
)

// buildLookout builds the lookout binary the scenarios start.
func buildLookout(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lookout")
	cmd := exec.Command("go", "build", "-o", bin, "../lookout")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building lookout: %v\n%s", err, out)
	}
	return bin
}

// TestScenarioEndToEnd builds lookout and runs a short alert-latency
// scenario against it: load goes in through the push API, windows close,
// the rule fires for the bursts, the webhook reaches the tool, and the
// summary says so with sane numbers.
func TestScenarioEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs lookout")
	}
	bin := buildLookout(t)

	// Every built-in scenario's config is one lookout accepts.
	for _, name := range loadgen.BuiltinNames() {
		sc, _ := loadgen.Builtin(name)
		cfg, err := sc.Render("127.0.0.1:9470", t.TempDir(), "127.0.0.1:5001")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), name+".yaml")
		if err := os.WriteFile(p, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "check", "-config", p).CombinedOutput(); err != nil {
			t.Errorf("scenario %s: lookout check: %v\n%s", name, err, out)
		}
	}

	var stdout, stderr bytes.Buffer
	// Bursts of one 1 s window every 2 s: 6 s hold at least one burst whose
	// window closes in time.
	code := run([]string{"-scenario", "alert-latency", "-lookout", bin, "-duration", "6s",
		"-burst-every", "2s", "-burst-len", "1s", "-bad-fraction", "0.01"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout.String())
	}
	if len(res.Runs) != 1 {
		t.Fatalf("%d runs", len(res.Runs))
	}
	s := res.Runs[0]
	t.Logf("summary: %+v", s)
	checks := []struct {
		what string
		ok   bool
	}{
		{"lines were sent", s.LinesSent > 20000},
		{"lookout accepted the good lines", s.Accepted == s.LinesSent-s.BadLinesSent && s.Accepted > 0},
		{"lookout rejected exactly the bad lines", s.BadLinesSent > 0 && s.Rejected == s.BadLinesSent},
		{"nothing left unsent", s.UnsentLines == 0},
		{"events were aggregated", s.AggregatedPerS > 1000 && s.Aggregated > 0},
		{"lookout used CPU", s.CPUSeconds > 0 && s.EventsPerCPUSecond > 0},
		{"RSS was read", s.RSSBaseBytes > 1<<20 && s.RSSEndBytes > 1<<20},
		{"a burst was injected and detected", s.BurstsInjected >= 1 && s.BurstsDetected >= 1},
		{"alerts matched bursts", s.AlertsMatched >= 3},
		{"latency is positive and under a second", s.AlertLatencyMS.Count >= 3 && s.AlertLatencyMS.Min > 0 && s.AlertLatencyMS.Max < 1000},
		{"no run errors", len(s.Errors) == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: summary %+v", c.what, s)
		}
	}
	if res.Machine == "" || res.GoVersion == "" || !strings.Contains(res.Command, "-scenario alert-latency") {
		t.Errorf("result context: %+v", res)
	}
	if !strings.Contains(stderr.String(), "accepted/s=") {
		t.Errorf("no progress lines on stderr:\n%s", stderr.String())
	}
}

func TestUpdateDoc(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "benchmarks.md")
	os.WriteFile(doc, []byte("# B\n"+loadgen.BeginMarker+"\nold\n"+loadgen.EndMarker+"\nafter\n"), 0o644)
	micro := filepath.Join(dir, "micro.txt")
	os.WriteFile(micro, []byte("pkg: github.com/lookout-dev/lookout/internal/window\nBenchmarkPipeline-2 \t 10\t 100 ns/op\t 5000000 events/s\n"), 0o644)
	res := filepath.Join(dir, "r.json")
	b, _ := json.Marshal(loadgen.Result{Scenario: "rss-100k-groups", Command: "lookout-load -scenario rss-100k-groups",
		Figures: map[string]loadgen.Spread{"rss_per_group_bytes": {Median: 2048, Min: 2000, Max: 2100, Runs: 3}}})
	os.WriteFile(res, b, 0o644)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-update-doc", doc, "-micro", micro, res}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out, _ := os.ReadFile(doc)
	for _, want := range []string{"| rss-100k-groups: rss_per_group_bytes | 2,048 bytes | 2,000 – 2,100 (3 runs) | ≤ 768 beyond a fixed base |",
		"| internal/window BenchmarkPipeline | 5,000,000 events/s |", "after\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("doc lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "old") {
		t.Errorf("old table kept:\n%s", out)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-rate", "fast"}, 2},
		{[]string{"-rate", "-5"}, 2},
		{[]string{"stray"}, 2},
		{[]string{"-scenario", "no-such-scenario"}, 1},
		{[]string{"-list-scenarios"}, 0},
		{[]string{"-slope-services", "50000"}, 2},
		{[]string{"-slope-services", "1000,1000"}, 2},
		{[]string{"-slope-services", "1000,x"}, 2},
		{[]string{"-slope-services", "1000,-5"}, 2},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.code, stderr.String())
		}
	}
}

func TestSlopePoints(t *testing.T) {
	for _, tc := range []struct {
		name     string
		flag     string
		services int
		rate     float64
		want     []slopePoint
	}{
		{"no slope: the scenario's load", "", 100_000, 40_000, []slopePoint{{100_000, 40_000}}},
		// 40,000 events/s over 100,000 groups is 4 events per group and 10 s window at every count.
		{"rate scaled with the groups", "50000,200000", 100_000, 40_000, []slopePoint{{50_000, 20_000}, {200_000, 80_000}}},
		{"max stays max", "10,20", 100, 0, []slopePoint{{10, 0}, {20, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g groupCounts
			if tc.flag != "" {
				if err := g.Set(tc.flag); err != nil {
					t.Fatal(err)
				}
				if g.String() != tc.flag {
					t.Errorf("String() = %q, want %q", g.String(), tc.flag)
				}
			}
			got := slopePoints(g, tc.services, tc.rate)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("slopePoints = %v, want %v", got, tc.want)
			}
		})
	}
}
