package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/lookout-dev/lookout/internal/event"
)

func seeded(t *testing.T, opts Options) *Store {
	t.Helper()
	opts.StoreEvents = true
	s := openTest(t, opts)
	ctx := context.Background()
	var evs []*event.Event
	for i := range 10 {
		svc := "api"
		if i%2 == 1 {
			svc = "web"
		}
		evs = append(evs, &event.Event{Time: t0.Add(time.Duration(i) * time.Second), Source: "push",
			Fields: map[string]any{"service": svc, "latency": float64(i)}})
	}
	if err := s.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	return s
}

func TestQueryRefused(t *testing.T) {
	s := seeded(t, Options{})
	outside := filepath.Join(t.TempDir(), "out.csv")
	tests := []struct {
		name, sql, msg string // msg: a part of the error the user should see
	}{
		{"empty", "  ", "empty query"},
		{"copy to file", "COPY events TO '" + outside + "'", "COPY statements are not allowed"},
		{"copy from query", "COPY (SELECT * FROM events) TO '" + outside + "' (FORMAT csv)", "COPY"},
		{"attach", "ATTACH '" + filepath.Join(t.TempDir(), "x.db") + "' AS x", "ATTACH"},
		{"detach", "DETACH lookout", "DETACH"},
		{"install httpfs", "INSTALL httpfs", "INSTALL"},
		{"load httpfs", "LOAD httpfs", "LOAD"},
		{"read_csv", "SELECT * FROM read_csv('/etc/passwd')", "function read_csv is not allowed"},
		{"read_csv_auto lower-cased", "select * from READ_CSV_AUTO('/etc/passwd')", "function read_csv_auto is not allowed"},
		{"read_text", "SELECT * FROM read_text('/etc/passwd')", "function read_text is not allowed"},
		{"read_blob", "SELECT * FROM read_blob('/etc/passwd')", "read_blob"},
		{"read_json in a CTE", "WITH x AS (SELECT * FROM read_json_auto('/etc/x.json')) SELECT * FROM x", "read_json_auto"},
		{"quoted function name", `SELECT * FROM "read_text"('/etc/passwd')`, "read_text"},
		{"read_parquet", "SELECT * FROM read_parquet('x.parquet')", "read_parquet"},
		{"glob", "SELECT * FROM glob('/etc/*')", "glob"},
		{"file as table", "SELECT * FROM '/etc/passwd'", "reading from a file"},
		{"url in a function", "SELECT * FROM read_csv('https://example.com/x.csv')", "read_csv"},
		{"url as table", "SELECT * FROM events JOIN 'https://example.com/x.parquet' USING (source)", "reading from a file or URL"},
		{"sql in a string", "SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')", "function query is not allowed"},
		{"pragma", "PRAGMA show_tables", "PRAGMA statements are not allowed"},
		{"pragma setting", "PRAGMA threads=1", "PRAGMA"},
		{"set", "SET enable_external_access = true", "SET statements are not allowed"},
		{"reset", "RESET threads", "RESET"},
		{"call", "CALL pragma_version()", "CALL"},
		{"create table", "CREATE TABLE x (a INT)", "CREATE"},
		{"create macro", "CREATE MACRO m(a) AS a", "CREATE"},
		{"insert", "INSERT INTO events (ts, source) VALUES (now(), 'x')", "INSERT"},
		{"update", "UPDATE events SET source = 'x'", "UPDATE"},
		{"delete", "DELETE FROM events", "DELETE"},
		{"drop", "DROP TABLE events", "DROP"},
		{"alter", "ALTER TABLE events ADD COLUMN x INT", "ALTER"},
		{"export", "EXPORT DATABASE '" + t.TempDir() + "'", "EXPORT"},
		{"import", "IMPORT DATABASE '" + t.TempDir() + "'", "IMPORT"},
		{"checkpoint", "CHECKPOINT", "CHECKPOINT"},
		{"transaction", "BEGIN TRANSACTION", "BEGIN"},
		{"use", "USE memory", "USE"},
		{"multiple statements", "SELECT 1; DROP TABLE events", "only one statement is allowed, found 2"},
		{"write between selects", "SELECT 1; DELETE FROM events; SELECT 1", "only one statement is allowed, found 3"},
		{"multiple selects", "SELECT 1; SELECT 2", "only one statement"},
		{"statement hidden after a comment", "SELECT 1 /* ; */; DELETE FROM events", "only one statement"},
		{"explain analyze of a delete", "EXPLAIN ANALYZE DELETE FROM events", "DELETE statements are not allowed"},
		{"with before insert", "WITH x AS (SELECT 1) INSERT INTO rejected (ts, source) SELECT now(), 'x' FROM x", "INSERT"},
		{"parenthesised copy", "(COPY events TO 'x.csv')", "COPY"},
		{"sql serialized into a string", "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_blob(''" +
			filepath.Join(s.opts.Dir, segDirName) + "/*'')'))", "json_execute_serialized_sql is not allowed"},
		{"serializing sql", "SELECT json_serialize_sql('SELECT 1') AS j", "json_serialize_sql is not allowed"},
		{"checkpoint function", "SELECT * FROM checkpoint()", "checkpoint is not allowed"},
		{"force_checkpoint in a subquery", "SELECT (SELECT count(*) FROM force_checkpoint()) AS n", "force_checkpoint is not allowed"},
		{"table function as a scalar", "SELECT read_blob('x') AS b", "read_blob is not allowed"},
		{"quoted file name as a table", `SELECT * FROM "x.csv"`, "reading from a file"},
		{"sequence", "SELECT nextval('s') AS n", "nextval is not allowed"},
		{"sleep", "SELECT sleep_ms(100000) AS n", "sleep_ms is not allowed"},
		{"explain of a hidden read", "EXPLAIN SELECT * FROM json_execute_serialized_sql('{}')", "json_execute_serialized_sql"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Query(ctx, tt.sql)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Query(%q) = %v, %v; want an error wrapping ErrRefused", tt.sql, res, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
	if _, err := os.Stat(outside); !os.IsNotExist(err) {
		t.Errorf("a refused COPY left %s behind (stat: %v)", outside, err)
	}
	// Nothing refused changed the data or the settings.
	res := mustQuery(t, s, `SELECT count(*), current_setting('enable_external_access') FROM events`)
	if want := [][]any{{int64(10), false}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("after refused queries: %v, want %v", res.Rows, want)
	}
}

// TestLockedDown checks the second line of defence on its own: with Query's
// checks bypassed, the database itself refuses files, the network, extensions
// and settings changes.
func TestLockedDown(t *testing.T) {
	s := seeded(t, Options{})
	ctx := context.Background()
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT * FROM read_text('" + secret + "')",
		"SELECT * FROM '" + secret + "'",
		"COPY events TO '" + filepath.Join(t.TempDir(), "x.csv") + "'",
		"ATTACH '" + filepath.Join(t.TempDir(), "x.db") + "'",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"SET lock_configuration = false",
	} {
		t.Run(q, func(t *testing.T) {
			if _, err := s.db.ExecContext(ctx, q); err == nil {
				t.Errorf("%q ran on a read connection", q)
			}
		})
	}
}

func TestQueryBadQuery(t *testing.T) {
	s := seeded(t, Options{})
	for _, q := range []string{"SELECT FROM WHERE", "SELECT * FROM nope", "SELECT nope FROM events", "SELECT 'unterminated"} {
		t.Run(q, func(t *testing.T) {
			_, err := s.Query(context.Background(), q)
			if !errors.Is(err, ErrBadQuery) {
				t.Errorf("Query(%q) = %v, want ErrBadQuery", q, err)
			}
		})
	}
	// DuckDB's own error stays in the chain, for callers that want its type.
	for q, want := range map[string]duckdb.ErrorType{
		"SELECT * FROM nope":      duckdb.ErrorTypeCatalog,
		"SELECT nope FROM events": duckdb.ErrorTypeBinder,
	} {
		_, err := s.Query(context.Background(), q)
		var de *duckdb.Error
		if !errors.As(err, &de) || de.Type != want {
			t.Errorf("Query(%q) = %v, want it to wrap a DuckDB error of type %v", q, err, want)
		} else if !strings.Contains(err.Error(), "nope") {
			t.Errorf("Query(%q) = %v, want the message to name nope", q, err)
		}
	}
}

func TestQueryAllowed(t *testing.T) {
	s := seeded(t, Options{})
	tests := []struct {
		name, sql string
		cols      []string
		rows      [][]any // nil: only check that rows came back
	}{
		{"cte with aggregates over json fields",
			`WITH e AS (SELECT json_extract_string(fields, '$.service') AS service, CAST(fields->>'$.latency' AS DOUBLE) AS latency FROM events)
			 SELECT service, count(*) AS n, avg(latency) AS avg_latency FROM e GROUP BY service ORDER BY service`,
			[]string{"service", "n", "avg_latency"},
			[][]any{{"api", int64(5), 4.0}, {"web", int64(5), 5.0}}},
		{"from-first", "FROM events SELECT count(*) AS n", []string{"n"}, [][]any{{int64(10)}}},
		{"values", "VALUES (1, 'a')", []string{"col0", "col1"}, [][]any{{int32(1), "a"}}},
		{"parenthesised select", "(SELECT 1 AS one)", []string{"one"}, [][]any{{int32(1)}}},
		{"trailing semicolon and comment", "SELECT 2 AS two; -- done", []string{"two"}, [][]any{{int32(2)}}},
		{"url compared, not fetched", "SELECT 'https://example.com/a' LIKE 'https://%' AS m", []string{"m"}, [][]any{{true}}},
		{"keyword inside a string", "SELECT 'DROP TABLE events; read_csv(x)' AS s", []string{"s"}, [][]any{{"DROP TABLE events; read_csv(x)"}}},
		{"describe", "DESCRIBE events", nil, nil},
		{"show tables", "SHOW TABLES", nil, nil},
		{"summarize", "SUMMARIZE events", nil, nil},
		{"explain", "EXPLAIN SELECT count(*) FROM events", nil, nil},
		{"explain analyze of a select", "EXPLAIN ANALYZE SELECT count(*) FROM events", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustQuery(t, s, tt.sql)
			if tt.cols != nil && !reflect.DeepEqual(res.Columns, tt.cols) {
				t.Errorf("columns = %v, want %v", res.Columns, tt.cols)
			}
			if tt.rows != nil && !reflect.DeepEqual(res.Rows, tt.rows) {
				t.Errorf("rows = %#v, want %#v", res.Rows, tt.rows)
			}
			if len(res.Rows) == 0 {
				t.Errorf("no rows")
			}
		})
	}

	t.Run("describe lists the columns", func(t *testing.T) {
		res := mustQuery(t, s, "DESCRIBE events")
		var names []string
		for _, r := range res.Rows {
			names = append(names, r[0].(string))
		}
		if want := []string{"ts", "source", "fields", "flags", "raw"}; !reflect.DeepEqual(names, want) {
			t.Errorf("columns of events = %v, want %v", names, want)
		}
	})
}

