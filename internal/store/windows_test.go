package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// TestWindowsOfACountPipelineByEnd: the windows of a {count: N} pipeline (the
// default config's host) all start at the first sample; the newest are the
// ones that end last, and since= keeps those that end after it.
func TestWindowsOfACountPipelineByEnd(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	for i := range 6 {
		w := win("host", t0, nil, []string{"n"}, float64(i))
		w.End = t0.Add(time.Duration(i+1) * 10 * time.Second)
		if err := s.WriteWindow(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, s)
	for _, tt := range []struct {
		name string
		q    WindowQuery
		want []float64
	}{
		{"limit keeps the newest", WindowQuery{Pipeline: "host", Limit: 3}, []float64{3, 4, 5}},
		{"since", WindowQuery{Pipeline: "host", Since: t0.Add(45 * time.Second)}, []float64{4, 5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Windows(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var vals []float64
			for _, w := range got {
				vals = append(vals, w.Values[0])
			}
			if !reflect.DeepEqual(vals, tt.want) {
				t.Errorf("values = %v, want %v", vals, tt.want)
			}
		})
	}
}

// TestWindowsCommitInTheOrderTheyClosed: a pipeline's windows are committed
// in the order they were written, whatever the writer's tick does: a
// restart resumes from the newest stored window, and windows committed
// ahead of older ones would make it count the older ones' redelivered events
// late. The writer is held at the gate while a batch of the older windows
// waits in the queue and a newer window is gathered; the tick, which
// commits the gathered windows, must not store the newer one first. (Which
// of the tick and the queued batch the writer turns to first is the
// runtime's choice, so the case is repeated.)
func TestWindowsCommitInTheOrderTheyClosed(t *testing.T) {
	gate := make(chan struct{})
	s, err := open(Options{Dir: t.TempDir(), WindowBatch: 2, FlushInterval: time.Millisecond}, gate)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(gate); s.Close() }()
	ctx := context.Background()
	// flush commits everything, opening the gate for every request.
	flush := func() {
		done := make(chan error, 1)
		go func() { done <- s.Flush(ctx) }()
		for {
			select {
			case gate <- struct{}{}:
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	for round := range 40 {
		older := t0.Add(time.Duration(round) * time.Minute)
		// A request the writer takes and holds at the gate.
		if err := s.WriteRejected(ctx, []event.Rejected{{Time: older, Source: "push", Raw: []byte("x"), Reason: "bad"}}); err != nil {
			t.Fatal(err)
		}
		for _, svc := range []string{"a", "b"} { // a full batch: queued
			if err := s.WriteWindow(ctx, win("p", older, map[string]string{"svc": svc}, []string{"n"}, 1)); err != nil {
				t.Fatal(err)
			}
		}
		// Gathered, for the tick.
		if err := s.WriteWindow(ctx, win("p", older.Add(10*time.Second), map[string]string{"svc": "a"}, []string{"n"}, 1)); err != nil {
			t.Fatal(err)
		}
		// A read, so that the tick is due by the time the writer goes on.
		mustQuery(t, s, `SELECT count(*) FROM windows`)
		gate <- struct{}{}
		// The writer has taken the older windows off the queue and waits
		// at the gate again: they are not committed yet.
		for deadline := time.Now().Add(30 * time.Second); len(s.queue) > 0; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatal("the writer never took the queued windows")
			}
		}
		end := older.Add(20 * time.Second).UTC().Format("2006-01-02 15:04:05")
		res := mustQuery(t, s, `SELECT count(*) FROM windows WHERE "end" = TIMESTAMPTZ '`+end+`+00'`)
		if want := [][]any{{int64(0)}}; !reflect.DeepEqual(res.Rows, want) {
			t.Fatalf("round %d: the newer window is committed while the older ones wait in the queue", round)
		}
		flush()
	}
	res := mustQuery(t, s, `SELECT count(*) FROM windows`)
	if want := [][]any{{int64(3 * 40)}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("windows stored = %v, want %v", res.Rows, want)
	}
}
