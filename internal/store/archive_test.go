package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// TestPruneArchivesInChunks: expired rows are deleted in chunks of at most
// PruneChunk, each chunk first written to its own Parquet file, which holds
// exactly the deleted rows; the query path still cannot write files.
func TestPruneArchivesInChunks(t *testing.T) {
	archive := t.TempDir()
	s := openTest(t, Options{StoreEvents: true, PruneChunk: 3, ArchiveDir: archive,
		Retention: Retention{Events: time.Hour, Windows: time.Hour}})
	ctx := context.Background()
	now := t0.Add(48 * time.Hour)
	var evs []*event.Event
	for i := range 12 {
		age := 2*time.Hour + time.Duration(i)*time.Minute // 10 expired, 2 kept
		if i >= 10 {
			age = time.Duration(i) * time.Minute
		}
		evs = append(evs, &event.Event{Time: now.Add(-age), Source: "push", Raw: []byte(`{"i":1}`),
			Fields: map[string]any{"i": float64(i)}, Flags: event.FlagLate})
	}
	if err := s.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteWindow(ctx, win("api", now.Add(-3*time.Hour), map[string]string{"service": "a"}, []string{"errors"}, 4)); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 11 {
		t.Errorf("Prune deleted %d rows, want 11 (10 events, 1 window)", n)
	}
	files, _ := filepath.Glob(filepath.Join(archive, "events", "*.parquet"))
	if len(files) != 4 { // chunks of 3, 3, 3 and 1
		t.Errorf("event archive files = %v, want 4", files)
	}
	if left, _ := filepath.Glob(filepath.Join(archive, "*", ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Read the archive back with a separate DuckDB that may read files.
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var count int64
	var oldest, newest time.Time
	var fields, flags, source string
	if err := db.QueryRowContext(ctx, `SELECT count(*), min(ts), max(ts), any_value(fields), any_value(flags), any_value(source)
		FROM read_parquet(?)`, filepath.Join(archive, "events", "*.parquet")).Scan(&count, &oldest, &newest, &fields, &flags, &source); err != nil {
		t.Fatal(err)
	}
	if count != 10 || !oldest.Equal(now.Add(-2*time.Hour-9*time.Minute)) || !newest.Equal(now.Add(-2*time.Hour)) ||
		flags != "late" || source != "push" || len(fields) < 7 {
		t.Errorf("archived events: %d rows from %v to %v, fields %q flags %q source %q", count, oldest, newest, fields, flags, source)
	}
	var grp, vals string
	if err := db.QueryRowContext(ctx, `SELECT grp, vals FROM read_parquet(?)`, filepath.Join(archive, "windows", "*.parquet")).Scan(&grp, &vals); err != nil {
		t.Fatal(err)
	}
	if grp != `{"service":"a"}` || vals != `{"errors":4}` {
		t.Errorf("archived window grp %s vals %s", grp, vals)
	}

	res := mustQuery(t, s, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM windows), current_setting('enable_external_access')`)
	if want := [][]any{{int64(2), int64(0), false}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("after prune: %v, want %v", res.Rows, want)
	}
	if _, err := s.Query(ctx, "COPY events TO '"+filepath.Join(archive, "x.parquet")+"' (FORMAT parquet)"); err == nil {
		t.Error("the query path wrote a file")
	}
	if _, err := os.Stat(filepath.Join(archive, "x.parquet")); !os.IsNotExist(err) {
		t.Errorf("x.parquet exists: %v", err)
	}
	// Nothing left to prune: nothing more archived.
	if n, err := s.Prune(ctx, now); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v", n, err)
	}
}
