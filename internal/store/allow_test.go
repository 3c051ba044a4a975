package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzSQLFilter feeds Query arbitrary statements against a store whose
// event directory (the one directory DuckDB may read) holds a secret file.
// Whatever the statement, the secret never comes back in an answer, the
// lock-down settings stay as they are, and a refusal is one of Query's
// documented errors.
func FuzzSQLFilter(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(Options{Dir: dir, QueryTimeout: 2 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	const secret = "s3cr3t-canary-5f1d"
	segs := filepath.Join(dir, segDirName)
	if err := os.WriteFile(filepath.Join(segs, "canary.txt"), []byte(secret), 0o600); err != nil {
		f.Fatal(err)
	}
	glob := filepath.Join(segs, "*")
	for _, seed := range []string{
		"SELECT 1",
		"SELECT count(*) FROM events",
		"SELECT * FROM window_values('p')",
		"SELECT * FROM read_blob('" + glob + "')",
		"SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_blob(''" + glob + "'')'))",
		"SELECT * FROM json_execute_serialized_sql('{\"error\":false,\"statements\":[]}')",
		"SELECT * FROM query('SELECT content FROM read_text(''" + glob + "'')')",
		"SELECT * FROM \"read_text\"('" + glob + "')",
		"SELECT * FROM main.read_text('" + glob + "')",
		"SELECT * FROM system.main.read_text('" + glob + "')",
		"FROM '" + glob + "'",
		"SELECT * FROM \"" + filepath.Join(segs, "canary.txt") + "\"",
		"WITH x AS (SELECT * FROM read_csv('" + glob + "')) SELECT * FROM x",
		"SELECT (SELECT content FROM read_text('" + glob + "'))",
		"SELECT * FROM checkpoint()",
		"EXPLAIN ANALYZE SELECT * FROM read_text('" + glob + "')",
		"SELECT list_transform([1], x -> (SELECT content FROM read_text('" + glob + "')))",
		"DESCRIBE SELECT * FROM read_text('" + glob + "')",
		"SUMMARIZE SELECT * FROM read_text('" + glob + "')",
		"SELECT * FROM glob('" + glob + "')",
		"SELECT json_serialize_sql('SELECT 1')",
		"SELECT * FROM range(3) t(x), LATERAL (SELECT * FROM read_text('" + glob + "'))",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		ctx := context.Background()
		res, err := s.Query(ctx, q)
		if err == nil {
			for _, row := range res.Rows {
				if strings.Contains(fmt.Sprint(row...), secret) {
					t.Fatalf("Query(%q) read the secret file: %v", q, row)
				}
			}
		}
		if errors.Is(err, ErrClosed) {
			t.Fatalf("Query(%q) closed the store", q)
		}
		check, cerr := s.Query(ctx, "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')")
		if cerr != nil {
			t.Fatalf("after Query(%q) the store cannot answer: %v", q, cerr)
		}
		if got := fmt.Sprint(check.Rows); got != "[[false true]]" {
			t.Fatalf("after Query(%q) external access, lock = %s", q, got)
		}
	})
}
