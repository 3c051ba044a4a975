package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// WriteEvents queues raw events for the events table. It blocks while the
// writer's queue is full and fails only when ctx is done or the store is
// closed. Without Options.StoreEvents it does nothing.
//
// Ownership: the store keeps the event pointers (not evs itself, which may be
// reused once WriteEvents returns) until the writer goroutine has appended
// them, which is after WriteEvents returns; the events, their Fields and their
// Raw bytes must not be modified afterwards. Encoding happens on the writer
// goroutine, not the caller's: the caller is the ingest goroutine, which also
// runs the windows, and the writer is otherwise waiting on DuckDB.
func (s *Store) WriteEvents(ctx context.Context, evs []*event.Event) error {
	if !s.opts.StoreEvents || len(evs) == 0 {
		return s.checkOpen()
	}
	return s.enqueue(ctx, &request{table: "events", events: slices.Clone(evs)})
}

// WriteRejected queues inputs that could not be parsed for the rejected
// table. It blocks and fails like WriteEvents. Raw bytes that are not UTF-8
// have their bad bytes replaced by U+FFFD, since the column is text.
func (s *Store) WriteRejected(ctx context.Context, rs []event.Rejected) error {
	if len(rs) == 0 {
		return s.checkOpen()
	}
	rows := make([][]driver.Value, len(rs))
	for i, r := range rs {
		rows[i] = []driver.Value{r.Time, r.Source, validString(r.Raw), r.Reason}
	}
	return s.enqueue(ctx, &request{table: "rejected", rows: rows})
}

