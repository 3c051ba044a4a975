package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// EventQuery selects stored events.
type EventQuery struct {
	// Sources keeps the events of these sources; empty selects none.
	Sources []string
	// Fields keeps events whose field K, read as text, is V for each pair
	// (a group's values, as the windows carry them).
	Fields map[string]string
	// Since keeps events at or after it; zero keeps all.
	Since time.Time
	// Limit is how many events to return: the newest Limit, oldest first.
	// Default 100.
	Limit int
}

// Events returns the stored events q selects, oldest first, with their
// source, time and raw bytes (Fields are not read back). It is how the
// raw view shows the events behind an alert.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]event.Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if len(q.Sources) == 0 {
		return nil, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	where := []string{"source IN (?" + strings.Repeat(", ?", len(q.Sources)-1) + ")"}
	var args []any
	for _, src := range q.Sources {
		args = append(args, src)
	}
	if !q.Since.IsZero() {
		where = append(where, "ts >= ?")
		args = append(args, q.Since)
	}
	for _, k := range sortedKeys(q.Fields) {
		where = append(where, "json_extract_string(fields, ?) = ?")
		args = append(args, jsonPointer(k), q.Fields[k])
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `SELECT ts, source, raw FROM events WHERE `+
		strings.Join(where, " AND ")+` ORDER BY ts DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("querying events: %w", err)
	}
	defer rows.Close()
	var out []event.Event
	for rows.Next() {
		var e event.Event
		var raw sql.NullString
		if err := rows.Scan(&e.Time, &e.Source, &raw); err != nil {
			return nil, fmt.Errorf("reading event row: %w", err)
		}
		e.Raw = []byte(raw.String)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}
