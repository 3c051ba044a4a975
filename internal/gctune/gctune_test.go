package gctune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		live, floor uint64
		want        int
	}{
		{30 * mb, 64 * mb, 213}, // small heap: 64 MB of headroom, not 30
		{64 * mb, 64 * mb, 100}, // at the floor: Go's default
		{100 * mb, 64 * mb, 64}, // above: still the floor, less than the default's 100 MB
		{128 * mb, 64 * mb, 50}, // from twice the floor: half the live heap
		{500 * mb, 64 * mb, 50},
		{1 * mb, 64 * mb, 1000}, // nearly empty: capped
		{0, 64 * mb, 1000},
	} {
		if got := Percent(tc.live, tc.floor); got != tc.want {
			t.Errorf("Percent(%d MB, %d MB) = %d, want %d", tc.live/mb, tc.floor/mb, got, tc.want)
		}
	}
}

// TestRunSetsAndRestores: the tuner raises the percentage for this test's
// small heap and puts Go's default back when it stops; with GOGC in the
// environment it leaves the percentage alone.
func TestRunSetsAndRestores(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, 1<<40, time.Millisecond); close(done) }() // a floor far above this heap
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p := gogc(); p == maxPercent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percent %d, want %d", gogc(), maxPercent)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if p := gogc(); p != 100 {
		t.Errorf("after Run: GC percent %d, want 100", p)
	}

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	defer debug.SetGCPercent(100)
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	Run(ctx, 1<<40, time.Millisecond)
	if p := gogc(); p != 150 {
		t.Errorf("with GOGC set: GC percent %d, want 150 untouched", p)
	}
}

// gogc reads the GC percentage without changing it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
