package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// DefaultWindowLimit is the number of windows Windows returns when
// WindowQuery.Limit is not set; DefaultHistoryLimit the same for History.
const (
	DefaultWindowLimit  = 1000
	DefaultHistoryLimit = 100
)

// WindowQuery selects stored window results.
type WindowQuery = event.WindowQuery

// Windows returns stored window results, oldest first. Values come back in
// the order they were written, NaN where null was stored; GroupKeys are sorted
// and Group follows them.
func (s *Store) Windows(ctx context.Context, q WindowQuery) ([]event.Window, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultWindowLimit
	}
	var where []string
	var args []any
	if q.Pipeline != "" {
		where = append(where, "pipeline = ?")
		args = append(args, q.Pipeline)
	}
	if !q.Since.IsZero() {
		where = append(where, `"end" > ?`)
		args = append(args, q.Since)
	}
	for _, k := range sortedKeys(q.Group) {
		where = append(where, "json_extract_string(grp, ?) = ?")
		args = append(args, jsonPointer(k), q.Group[k])
	}
	query := `SELECT pipeline, start, "end", CAST(grp AS VARCHAR), CAST(vals AS VARCHAR), count, late, CAST(exemplars AS VARCHAR), future FROM windows`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	// Newest end first to apply the limit, with a deterministic order among
	// windows that share an end; reversed below.
	query += ` ORDER BY "end" DESC, start DESC, pipeline DESC, CAST(grp AS VARCHAR) DESC LIMIT ?`
	args = append(args, limit)

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("querying windows: %w", err)
	}
	defer rows.Close()
	var out []event.Window
	for rows.Next() {
		var w event.Window
		var grp, vals, exemplars *string
		var count, late, future *int64
		if err := rows.Scan(&w.Pipeline, &w.Start, &w.End, &grp, &vals, &count, &late, &exemplars, &future); err != nil {
			return nil, fmt.Errorf("reading window row: %w", err)
		}
		if grp != nil {
			if err := decodeGroup(*grp, &w); err != nil {
				return nil, fmt.Errorf("decoding group %s: %w", *grp, err)
			}
		}
		if vals != nil {
			if err := decodeValues(*vals, &w); err != nil {
				return nil, fmt.Errorf("decoding values %s: %w", *vals, err)
			}
		}
		if exemplars != nil {
			if err := json.Unmarshal([]byte(*exemplars), &w.Exemplars); err != nil {
				return nil, fmt.Errorf("decoding exemplars %s: %w", *exemplars, err)
			}
		}
		if count != nil {
			w.Count = *count
		}
		if late != nil {
			w.Late = *late
		}
		if future != nil {
			w.Future = *future
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading windows: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// jsonPointer turns a group key into an RFC 6901 path, which needs no
// quoting rules beyond ~ and /, unlike a JSONPath.
func jsonPointer(key string) string {
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

func decodeGroup(s string, w *event.Window) error {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return err
	}
	w.GroupKeys = make([]string, 0, len(m))
	for k := range m {
		w.GroupKeys = append(w.GroupKeys, k)
	}
	slices.Sort(w.GroupKeys)
	w.Group = make([]string, len(w.GroupKeys))
	for i, k := range w.GroupKeys {
		switch v := m[k].(type) {
		case string:
			w.Group[i] = v
		case nil:
		default:
			w.Group[i] = fmt.Sprint(v)
		}
	}
	return nil
}

// decodeValues reads the vals object token by token, keeping its key order.
func decodeValues(s string, w *event.Window) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("expecting an object, got %v (%v)", tok, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("expecting a key, got %v", tok)
		}
		tok, err = dec.Token()
		if err != nil {
			return err
		}
		v := math.NaN()
		switch x := tok.(type) {
		case float64:
			v = x
		case nil:
		default:
			return fmt.Errorf("value of %q: expecting a number or null, got %v", name, tok)
		}
		w.Names = append(w.Names, name)
		w.Values = append(w.Values, v)
	}
	return nil
}

// History returns the newest limit alert transitions, newest first. limit <= 0
// means DefaultHistoryLimit.
func (s *Store) History(ctx context.Context, limit int) ([]event.Transition, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT ts, rule, fingerprint, CAST(labels AS VARCHAR), state, value, summary, decision
		FROM alerts ORDER BY ts DESC, seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("querying alert history: %w", err)
	}
	defer rows.Close()
	var out []event.Transition
	for rows.Next() {
		var t event.Transition
		var labels, summary, decision *string
		var state string
		var value *float64
		if err := rows.Scan(&t.Time, &t.Rule, &t.Fingerprint, &labels, &state, &value, &summary, &decision); err != nil {
			return nil, fmt.Errorf("reading alert row: %w", err)
		}
		t.State = event.AlertState(state)
		if labels != nil {
			if err := json.Unmarshal([]byte(*labels), &t.Labels); err != nil {
				return nil, fmt.Errorf("decoding labels %s: %w", *labels, err)
			}
		}
		if value != nil {
			t.Value = *value
		} else {
			t.Value = math.NaN()
		}
		if summary != nil {
			t.Summary = *summary
		}
		if decision != nil {
			t.Decision = *decision
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading alert history: %w", err)
	}
	return out, nil
}

