package retry

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	most := func(n int64) int64 { return n - 1 } // the most jitter
	least := func(int64) int64 { return 0 }
	for _, tc := range []struct {
		name string
		b    Backoff
		n    int
		want time.Duration
	}{
		{"first, most jitter", Backoff{Min: time.Second, Max: time.Minute, Rand: most}, 0, time.Second},
		{"first, no jitter", Backoff{Min: time.Second, Max: time.Minute, Rand: least}, 0, time.Second / 2},
		{"negative is the first", Backoff{Min: time.Second, Max: time.Minute, Rand: most}, -1, time.Second},
		{"doubles", Backoff{Min: time.Second, Max: time.Minute, Rand: most}, 3, 8 * time.Second},
		{"capped", Backoff{Min: time.Second, Max: time.Minute, Rand: most}, 6, time.Minute},
		{"capped far out", Backoff{Min: time.Second, Max: time.Minute, Rand: most}, 1000, time.Minute},
		{"min above max", Backoff{Min: 20 * time.Second, Max: 10 * time.Second, Rand: most}, 0, 10 * time.Second},
		{"a fifth random, least", Backoff{Min: time.Second, Max: time.Minute, Jitter: 0.2, Rand: least}, 2, 3200 * time.Millisecond},
		{"a fifth random, most", Backoff{Min: time.Second, Max: time.Minute, Jitter: 0.2, Rand: most}, 2, 4 * time.Second},
		{"no jitter", Backoff{Min: time.Second, Max: time.Minute, Jitter: -1, Rand: least}, 2, 4 * time.Second},
		{"all random", Backoff{Min: time.Second, Max: time.Minute, Jitter: 1, Rand: least}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Delay(tc.n); got != tc.want {
				t.Errorf("Delay(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
	// With the real random source every delay stays in [d/2, d].
	b := Backoff{Min: time.Second, Max: time.Minute}
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute} {
		for range 20 {
			if d := b.Delay(n); d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
