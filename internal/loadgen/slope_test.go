package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestFitLine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		xs, ys  []float64
		want    Line
		wantErr bool
	}{
		{"two points", []float64{50_000, 200_000}, []float64{60e6, 150e6}, Line{Slope: 600, Intercept: 30e6}, false},
		{"three points on a line", []float64{1, 2, 3}, []float64{12, 14, 16}, Line{Slope: 2, Intercept: 10}, false},
		// Least squares through (0,0), (1,2), (2,1): slope 0.5, intercept 0.5.
		{"three points off a line", []float64{0, 1, 2}, []float64{0, 2, 1}, Line{Slope: 0.5, Intercept: 0.5}, false},
		{"negative slope", []float64{10, 20}, []float64{100, 50}, Line{Slope: -5, Intercept: 150}, false},
		{"one point", []float64{1}, []float64{1}, Line{}, true},
		{"same x twice", []float64{5, 5}, []float64{1, 2}, Line{}, true},
		{"lengths differ", []float64{1, 2}, []float64{1}, Line{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FitLine(tc.xs, tc.ys)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if math.Abs(got.Slope-tc.want.Slope) > 1e-9 || math.Abs(got.Intercept-tc.want.Intercept) > 1e-6 {
				t.Errorf("FitLine = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSteadyRSS(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var samples []rssSample
	for i, mb := range []int64{100, 100, 200, 300, 250, 150} { // one per second
		samples = append(samples, rssSample{t0.Add(time.Duration(i) * time.Second), mb << 20})
	}
	end := t0.Add(5 * time.Second)
	for _, tc := range []struct {
		name       string
		span       time.Duration
		wantMeanMB float64
		wantPeakMB int64
		wantOK     bool
		samples    []rssSample
	}{
		{"last 3 s: the samples at end-3s to end", 3 * time.Second, (200 + 300 + 250 + 150) / 4.0, 300, true, samples},
		{"last 0 s: the end sample only", 0, 150, 150, true, samples},
		{"all", time.Minute, (100 + 100 + 200 + 300 + 250 + 150) / 6.0, 300, true, samples},
		{"no samples", time.Minute, 0, 0, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mean, peak, ok := steadyRSS(tc.samples, end, tc.span)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if got := float64(mean) / (1 << 20); math.Abs(got-tc.wantMeanMB) > 1e-6 {
				t.Errorf("mean = %.3f MiB, want %.3f", got, tc.wantMeanMB)
			}
			if peak != tc.wantPeakMB<<20 {
				t.Errorf("peak = %d MiB, want %d", peak>>20, tc.wantPeakMB)
			}
		})
	}
}

// run builds a summary of a run at groups groups that grew the idle RSS by
// growth bytes over the last window.
func run(groups int, growth int64) Summary {
	const idle = 100 << 20
	return Summary{ActiveGroups: groups, RSSBaseBytes: idle, RSSSteadyBytes: idle + growth, RSSEndBytes: idle + growth + 7<<20}
}

func TestSlopeFits(t *testing.T) {
	// Series 1: 50 MB fixed + 500 B per group; series 2: 40 MB + 600 B.
	runs := []Summary{
		run(50_000, 50e6+500*50_000), run(200_000, 50e6+500*200_000),
		run(50_000, 40e6+600*50_000), run(200_000, 40e6+600*200_000),
	}
	fits, err := SlopeFits(runs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{{500, 50e6}, {600, 40e6}}
	if len(fits) != len(want) {
		t.Fatalf("%d fits, want %d: %+v", len(fits), len(want), fits)
	}
	for i := range want {
		if math.Abs(fits[i].Slope-want[i].Slope) > 1e-6 || math.Abs(fits[i].Intercept-want[i].Intercept) > 1e-3 {
			t.Errorf("series %d: %+v, want %+v", i+1, fits[i], want[i])
		}
	}

	t.Run("the steady figure, not the end sample", func(t *testing.T) {
		f, _ := SlopeFits(runs[:2])
		if math.Abs(f[0].Intercept-50e6) > 1e-3 { // the end samples are 7 MiB higher
			t.Errorf("intercept %v, want 50e6", f[0].Intercept)
		}
	})
	t.Run("an incomplete series is left out", func(t *testing.T) {
		f, err := SlopeFits(runs[:3])
		if err != nil || len(f) != 1 {
			t.Errorf("fits %+v, err %v; want one", f, err)
		}
	})
	t.Run("one group count is no slope", func(t *testing.T) {
		if _, err := SlopeFits([]Summary{run(1000, 1), run(1000, 2)}); err == nil {
			t.Error("no error")
		}
	})

	t.Run("figures", func(t *testing.T) {
		figs := Figures("rss-groups-slope", runs)
		if sp := figs["rss_slope_bytes_per_group"]; math.Abs(sp.Median-550) > 1e-6 || sp.Min != 500 || math.Abs(sp.Max-600) > 1e-6 || sp.Runs != 2 {
			t.Errorf("slope %+v", sp)
		}
		if sp := figs["rss_intercept_bytes"]; math.Abs(sp.Median-45e6) > 1e-3 {
			t.Errorf("intercept %+v", sp)
		}
		if sp := figs["rss_base_bytes"]; sp.Median != 100<<20 || sp.Runs != 4 {
			t.Errorf("idle %+v", sp)
		}
		rows := LoadRows([]Result{{Scenario: "rss-groups-slope", Command: "c", Figures: figs}})
		if len(rows) != 3 || rows[1].Figure != "rss-groups-slope: rss_slope_bytes_per_group" || rows[1].Value != "550 bytes" || rows[1].Target != "≤ 768 beyond a fixed base" {
			t.Errorf("rows %+v", rows)
		}
		if _, ok := Figures("rss-100k-groups", runs)["rss_slope_bytes_per_group"]; ok {
			t.Error("a slope for a one-count scenario")
		}
	})
}
