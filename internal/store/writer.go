package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/store/segment"
)

// A request is one Write call's rows, or a flush, prune or AfterCommit
// request. Events travel as they are and are encoded by the writer goroutine
// (see WriteEvents); the other tables' rare rows arrive as column values.
type request struct {
	table  string // one of the tables below; "" for a flush request
	rows   [][]driver.Value
	events []*event.Event // the rows of an events request
	// windows are the rows of a windows request, encoded by the writer
	// like events.
	windows []*event.Window
	// replace, on a windows request, makes its one window replace the
	// stored row of the same window (a re-emission with late: update).
	replace bool
	flush   chan error // set on a flush request
	prune   *pruneRequest
	after   func(error) // set on an AfterCommit request
}

// size is the number of rows req carries, for the backlog.
func (req *request) size() int64 { return int64(len(req.rows) + len(req.events) + len(req.windows)) }

type pruneRequest struct {
	table, column string
	cutoff        time.Time
	reply         chan pruneReply
}

type pruneReply struct {
	n    int64
	more bool // another turn has rows to delete
	err  error
}

// eventColumns are the events view's columns, in the order the archive
// writes them. Events are not appended to a table: see package segment.
var eventColumns = []string{"ts", "source", "fields", "flags", "raw"}

// tables lists what the writer appends to and the columns it fills, in the
// order a request's rows carry them. Naming the columns keeps the appenders
// working when a later migration adds columns.
var tables = []struct {
	name    string
	columns []string
}{
	{"windows", []string{"pipeline", "start", "end", "grp", "vals", "count", "late", "exemplars", "future"}},
	{"alerts", []string{"ts", "rule", "fingerprint", "labels", "state", "value", "summary", "decision", "seq"}},
	{"rejected", []string{"ts", "source", "raw", "reason"}},
}

// writer owns the write connection and one appender per table. Only the
// writer goroutine touches it after newWriter.
type writer struct {
	s         *Store
	conn      driver.Conn
	appenders map[string]*duckdb.Appender
	segs      *segment.Log  // where events go
	buffered  int64         // rows appended since the last commit
	seq       int64         // last alerts.seq used
	failed    int64         // rows lost to errors, for the log
	after     []func(error) // AfterCommit callbacks waiting for the next commit

	// Scratch space reused for every window, so that encoding allocates
	// nothing in the steady state: their row, group and values JSON, and
	// the boxed pipeline name.
	wrow       []driver.Value
	gbuf, vbuf []byte
	pipeName   string
	pipeVal    driver.Value
}

