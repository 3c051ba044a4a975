package store

import (
	"context"
	"reflect"
	"testing"
)

// TestStreamBoundsBytesInDuckDB: with a byte budget the rows stop, in the
// statement's order, after the row whose JSON passes it, and the columns
// are the statement's own; statements other than SELECT are not wrapped.
func TestStreamBoundsBytesInDuckDB(t *testing.T) {
	s := openTest(t, Options{})
	run := func(q string, maxBytes int64) ([]string, [][]any, bool) {
		t.Helper()
		var cols []string
		var rows [][]any
		trunc, err := s.Stream(context.Background(), q, maxBytes, func(c, _ []string) error { cols = c; return nil },
			func(r []any) (bool, error) { rows = append(rows, append([]any(nil), r...)); return true, nil })
		if err != nil {
			t.Fatalf("Stream(%q): %v", q, err)
		}
		return cols, rows, trunc
	}
	// A number counts 24 bytes: 3 rows fit in 75, the 4th passes it.
	cols, rows, trunc := run("SELECT range AS n FROM range(10) ORDER BY n DESC; -- newest first", 75)
	if want := [][]any{{int64(9)}, {int64(8)}, {int64(7)}}; !reflect.DeepEqual(cols, []string{"n"}) || !reflect.DeepEqual(rows, want) || !trunc {
		t.Errorf("columns %v rows %v truncated %v; want [n] %v truncated", cols, rows, trunc, want)
	}
	if _, rows, trunc := run("SELECT range AS n FROM range(3)", 1000); len(rows) != 3 || trunc {
		t.Errorf("under the budget: %v truncated %v, want all 3 rows", rows, trunc)
	}
	if cols, rows, _ := run("DESCRIBE SELECT 1 AS a", 25); len(rows) != 1 || cols[0] != "column_name" {
		t.Errorf("DESCRIBE: %v %v", cols, rows)
	}
}

// TestStreamWrapKeepsAnswers: under a budget they fit in, the statements of
// every form give what Query gives, columns and rows.
func TestStreamWrapKeepsAnswers(t *testing.T) {
	s := seeded(t, Options{})
	for _, q := range []string{
		"FROM events SELECT count(*) AS n",
		"VALUES (1, 'a'), (2, NULL)",
		"(SELECT 1 AS one)",
		"SELECT 2 AS two; -- done",
		"WITH e AS (SELECT fields->>'$.service' AS service FROM events) SELECT service, count(*) AS n FROM e GROUP BY 1 ORDER BY 1",
		"SELECT 1 AS a, 2 AS a",
		"SELECT [1, 2] AS l, {'k': 'v'} AS st, ts, raw FROM events ORDER BY ts LIMIT 3",
		"SELECT * FROM events ORDER BY ts DESC",
	} {
		want, err := s.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("Query(%q): %v", q, err)
		}
		var cols []string
		var rows [][]any
		trunc, err := s.Stream(context.Background(), q, 1<<20, func(c, _ []string) error { cols = c; return nil },
			func(r []any) (bool, error) { rows = append(rows, append([]any(nil), r...)); return true, nil })
		if err != nil {
			t.Errorf("Stream(%q): %v", q, err)
			continue
		}
		if trunc || !reflect.DeepEqual(cols, want.Columns) || !reflect.DeepEqual(rows, want.Rows) {
			t.Errorf("Stream(%q) = %v %v (truncated %v), Query gives %v %v", q, cols, rows, trunc, want.Columns, want.Rows)
		}
	}
}
