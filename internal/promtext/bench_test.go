package promtext

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	vmprom "github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/prometheus"
)

// BenchmarkParseExporter parses the same 1 MB exporter body with promtext
// and with VictoriaMetrics' parser, side by side in one run; each reports
// samples/s. Parse is the sample stream; Flatten also merges summaries and
// histograms and orders families, as the http source uses it.
func BenchmarkParseExporter(b *testing.B) {
	body := exporterBody(1 << 20)
	var p Parser
	want := 0
	if err := p.Parse(body, Text, func(*Sample) { want++ }); err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, n int) {
		if n != want*b.N {
			b.Fatalf("%d samples in %d parses, want %d each", n, b.N, want)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
	}
	b.Run("promtext", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if err := p.Parse(body, Text, func(*Sample) { n++ }); err != nil {
				b.Fatal(err)
			}
		}
		report(b, n)
	})
	b.Run("victoriametrics", func(b *testing.B) {
		s := string(body)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		var rows vmprom.Rows
		n := 0
		for b.Loop() {
			rows.UnmarshalWithErrLogger(s, func(e string) { b.Fatal(e) })
			n += len(rows.Rows)
		}
		report(b, n)
	})
	// Both parsers in turn, one body each per iteration, timed by the CPU
	// time of the thread that runs them, so that a machine whose load
	// changes from second to second slows both alike: the ratio is the
	// steadier figure.
	b.Run("alternating", func(b *testing.B) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		s := string(body)
		var rows vmprom.Rows
		var mine, theirs time.Duration
		n := 0
		for b.Loop() {
			t0 := threadCPU(b)
			if err := p.Parse(body, Text, func(*Sample) { n++ }); err != nil {
				b.Fatal(err)
			}
			t1 := threadCPU(b)
			rows.UnmarshalWithErrLogger(s, func(e string) { b.Fatal(e) })
			t2 := threadCPU(b)
			mine, theirs = mine+t1-t0, theirs+t2-t1
		}
		b.ReportMetric(float64(n)/mine.Seconds(), "promtext-samples/cpu-s")
		b.ReportMetric(float64(n)/theirs.Seconds(), "vm-samples/cpu-s")
		b.ReportMetric(theirs.Seconds()/mine.Seconds(), "ratio")
	})
	b.Run("promtext-flatten", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if err := p.Flatten(body, Text, func(*Flat) { n++ }); err != nil {
				b.Fatal(err)
			}
		}
		// Flatten gives no fewer samples: every line is one here.
		report(b, n)
	})
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}