func TestQueryValues(t *testing.T) {
	s := openTest(t, Options{})
	res := mustQuery(t, s, `SELECT TIMESTAMPTZ '2025-03-01 12:00:00.1234+00' AS ts, 'nan'::DOUBLE AS nan, 'inf'::FLOAT AS inf,
		170141183460469231731687303715884105727::HUGEINT AS big, 42::HUGEINT AS small, 1.25::DECIMAL(10,2) AS dec,
		'abc'::BLOB AS blob, [1.5, 'nan'::DOUBLE] AS list, {'a': 1, 'b': 'x'} AS st, '{"k":[1,null]}'::JSON AS js,
		'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS id, NULL AS nothing`)
	want := []any{
		"2025-03-01T12:00:00.123Z", nil, nil, 1.7014118346046923e38, int64(42), 1.25,
		"abc", []any{1.5, nil}, map[string]any{"a": int32(1), "b": "x"}, map[string]any{"k": []any{1.0, nil}},
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8", nil,
	}
	if len(res.Rows) != 1 {
		t.Fatalf("rows = %v", res.Rows)
	}
	for i, w := range want {
		if got := res.Rows[0][i]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", res.Columns[i], got, got, w, w)
		}
	}
}

func TestQueryMaxRows(t *testing.T) {
	s := seeded(t, Options{MaxRows: 3})
	tests := []struct {
		sql       string
		rows      int
		truncated bool
	}{
		{"SELECT * FROM events", 3, true},
		{"SELECT * FROM range(3)", 3, false},
		{"SELECT * FROM range(2)", 2, false},
		{"SELECT * FROM range(0)", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			res := mustQuery(t, s, tt.sql)
			if len(res.Rows) != tt.rows || res.Truncated != tt.truncated {
				t.Errorf("got %d rows, truncated %v; want %d, %v", len(res.Rows), res.Truncated, tt.rows, tt.truncated)
			}
			if res.Rows == nil {
				t.Errorf("Rows is nil; want an empty list so the JSON says []")
			}
		})
	}
}

