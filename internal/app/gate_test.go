package app

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	g := newGate(10)
	if !g.tryAcquire(8) || g.tryAcquire(3) {
		t.Fatal("8 then 3 more of 10: want the first admitted and the second refused")
	}
	if !g.tryAcquire(2) || g.queued() != 10 {
		t.Fatalf("queued = %d, want exactly full at 10", g.queued())
	}
	// A waiting Submit is woken by a release that makes room.
	got := make(chan error, 1)
	go func() { got <- g.acquire(context.Background(), nil, 5) }()
	select {
	case err := <-got:
		t.Fatalf("acquire returned %v while full", err)
	default:
	}
	g.release(8)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("acquire not woken by release")
	}
	if g.queued() != 7 {
		t.Fatalf("queued = %d, want 7", g.queued())
	}
	// A batch larger than the bound gets into an empty queue.
	g.release(7)
	if !g.tryAcquire(25) {
		t.Fatal("an oversize batch was refused by an empty queue")
	}
	// Cancellation and stopping end a wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.acquire(ctx, nil, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a cancelled ctx = %v", err)
	}
	stop := make(chan struct{})
	close(stop)
	if err := g.acquire(context.Background(), stop, 1); !errors.Is(err, errStopping) {
		t.Fatalf("acquire while stopping = %v", err)
	}
}
