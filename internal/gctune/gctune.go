package gctune

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultFloor is the headroom the heap may always grow by between
// collections: 64 MiB. In push-10k-groups it turned ~24 collections a
// second into ~9 (docs/benchmarks.md, "GC headroom floor").
const DefaultFloor = 64 << 20

// maxPercent bounds the percentage for a nearly empty heap.
const maxPercent = 1000

// Percent is the GC percentage that gives a live heap of live bytes at least
// floor bytes of headroom, and never less than Go's default of 100.
func Percent(live, floor uint64) int {
	if live == 0 {
		return maxPercent
	}
	if floor <= live {
		return 100
	}
	return int(min(floor*100/live, maxPercent))
}

// Run keeps the GC percentage at Percent(live heap, floor), checking every
// interval, until ctx is done; then it restores 100. It does nothing when
// GOGC is set in the environment.
func Run(ctx context.Context, floor uint64, interval time.Duration) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	cur := 100
	t := time.NewTicker(interval)
	defer t.Stop()
	defer debug.SetGCPercent(100)
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			// Change it only when it moves by a tenth: each change makes
			// the runtime recompute its pacing.
			if p := Percent(sample[0].Value.Uint64(), floor); p*10 < cur*9 || p*10 > cur*11 {
				debug.SetGCPercent(p)
				cur = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
