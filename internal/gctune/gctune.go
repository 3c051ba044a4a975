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

// MinPercent is the percentage for a live heap beyond twice the floor: the
// headroom is then half the live heap, not all of it as with Go's default.
// A live heap that large is window state of hundreds of thousands of groups,
// where memory per group is what the operator sizes for; collecting twice as
// often costs little there because such loads are rarely also at the
// highest event rates (docs/benchmarks.md, "GC headroom floor").
const MinPercent = 50

// Percent is the GC percentage that gives a live heap of live bytes
// max(floor, live × MinPercent/100) bytes of headroom.
func Percent(live, floor uint64) int {
	if live == 0 {
		return maxPercent
	}
	return int(min(max(floor*100/live, MinPercent), maxPercent))
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