func TestQueryTimeout(t *testing.T) {
	s := seeded(t, Options{QueryTimeout: 300 * time.Millisecond})
	_, err := s.Query(context.Background(), `SELECT sum(a.range * b.range) FROM range(1000000000) a CROSS JOIN range(1000000000) b`)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow query = %v, want context.DeadlineExceeded", err)
	}
	// The connection it ran on is usable again.
	res := mustQuery(t, s, "SELECT count(*) FROM events")
	if want := [][]any{{int64(10)}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("after timeout: %v, want %v", res.Rows, want)
	}
}

func TestQueryRunsBesideWrites(t *testing.T) {
	s := seeded(t, Options{})
	ctx := context.Background()
	// A query must not see or disturb rows the writer has not committed, and
	// the writer must keep committing while queries run.
	for i := range 5 {
		if err := s.WriteWindow(ctx, win("p", t0.Add(time.Duration(i)*time.Second), nil, []string{"v"}, 1)); err != nil {
			t.Fatal(err)
		}
		mustQuery(t, s, "SELECT count(*) FROM windows")
	}
	mustFlush(t, s)
	res := mustQuery(t, s, "SELECT count(*) FROM windows")
	if want := [][]any{{int64(5)}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("windows = %v, want %v", res.Rows, want)
	}
}

