package loadgen

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestBursts(t *testing.T) {
	b := Bursts{Every: 20 * time.Second, Len: 3 * time.Second}
	epoch := time.Unix(1_000_000_000, 0) // a multiple of 20 s
	for _, tc := range []struct {
		at     time.Duration
		k      int64
		inside bool
	}{
		{0, 50_000_000, true},
		{2999 * time.Millisecond, 50_000_000, true},
		{3 * time.Second, 50_000_000, false},
		{19 * time.Second, 50_000_000, false},
		{20 * time.Second, 50_000_001, true},
		{-1 * time.Second, 49_999_999, false},
	} {
		k, in := b.Index(epoch.Add(tc.at))
		if k != tc.k || in != tc.inside {
			t.Errorf("Index(epoch%+v) = %d, %v; want %d, %v", tc.at, k, in, tc.k, tc.inside)
		}
	}
	if got := b.Start(50_000_001); !got.Equal(epoch.Add(20 * time.Second)) {
		t.Errorf("Start = %v", got)
	}
	got := b.Between(epoch.Add(-time.Second), epoch.Add(40*time.Second))
	if want := []int64{50_000_000, 50_000_001}; !slices.Equal(got, want) {
		t.Errorf("Between = %v, want %v", got, want)
	}
	if (Bursts{}).In(epoch) || (Bursts{}).Between(epoch, epoch.Add(time.Hour)) != nil {
		t.Error("the zero schedule has bursts")
	}
	off := Bursts{Every: 20 * time.Second, Len: 3 * time.Second, Offset: 5 * time.Second}
	if off.In(epoch) || !off.In(epoch.Add(6*time.Second)) {
		t.Error("Offset does not shift the bursts")
	}
}

func TestPacerRate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rate        float64
		batch       int
		wantBatches int64 // sent within 10 s
	}{
		{"10k/s in batches of 1000", 10_000, 1000, 101},
		{"2,500/s in batches of 100", 2_500, 100, 251},
		{"batch larger than a second's worth", 500, 1000, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second+time.Millisecond)
				defer cancel()
				p := NewPacer(time.Now(), tc.rate, tc.batch)
				var sent int64
				for {
					if _, err := p.Wait(ctx); err != nil {
						break
					}
					sent++
				}
				if sent != tc.wantBatches {
					t.Errorf("%d batches in 10 s, want %d", sent, tc.wantBatches)
				}
			})
		})
	}
}

func TestPacerMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPacer(time.Now(), 0, 1000)
		start := time.Now()
		for range 1000 {
			if _, err := p.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("unpaced pacer waited %v", d)
		}
	})
}