func newWriter(ctx context.Context, s *Store) (*writer, error) {
	conn, err := s.connector.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	w := &writer{s: s, conn: conn, appenders: map[string]*duckdb.Appender{}}
	so := segment.Options{
		Log: s.log,
		// Without stored events there is nothing to compress (segments
		// an earlier configuration left stay as they are until
		// retention).
		Compress:  s.opts.Compression == CompressionZstd && s.opts.StoreEvents,
		MaxSize:   segment.DefaultMaxSize,
		MaxAge:    segment.DefaultMaxAge,
		Grace:     max(segment.DefaultGrace, 3*s.opts.QueryTimeout),
		Changed:   w.refreshView,
		ViewEvery: segment.DefaultViewEvery,
	}
	if s.opts.tune != nil {
		s.opts.tune(&so)
	}
	if w.segs, err = segment.Open(filepath.Join(s.opts.Dir, segDirName), so); err != nil {
		conn.Close()
		return nil, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM alerts`).Scan(&w.seq); err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading last alert sequence: %w", err)
	}
	for _, t := range tables {
		if err := w.openAppender(t.name, t.columns); err != nil {
			w.close()
			return nil, err
		}
	}
	w.wrow = make([]driver.Value, len(tables[0].columns))
	return w, nil
}

func (w *writer) openAppender(table string, columns []string) error {
	var a *duckdb.Appender
	var err error
	switch table {
	case "windows":
		a, err = newWindowsAppender(w.conn, columns)
	default:
		a, err = duckdb.NewAppenderWithColumns(w.conn, "", "", table, columns)
	}
	if err != nil {
		return fmt.Errorf("creating appender for %s: %w", table, err)
	}
	w.appenders[table] = a
	return nil
}

// windowsInsert is the windows appender's statement. The appender's staging
// columns for JSON are VARCHAR and the cast to JSON happens here, in DuckDB:
// appending to a JSON column itself would make the driver run encoding/json
// over every value again (to validate text the writer has just encoded).
const windowsInsert = `INSERT INTO windows (pipeline, start, "end", grp, vals, count, late, exemplars, future)
	SELECT pipeline, start, "end", grp::JSON, vals::JSON, count, late, exemplars::JSON, future FROM lookout_windows`

func newWindowsAppender(conn driver.Conn, columns []string) (*duckdb.Appender, error) {
	var types []duckdb.TypeInfo
	for _, t := range []duckdb.Type{duckdb.TYPE_VARCHAR, duckdb.TYPE_TIMESTAMP_TZ, duckdb.TYPE_TIMESTAMP_TZ,
		duckdb.TYPE_VARCHAR, duckdb.TYPE_VARCHAR, duckdb.TYPE_BIGINT, duckdb.TYPE_BIGINT, duckdb.TYPE_VARCHAR, duckdb.TYPE_BIGINT} {
		ti, err := duckdb.NewTypeInfo(t)
		if err != nil {
			return nil, err
		}
		types = append(types, ti)
	}
	return duckdb.NewQueryAppender(conn, windowsInsert, "lookout_windows", types, columns)
}

// run is the writer goroutine. It commits when BatchSize rows are buffered,
// every FlushInterval, on a flush request and when the queue is closed.
func (s *Store) run() {
	defer close(s.done)
	w := s.w
	tick := time.NewTicker(s.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case req, ok := <-s.queue:
			if !ok {
				w.commit()
				return
			}
			if s.gate != nil {
				<-s.gate
			}
			if req.flush != nil {
				req.flush <- w.commit()
				continue
			}
			if req.after != nil {
				if w.buffered == 0 {
					req.after(nil) // everything before it is already committed
				} else {
					w.after = append(w.after, req.after)
				}
				continue
			}
			if req.prune != nil {
				n, more, err := w.pruneChunk(req.prune.table, req.prune.column, req.prune.cutoff)
				req.prune.reply <- pruneReply{n, more, err}
				continue
			}
			w.append(req)
			if w.buffered >= int64(s.opts.BatchSize) {
				w.commit()
			}
		case <-tick.C:
			if ws := s.takeWindows(); len(ws) > 0 {
				w.appendWindows(w.appenders["windows"], ws)
			}
			w.commit()
			if err := w.segs.Maintain(); err != nil {
				s.log.Error("maintaining event segments", "err", err)
			}
		}
	}
}

func (w *writer) append(req *request) {
	if req.events != nil {
		w.appendEvents(req.events)
		return
	}
	a := w.appenders[req.table]
	if a == nil { // a previous commit failed and could not reopen it
		w.lose(req.table, req.size(), errors.New("no appender"))
		return
	}
	if req.replace {
		w.replaceWindow(req.windows[0])
		return
	}
	if req.windows != nil {
		w.appendWindows(a, req.windows)
		return
	}
	for _, row := range req.rows {
		if req.table == "alerts" {
			w.seq++
			row[len(row)-1] = w.seq
		}
		if err := a.AppendRow(row...); err != nil {
			w.lose(req.table, 1, err)
			continue
		}
		w.buffered++
	}
}

// refreshView makes the events view again from the segments (see viewSQL),
// on the write connection.
func (w *writer) refreshView() error {
	ex, ok := w.conn.(driver.ExecerContext)
	if !ok {
		return errors.New("updating the events view: driver connection cannot execute")
	}
	if _, err := ex.ExecContext(context.Background(), viewSQL(w.segs.Files()), nil); err != nil {
		return fmt.Errorf("updating the events view: %w", err)
	}
	return nil
}

// appendEvents adds events to the open segment. A failed write loses what
// the segments held unwritten, at most a megabyte of lines, which are all
// counted as lost with this request's events.
func (w *writer) appendEvents(evs []*event.Event) {
	for i, e := range evs {
		err := w.segs.Append(e)
		if errors.Is(err, segment.ErrTooLong) {
			err = w.insertEventRow(e)
		}
		if err != nil {
			w.lose("events", int64(len(evs)-i), err)
			return
		}
		w.buffered++
	}
}

// insertEventRow stores an event too long for a segment line as a row of
// events_rows, which the events view also reads. It commits on its own, at
// once; such events are rare.
func (w *writer) insertEventRow(e *event.Event) error {
	ex, ok := w.conn.(driver.ExecerContext)
	if !ok {
		return errors.New("storing a long event: driver connection cannot execute")
	}
	var fields any
	if e.Fields != nil {
		fields = string(segment.AppendFields(nil, e.Fields))
	}
	_, err := ex.ExecContext(context.Background(), `INSERT INTO events_rows (ts, source, fields, flags, raw) VALUES ($1, $2, $3::JSON, $4, $5)`,
		[]driver.NamedValue{{Ordinal: 1, Value: e.Time}, {Ordinal: 2, Value: e.Source}, {Ordinal: 3, Value: fields},
			{Ordinal: 4, Value: e.Flags.String()}, {Ordinal: 5, Value: validString(e.Raw)}})
	if err != nil {
		return fmt.Errorf("storing a long event: %w", err)
	}
	return nil
}

// appendWindows encodes and appends windows. It reuses w.wrow and scratch
// buffers from window to window: the appender copies the values before
// AppendRow returns.
func (w *writer) appendWindows(a *duckdb.Appender, ws []*event.Window) {
	if a == nil { // a previous commit failed and could not reopen it
		w.lose("windows", int64(len(ws)), errors.New("no appender"))
		return
	}
	row := w.wrow
	for _, win := range ws {
		w.windowRow(row, win)
		if err := a.AppendRow(row...); err != nil {
			w.lose("windows", 1, err)
			continue
		}
		w.buffered++
	}
	clear(row)
}

// windowRow fills row with win's column values, in the order of the windows
// entry of tables. The JSON columns are text (cast to JSON by windowsInsert)
// in w's scratch buffers, valid until the next call.
func (w *writer) windowRow(row []driver.Value, win *event.Window) {
	if win.Pipeline != w.pipeName || w.pipeVal == nil {
		w.pipeName, w.pipeVal = win.Pipeline, win.Pipeline
	}
	w.gbuf = appendGroup(w.gbuf[:0], win)
	w.vbuf = appendValues(w.vbuf[:0], win)
	row[0], row[1], row[2] = w.pipeVal, win.Start, win.End
	row[3], row[4] = w.gbuf, w.vbuf
	row[5], row[6] = win.Count, win.Late
	row[7] = nil
	if ex, ok := encodeExemplars(win).(json.RawMessage); ok {
		row[7] = []byte(ex)
	}
	row[8] = win.Future
}

// replaceWindow stores a re-emitted window in place of the row stored for it
// before. It commits what is buffered (the earlier row may still be in the
// appender), then deletes the old row and inserts the new one in one
// transaction, so a reader sees the old row or the new one, never both or
// neither. Re-emissions are rare (late events with late: update), and the
// delete finds its row by start through DuckDB's zone maps, so this costs a
// commit and a short statement each, not a table scan.
func (w *writer) replaceWindow(win *event.Window) {
	row := make([]driver.Value, len(w.wrow))
	w.windowRow(row, win)
	if err := w.commit(); err != nil {
		w.lose("windows", 1, fmt.Errorf("committing before replacing a window: %w", err))
		return
	}
	ex, ok := w.conn.(driver.ExecerContext)
	if !ok {
		w.lose("windows", 1, errors.New("replacing a window: driver connection cannot execute"))
		return
	}
	ctx := context.Background()
	args := make([]driver.NamedValue, len(row))
	for i, v := range row {
		if b, ok := v.([]byte); ok {
			v = string(b) // bound as text and cast to JSON in the statement
		}
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	steps := []struct {
		q    string
		args []driver.NamedValue
	}{
		{"BEGIN TRANSACTION", nil},
		{`DELETE FROM windows WHERE pipeline = $1 AND start = $2 AND "end" = $3 AND grp::VARCHAR = $4`, args[:4]},
		{`INSERT INTO windows (pipeline, start, "end", grp, vals, count, late, exemplars, future) VALUES ($1, $2, $3, $4::JSON, $5::JSON, $6, $7, $8::JSON, $9)`, args},
		{"COMMIT", nil},
	}
	for _, st := range steps {
		if _, err := ex.ExecContext(ctx, st.q, st.args); err != nil {
			w.rollback(ex)
			w.lose("windows", 1, fmt.Errorf("replacing a window: %w", err))
			return
		}
	}
	w.s.backlog.Add(-1)
}

// commit syncs the event segment and flushes every appender, which commits
// its rows. On an error the appender's buffered rows are lost (and logged):
// DuckDB invalidates an appender whose flush failed, so it is replaced to
// keep later rows flowing.
func (w *writer) commit() error {
	var errs []error
	if err := w.segs.Commit(); err != nil {
		errs = append(errs, fmt.Errorf("committing events: %w", err))
		w.s.log.Error("store commit failed", "table", "events", "err", err)
	}
	for _, t := range tables {
		a := w.appenders[t.name]
		if a == nil {
			if err := w.openAppender(t.name, t.columns); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := a.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("committing %s: %w", t.name, err))
			w.s.log.Error("store commit failed", "table", t.name, "err", err)
			a.Close()
			delete(w.appenders, t.name)
			if err := w.openAppender(t.name, t.columns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Rows of a failed flush are gone either way, so the backlog drops by
	// everything buffered.
	w.s.backlog.Add(-w.buffered)
	w.buffered = 0
	err := errors.Join(errs...)
	for _, fn := range w.after {
		fn(err)
	}
	w.after = w.after[:0]
	return err
}

// pruneChunk deletes (after archiving, when an archive is set) at most
// PruneChunk rows of one table older than cutoff, and reports how many. One
// chunk is one turn of the writer, so a big delete never holds ingest up for
// longer than a chunk takes; Prune asks for chunks until one comes back short.
func (w *writer) pruneChunk(table, column string, cutoff time.Time) (int64, bool, error) {
	if err := w.commit(); err != nil {
		return 0, false, err
	}
	if table == "events" {
		var archive func([][]byte) error
		if w.s.opts.ArchiveDir != "" {
			archive = w.archiveLines
		}
		return w.segs.Prune(cutoff, archive)
	}
	n, err := w.pruneRows(table, column, cutoff)
	return n, n == int64(w.s.opts.PruneChunk), err
}

// pruneRows is pruneChunk for a table.
func (w *writer) pruneRows(table, column string, cutoff time.Time) (int64, error) {
	ex, ok := w.conn.(driver.ExecerContext)
	if !ok {
		return 0, errors.New("pruning: driver connection cannot execute")
	}
	ctx := context.Background()
	arg := []driver.NamedValue{{Ordinal: 1, Value: cutoff}}
	chunk := w.s.opts.PruneChunk
	if w.s.opts.ArchiveDir == "" {
		res, err := ex.ExecContext(ctx, fmt.Sprintf(
			"DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE %s < ? LIMIT %d)", table, table, column, chunk), arg)
		if err != nil {
			return 0, fmt.Errorf("pruning %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		return n, nil
	}
	// With an archive the rows are chosen once, written out, then deleted,
	// in one transaction so that the file and the delete agree.
	steps := []string{
		"BEGIN TRANSACTION",
		fmt.Sprintf("CREATE OR REPLACE TEMP TABLE lookout_prune AS SELECT rowid AS id FROM %s WHERE %s < ? LIMIT %d", table, column, chunk),
	}
	for i, q := range steps {
		var args []driver.NamedValue
		if i == 1 {
			args = arg
		}
		if _, err := ex.ExecContext(ctx, q, args); err != nil {
			w.rollback(ex)
			return 0, fmt.Errorf("pruning %s: %w", table, err)
		}
	}
	n, err := w.archive(ctx, table)
	if err != nil {
		w.rollback(ex)
		return 0, fmt.Errorf("archiving %s: %w", table, err)
	}
	if n > 0 {
		if _, err := ex.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE rowid IN (SELECT id FROM lookout_prune)", table), nil); err != nil {
			w.rollback(ex)
			return 0, fmt.Errorf("pruning %s: %w", table, err)
		}
	}
	if _, err := ex.ExecContext(ctx, "DROP TABLE lookout_prune", nil); err != nil {
		w.rollback(ex)
		return 0, fmt.Errorf("pruning %s: %w", table, err)
	}
	if _, err := ex.ExecContext(ctx, "COMMIT", nil); err != nil {
		w.rollback(ex)
		return 0, fmt.Errorf("pruning %s: %w", table, err)
	}
	return n, nil
}

func (w *writer) rollback(ex driver.ExecerContext) {
	if _, err := ex.ExecContext(context.Background(), "ROLLBACK", nil); err != nil {
		w.s.log.Error("rolling back a prune", "err", err)
	}
}

func (w *writer) lose(table string, n int64, err error) {
	w.failed += n
	w.s.backlog.Add(-n)
	w.s.log.Error("store row not written", "table", table, "rows", n, "lost_total", w.failed, "err", err)
}

func (w *writer) close() error {
	var errs []error
	if w.segs != nil {
		if err := w.segs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing event segment: %w", err))
		}
	}
	for _, t := range tables {
		if a := w.appenders[t.name]; a != nil {
			if err := a.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing appender for %s: %w", t.name, err))
			}
		}
	}
	if err := w.conn.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing write connection: %w", err))
	}
	return errors.Join(errs...)
}