// WriteWindow queues one closed window result. NaN and infinite values are
// stored as JSON null. A window with Update set (a re-emission corrected by
// late events) replaces the stored row of the same pipeline, start, end and
// group instead of adding a second one, so the table holds one row per
// window, the latest.
//
// Windows are gathered into batches of Options.WindowBatch for the writer,
// which encodes them (as it does events): a close of 100,000 groups is 100
// requests rather than 100,000, and the caller, the ingest goroutine, builds
// no JSON. So WriteWindow blocks (and fails like WriteEvents) only when it
// completes a batch. A batch not yet full goes to the writer ahead of any
// later request (Flush, AfterCommit, other rows) and at the writer's next
// tick (Options.FlushInterval), so batching delays no window's commit
// beyond that tick.
//
// Ownership: the store keeps w until the writer has appended it; w must not
// be modified afterwards (window.EmitFunc hands it over for good).
func (s *Store) WriteWindow(ctx context.Context, w *event.Window) error {
	if w.Update {
		return s.enqueue(ctx, &request{table: "windows", windows: []*event.Window{w}, replace: true})
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.winMu.Lock()
	s.pending = append(s.pending, w)
	s.backlog.Add(1)
	full := len(s.pending) >= s.opts.WindowBatch
	s.winMu.Unlock()
	if !full {
		return nil
	}
	if err := s.shipWindows(ctx); err != nil {
		// The caller hears that w was not stored, so it must not be; the
		// windows gathered before it stay, to go with the next request.
		s.winMu.Lock()
		if i := slices.Index(s.pending, w); i >= 0 {
			s.pending = slices.Delete(s.pending, i, i+1)
			s.backlog.Add(-1)
		}
		s.winMu.Unlock()
		return err
	}
	return nil
}

// shipWindows sends the gathered windows to the writer as one request. The
// caller holds s.mu for reading. On ctx's end the windows stay gathered, to
// go with the next request.
func (s *Store) shipWindows(ctx context.Context) error {
	s.winMu.Lock()
	defer s.winMu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	select {
	case s.queue <- &request{table: "windows", windows: s.pending}:
		s.pending = nil
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queueing windows for the store: %w", ctx.Err())
	}
}

// takeWindows returns the gathered windows for the writer's tick, or nil
// when a caller is sending them right now (it holds winMu while it waits for
// the queue, which only the writer drains: waiting for it here would
// deadlock), or when requests wait in the queue: those may hold windows
// gathered earlier, and the gathered ones appended now would commit ahead of
// them. A pipeline's windows must commit in the order they closed, for the
// restart's resume (window.Pipeline.ResumeGroups) to know which are stored;
// the windows wait for the next request or tick instead. Windows go to the
// queue only under winMu, so none can slip in between the check and the
// take.
func (s *Store) takeWindows() []*event.Window {
	if !s.winMu.TryLock() {
		return nil
	}
	defer s.winMu.Unlock()
	if len(s.queue) > 0 {
		return nil
	}
	ws := s.pending
	s.pending = nil
	return ws
}

// WriteTransition queues one alert transition for the alerts table. It
// blocks and fails like WriteEvents.
func (s *Store) WriteTransition(ctx context.Context, t event.Transition) error {
	labels, err := json.Marshal(t.Labels)
	if err != nil { // map[string]string always encodes; kept for safety
		return fmt.Errorf("encoding labels: %w", err)
	}
	// seq is filled in by the writer, which alone knows the order of commits.
	row := []driver.Value{t.Time, t.Rule, t.Fingerprint, json.RawMessage(labels), string(t.State), t.Value, t.Summary, t.Decision, nil}
	return s.enqueue(ctx, &request{table: "alerts", rows: [][]driver.Value{row}})
}

// Flush returns once every row handed to a Write method before the call is
// committed, or with the error that kept some of them from being committed.
func (s *Store) Flush(ctx context.Context) error {
	req := &request{flush: make(chan error, 1)}
	if err := s.enqueue(ctx, req); err != nil {
		return err
	}
	select {
	case err := <-req.flush:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for flush: %w", ctx.Err())
	}
}

// AfterCommit arranges for fn to be called, on the writer's goroutine, once
// every row handed to a Write method before the call is committed (err nil) or
// has failed to commit. Unlike Flush it does not wait and does not force a
// commit: fn rides on the next one, by size or by time. Broker sources use it to
// acknowledge messages only after their events are durable. fn must be quick
// and must not call back into the store.
func (s *Store) AfterCommit(ctx context.Context, fn func(error)) error {
	return s.enqueue(ctx, &request{after: fn})
}

// Prune deletes the rows older than Options.Retention allows, counted back
// from now, and returns how many it deleted. With Options.ArchiveDir set,
// each chunk of rows is written to a Parquet file there before it is deleted.
//
// It deletes in chunks of at most Options.PruneChunk rows, each a separate
// turn of the writer goroutine (the one connection that writes), which
// commits what was written before it; writes queued meanwhile go between the
// chunks, so ingest never waits behind a whole big delete. The caller decides
// how often (every few minutes is plenty); taking now as an argument keeps
// it testable.
func (s *Store) Prune(ctx context.Context, now time.Time) (int64, error) {
	r := s.opts.Retention
	var total int64
	for _, d := range []struct {
		table, column string
		keep          time.Duration
	}{
		{"events", "ts", r.Events}, // the segments and events_rows
		{"events_rows", "ts", r.Events},
		{"rejected", "ts", r.Events},
		{"windows", `"end"`, r.Windows},
		{"alerts", "ts", r.Alerts},
	} {
		if d.keep <= 0 {
			continue
		}
		for {
			req := &request{prune: &pruneRequest{table: d.table, column: d.column, cutoff: now.Add(-d.keep), reply: make(chan pruneReply, 1)}}
			if err := s.enqueue(ctx, req); err != nil {
				return total, err
			}
			var rep pruneReply
			select {
			case rep = <-req.prune.reply:
			case <-ctx.Done():
				return total, fmt.Errorf("waiting for prune: %w", ctx.Err())
			}
			total += rep.n
			if rep.err != nil {
				return total, rep.err
			}
			if !rep.more {
				break
			}
		}
	}
	return total, nil
}

func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// enqueue hands req to the writer, blocking while the queue is full. The read
// lock is held while blocked so that Close cannot close the queue under a
// pending send; the writer keeps draining, so Close still gets its turn.
func (s *Store) enqueue(ctx context.Context, req *request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("queueing rows for the store: %w", err)
	}
	// Windows written before this request go before it.
	if err := s.shipWindows(ctx); err != nil {
		return err
	}
	n := req.size()
	s.backlog.Add(n)
	select {
	case s.queue <- req:
		return nil
	case <-ctx.Done():
		s.backlog.Add(-n)
		return fmt.Errorf("queueing rows for the store: %w", ctx.Err())
	}
}