func TestParserReadsNoFiles(t *testing.T) {
	// IMPORT DATABASE is expanded while statements are extracted, by reading
	// the directory's schema.sql: the parser's database must refuse to.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "schema.sql"), []byte("CREATE TABLE secret (a INT);"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := newParser()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	n, err := p.count("IMPORT DATABASE '" + dir + "'")
	if err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("count(IMPORT) = %d, %v; want a permission error", n, err)
	}
	for q, want := range map[string]int{"SELECT 1": 1, "SELECT 1;": 1, "SELECT 1; SELECT 2": 2, "SELECT ';'": 1} {
		if n, err := p.count(q); n != want || err != nil {
			t.Errorf("count(%q) = %d, %v; want %d", q, n, err, want)
		}
	}
}

func TestLex(t *testing.T) {
	tests := []struct {
		in   string
		want []string // kind:text
	}{
		{"SELECT a FROM t", []string{"w:select", "w:a", "w:from", "w:t"}},
		{"select 'it''s' -- c\n, \"Q\"\"x\"", []string{"w:select", "s:it's", "p:,", "q:q\"x"}},
		{"/* a /* nested */ b */ x", []string{"w:x"}},
		{"E'a\\'b' $$x;y$$ $t$z$t$ $1", []string{"s:a'b", "s:x;y", "s:z", "n:$1"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			toks, err := lex(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tk := range toks {
				got = append(got, string(tk.kind)+":"+tk.text)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lex = %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"'open", `"open`, "/* open", "$x$ open"} {
		if _, err := lex(bad); err == nil {
			t.Errorf("lex(%q) succeeded, want an error", bad)
		}
	}
}
