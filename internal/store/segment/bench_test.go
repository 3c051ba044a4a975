package segment

import (
	"syscall"
	"testing"
)

// BenchmarkAppend measures the log's write path alone, what storing an event
// costs the store's writer besides DuckDB: encoding the event as its line,
// writing a megabyte at a time (O_DIRECT where the file system allows it)
// and a commit, which syncs, every 1,000 events; no compression.
func BenchmarkAppend(b *testing.B) {
	l, err := Open(b.TempDir(), testOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	evs := benchEvents(20000)
	b.ReportAllocs()
	cpu0 := processCPU()
	for i := 0; b.Loop(); i++ {
		if err := l.Append(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			if err := l.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/event")
}

// processCPU is the process's user and system CPU time so far, in
// nanoseconds: the writes and syncs cost the kernel's time too.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
