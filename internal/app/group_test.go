package app

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// The first actor to return stops the others, in the order they were
// added, and run returns only after all of them have, with the first error.
func TestGroupInterruptsInOrderAndJoins(t *testing.T) {
	var g group
	var mu sync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	fail := errors.New("boom")
	failNow := make(chan struct{})
	g.add(func() error { <-failNow; return fail }, func(error) { note("interrupt failing") })
	for _, name := range []string{"a", "b"} {
		stop := make(chan struct{})
		g.add(func() error { <-stop; note("returned " + name); return nil },
			func(err error) {
				if !errors.Is(err, fail) {
					t.Errorf("%s interrupted with %v, want the first error", name, err)
				}
				note("interrupt " + name)
				close(stop)
			})
	}
	close(failNow)
	if err := g.run(); !errors.Is(err, fail) {
		t.Fatalf("run = %v, want the first actor's error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if i, j := slices.Index(order, "interrupt a"), slices.Index(order, "interrupt b"); i < 0 || j < i {
		t.Errorf("interrupts out of order: %q", order)
	}
	for _, name := range []string{"returned a", "returned b"} {
		if !slices.Contains(order, name) {
			t.Errorf("run returned before actor %q: %q", name, order)
		}
	}
}
