package source

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
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

func TestReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		h := NewHealth("bus", "nats", nil)
		log := slog.New(slog.DiscardHandler)
		b := Backoff{Min: time.Second, Max: time.Minute, Rand: func(n int64) int64 { return n - 1 }}
		start := time.Now()
		var calls []time.Duration // when each session started, after start
		results := []struct {
			ok  bool
			err error
		}{{false, errors.New("refused")}, {false, errors.New("refused")}, {true, errors.New("dropped")}, {false, errors.New("refused")}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Reconnect(ctx, b, h, log, "bus", "test source failed", func(context.Context) (bool, error) {
				calls = append(calls, time.Since(start))
				if len(calls) > len(results) {
					cancel()
					<-ctx.Done()
					return true, nil
				}
				h.SetConnected(true)
				r := results[len(calls)-1]
				return r.ok, r.err
			})
		}()
		<-done
		// 1s, 2s after two refusals, then reset by the connected session
		// that dropped: 1s again, then 2s.
		want := []time.Duration{0, time.Second, 3 * time.Second, 4 * time.Second, 6 * time.Second}
		if len(calls) != len(want) {
			t.Fatalf("sessions started at %v, want %v", calls, want)
		}
		for i := range want {
			if calls[i] != want[i] {
				t.Fatalf("sessions started at %v, want %v", calls, want)
			}
		}
		if s := h.Snapshot(); s.Up || s.LastError != "refused" {
			t.Errorf("health = up %v error %q, want down with the last failure", s.Up, s.LastError)
		}
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if !Sleep(t.Context(), time.Second) {
			t.Error("Sleep with a live ctx reported false")
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if Sleep(ctx, time.Hour) {
			t.Error("Sleep with a done ctx reported true")
		}
	})
}
