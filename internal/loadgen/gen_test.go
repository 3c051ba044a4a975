package loadgen

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

type line struct {
	TS        int64   `json:"ts"`
	Service   string  `json:"service"`
	Status    int     `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
}

// decode splits a batch into its valid events and the count of lines that
// are not JSON, the way lookout would see them.
func decode(t *testing.T, b []byte) (events []line, bad int) {
	t.Helper()
	for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var e line
		if err := json.Unmarshal(l, &e); err != nil {
			bad++
			continue
		}
		events = append(events, e)
	}
	return events, bad
}

func TestGeneratorLines(t *testing.T) {
	p := DefaultProfile()
	p.Services = 10
	g, err := NewGenerator(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_732_600_000_123)
	b, c := g.Append(nil, now, 1000)
	events, bad := decode(t, b)
	if bad != 0 || len(events) != 1000 || c.Lines != 1000 || c.Bad != 0 {
		t.Fatalf("got %d events, %d bad lines, counts %+v; want 1000 valid", len(events), bad, c)
	}
	perService := map[string]int{}
	for _, e := range events {
		if e.TS != now.UnixMilli() {
			t.Fatalf("ts %d, want %d (no disorder configured)", e.TS, now.UnixMilli())
		}
		if e.LatencyMS <= 0 {
			t.Fatalf("latency_ms %v, want > 0", e.LatencyMS)
		}
		perService[e.Service]++
	}
	// Round-robin: every service gets exactly its share, so every group
	// is active in every window.
	if len(perService) != 10 {
		t.Fatalf("%d services, want 10: %v", len(perService), perService)
	}
	for s, n := range perService {
		if n != 100 {
			t.Errorf("service %s got %d events, want 100", s, n)
		}
	}
	if !strings.HasPrefix(g.ServiceName(3), "svc-3") {
		t.Errorf("service name %q", g.ServiceName(3))
	}
}

func TestGeneratorLatencyIsLogNormal(t *testing.T) {
	for _, tc := range []struct{ mu, sigma float64 }{
		{math.Log(20), 0.5},
		{math.Log(200), 1.2},
	} {
		t.Run("", func(t *testing.T) {
			p := DefaultProfile()
			p.LatencyMu, p.LatencySigma = tc.mu, tc.sigma
			g, _ := NewGenerator(p, 0)
			b, _ := g.Append(nil, time.Now(), 100_000)
			events, _ := decode(t, b)
			var sum, sq float64
			for _, e := range events {
				l := math.Log(e.LatencyMS)
				sum += l
				sq += l * l
			}
			n := float64(len(events))
			mean := sum / n
			sd := math.Sqrt(sq/n - mean*mean)
			// 100,000 samples: the standard error of the mean is sigma/316.
			if math.Abs(mean-tc.mu) > 0.02 || math.Abs(sd-tc.sigma) > 0.02 {
				t.Errorf("ln(latency_ms) mean %.3f sd %.3f, want %.3f and %.3f", mean, sd, tc.mu, tc.sigma)
			}
		})
	}
}

func TestGeneratorFractions(t *testing.T) {
	const n = 100_000
	bursts := Bursts{Every: 20 * time.Second, Len: 3 * time.Second}
	inBurst := time.Unix(1_000_000_000, 0).Add(time.Second) // epoch-aligned: 1e9 s is a multiple of 20 s
	outside := inBurst.Add(5 * time.Second)
	for _, tc := range []struct {
		name    string
		profile func(*Profile)
		now     time.Time
		check   func(t *testing.T, events []line, bad int, c Counts)
	}{
		{"bad lines", func(p *Profile) { p.BadFraction = 0.1 }, outside, func(t *testing.T, events []line, bad int, c Counts) {
			if bad != c.Bad || math.Abs(float64(bad)/n-0.1) > 0.005 {
				t.Errorf("%d bad lines (counted %d), want about %d", bad, c.Bad, n/10)
			}
		}},
		{"late events", func(p *Profile) { p.LateFraction = 0.05; p.LateBy = time.Minute }, outside, func(t *testing.T, events []line, bad int, c Counts) {
			late := 0
			for _, e := range events {
				if e.TS == outside.Add(-time.Minute).UnixMilli() {
					late++
				}
			}
			if late != c.Late || math.Abs(float64(late)/n-0.05) > 0.005 {
				t.Errorf("%d late events (counted %d), want about %d", late, c.Late, n/20)
			}
		}},
		{"disorder", func(p *Profile) { p.Disorder = 500 * time.Millisecond }, outside, func(t *testing.T, events []line, bad int, c Counts) {
			lo, hi, moved := outside.Add(-500*time.Millisecond).UnixMilli(), outside.UnixMilli(), 0
			for _, e := range events {
				if e.TS < lo || e.TS > hi {
					t.Fatalf("ts %d outside [%d, %d]", e.TS, lo, hi)
				}
				if e.TS < hi-250 {
					moved++
				}
			}
			if math.Abs(float64(moved)/n-0.5) > 0.01 {
				t.Errorf("%d of %d events more than 250 ms back, want about half", moved, n)
			}
		}},
		{"errors outside a burst", func(p *Profile) {
			p.Bursts, p.BurstServices, p.BurstErrorRate = bursts, 2, 0.5
		}, outside, func(t *testing.T, events []line, bad int, c Counts) {
			rate := errorRates(events)
			for s, r := range rate {
				if math.Abs(r-0.01) > 0.01 {
					t.Errorf("service %s error rate %.3f outside a burst, want about 0.01", s, r)
				}
			}
			if c.Burst != 0 {
				t.Errorf("%d burst events outside a burst", c.Burst)
			}
		}},
		{"errors in a burst", func(p *Profile) {
			p.Bursts, p.BurstServices, p.BurstErrorRate = bursts, 2, 0.5
		}, inBurst, func(t *testing.T, events []line, bad int, c Counts) {
			rate := errorRates(events)
			for s, r := range rate {
				want := 0.01
				if s == "svc-00" || s == "svc-01" {
					want = 0.5
				}
				if math.Abs(r-want) > 0.05 {
					t.Errorf("service %s error rate %.3f in a burst, want about %v", s, r, want)
				}
			}
			if c.Burst != n/20*2 {
				t.Errorf("%d burst events, want %d (2 of 20 services)", c.Burst, n/20*2)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultProfile()
			p.Services = 20
			tc.profile(&p)
			g, err := NewGenerator(p, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, c := g.Append(nil, tc.now, n)
			events, bad := decode(t, b)
			if len(events)+bad != n || c.Lines != n {
				t.Fatalf("%d lines, want %d", len(events)+bad, n)
			}
			tc.check(t, events, bad, c)
		})
	}
}

func errorRates(events []line) map[string]float64 {
	errs, all := map[string]float64{}, map[string]float64{}
	for _, e := range events {
		all[e.Service]++
		if e.Status >= 500 {
			errs[e.Service]++
		}
	}
	out := map[string]float64{}
	for s, n := range all {
		out[s] = errs[s] / n
	}
	return out
}

func TestWorkersCoverEveryService(t *testing.T) {
	p := DefaultProfile()
	p.Services = 1000
	seen := map[string]int{}
	for w := range 3 {
		g, _ := NewGenerator(p, w)
		b, _ := g.Append(nil, time.Now(), 1000)
		events, _ := decode(t, b)
		for _, e := range events {
			seen[e.Service]++
		}
	}
	for i := range 1000 {
		g, _ := NewGenerator(p, 0)
		if seen[g.ServiceName(i)] != 3 {
			t.Fatalf("service %d got %d events from 3 workers of 1000 each, want 3", i, seen[g.ServiceName(i)])
		}
	}
}

func TestProfileValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Profile)
		want string
	}{
		{"no services", func(p *Profile) { p.Services = 0 }, "services"},
		{"burst services over services", func(p *Profile) { p.BurstServices = 101 }, "burst services"},
		{"bad fraction over 1", func(p *Profile) { p.BadFraction = 1.5 }, "bad fraction"},
		{"negative late fraction", func(p *Profile) { p.LateFraction = -0.1 }, "late fraction"},
		{"negative sigma", func(p *Profile) { p.LatencySigma = -1 }, "sigma"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultProfile()
			tc.mod(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error about %s", err, tc.want)
			}
			if _, err := NewGenerator(p, 0); err == nil {
				t.Fatal("NewGenerator accepted an invalid profile")
			}
		})
	}
	if err := DefaultProfile().Validate(); err != nil {
		t.Fatalf("default profile: %v", err)
	}
}

func BenchmarkGenerator(b *testing.B) {
	p := DefaultProfile()
	p.Services = 10000
	g, _ := NewGenerator(p, 0)
	var buf []byte
	now := time.Now()
	for b.Loop() {
		buf, _ = g.Append(buf[:0], now, 1000)
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}