// LastWindowEnd returns the end of the newest stored window of a pipeline, or
// the zero time when it has none. After a restart the app resumes the pipeline
// from there, so replayed input does not emit a window twice.
func (s *Store) LastWindowEnd(ctx context.Context, pipeline string) (time.Time, error) {
	return s.LastWindowEndBefore(ctx, pipeline, time.Time{})
}

// LastWindowEndBefore is LastWindowEnd over the windows ending at or before
// limit (zero: no limit), so that a window stamped by a bad clock far in the
// future does not count as the newest.
func (s *Store) LastWindowEndBefore(ctx context.Context, pipeline string, limit time.Time) (time.Time, error) {
	if err := s.checkOpen(); err != nil {
		return time.Time{}, err
	}
	q, args := `SELECT max("end") FROM windows WHERE pipeline = ?`, []any{pipeline}
	if !limit.IsZero() {
		q, args = q+` AND "end" <= ?`, append(args, limit)
	}
	var end sql.NullTime
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&end); err != nil {
		return time.Time{}, fmt.Errorf("reading the last window of %s: %w", pipeline, err)
	}
	if !end.Valid {
		return time.Time{}, nil
	}
	return end.Time, nil
}

// NewestEventTime is the time of the newest stored event of the sources at
// or before limit that was not flagged late or future; zero when there is
// none.
func (s *Store) NewestEventTime(ctx context.Context, sources []string, limit time.Time) (time.Time, error) {
	if err := s.checkOpen(); err != nil {
		return time.Time{}, err
	}
	if len(sources) == 0 {
		return time.Time{}, nil
	}
	q := `SELECT max(ts) FROM events WHERE ts <= ? AND flags NOT LIKE '%late%' AND flags NOT LIKE '%future%' AND source IN (?` +
		strings.Repeat(", ?", len(sources)-1) + `)`
	args := []any{limit}
	for _, src := range sources {
		args = append(args, src)
	}
	var ts sql.NullTime
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&ts); err != nil {
		return time.Time{}, fmt.Errorf("reading the newest stored event: %w", err)
	}
	if !ts.Valid {
		return time.Time{}, nil
	}
	return ts.Time, nil
}

// GroupsAt returns the group of every stored window of a pipeline that ends
// at end, as its group_by values by key. After a restart the app resumes
// the pipeline with the groups stored at the newest end (see
// window.Pipeline.ResumeGroups): a crash between two commits of one close
// leaves that end stored for some groups only.
func (s *Store) GroupsAt(ctx context.Context, pipeline string, end time.Time) ([]map[string]string, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT CAST(grp AS VARCHAR) FROM windows WHERE pipeline = ? AND "end" = ?`, pipeline, end)
	if err != nil {
		return nil, fmt.Errorf("reading the groups of %s stored at %s: %w", pipeline, end.UTC().Format(time.RFC3339Nano), err)
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		var grp *string
		if err := rows.Scan(&grp); err != nil {
			return nil, fmt.Errorf("reading a group of %s: %w", pipeline, err)
		}
		var w event.Window
		if grp != nil {
			if err := decodeGroup(*grp, &w); err != nil {
				return nil, fmt.Errorf("decoding group %s: %w", *grp, err)
			}
		}
		out = append(out, w.GroupMap())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the groups of %s: %w", pipeline, err)
	}
	return out, nil
}

// ReplayEvents calls fn, oldest first, for every stored event of the given
// sources at or after since that was not flagged late or future, with its fields decoded
// (raw bytes are not read back). The app uses it at start to refill the
// windows that were open when lookout stopped, for sources that cannot
// redeliver (push, pulled HTTP, host, ...). It stops at the first error fn
// returns, or after max events (0: no limit), and returns how many it read.
func (s *Store) ReplayEvents(ctx context.Context, sources []string, since time.Time, max int, fn func(*event.Event) error) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if len(sources) == 0 {
		return 0, nil
	}
	q := `SELECT ts, source, CAST(fields AS VARCHAR) FROM events WHERE ts >= ? AND flags NOT LIKE '%late%' AND flags NOT LIKE '%future%' AND source IN (?` +
		strings.Repeat(", ?", len(sources)-1) + `) ORDER BY ts`
	args := []any{since}
	for _, src := range sources {
		args = append(args, src)
	}
	if max > 0 {
		q += fmt.Sprintf(" LIMIT %d", max)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("reading events to replay: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			ts     time.Time
			src    string
			fields sql.NullString
		)
		if err := rows.Scan(&ts, &src, &fields); err != nil {
			return n, fmt.Errorf("reading events to replay: %w", err)
		}
		e := &event.Event{Time: ts, Source: src, Fields: map[string]any{}}
		if fields.Valid {
			if err := json.Unmarshal([]byte(fields.String), &e.Fields); err != nil {
				return n, fmt.Errorf("decoding stored fields: %w", err)
			}
		}
		n++
		if err := fn(e); err != nil {
			return n, err
		}
	}
	return n, rows.Err()
}
