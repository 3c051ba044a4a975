package source

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"
)

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
