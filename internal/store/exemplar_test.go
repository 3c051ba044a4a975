package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/lookout-dev/lookout/internal/event"
)

// TestWindowExemplarsRoundTrip: exemplars written with a window come back
// from Windows, from a replaced (late: update) row too, and a window
// without exemplars stores NULL and reads back nil.
func TestWindowExemplarsRoundTrip(t *testing.T) {
	ex := []event.Exemplar{
		{Aggregate: "max", Value: 0.9, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Time: t0.Add(2 * time.Second)},
		{Aggregate: "p99", Value: 0.85, TraceID: "0af7651916cd43dd8448eb211c80319c", Time: t0.Add(3 * time.Second)},
	}
	tests := []struct {
		name   string
		writes func() []*event.Window
		want   []event.Exemplar
	}{
		{"with exemplars", func() []*event.Window {
			w := win("api", t0, map[string]string{"service": "api"}, []string{"max", "p99"}, 0.9, 0.85)
			w.Exemplars = ex
			return []*event.Window{w}
		}, ex},
		{"without exemplars", func() []*event.Window {
			return []*event.Window{win("api", t0, nil, []string{"max"}, 1)}
		}, nil},
		{"replaced by a late update", func() []*event.Window {
			w := win("api", t0, nil, []string{"max", "p99"}, 0.5, 0.5)
			u := win("api", t0, nil, []string{"max", "p99"}, 0.9, 0.85)
			u.Update, u.Exemplars = true, ex
			return []*event.Window{w, u}
		}, ex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, Options{})
			ctx := context.Background()
			for _, w := range tt.writes() {
				if err := s.WriteWindow(ctx, w); err != nil {
					t.Fatal(err)
				}
			}
			mustFlush(t, s)
			got, err := s.Windows(ctx, WindowQuery{Pipeline: "api"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d windows, want 1", len(got))
			}
			g := got[0].Exemplars
			if len(g) != len(tt.want) {
				t.Fatalf("exemplars = %+v, want %+v", g, tt.want)
			}
			for i := range g {
				if g[i].Aggregate != tt.want[i].Aggregate || g[i].Value != tt.want[i].Value ||
					g[i].TraceID != tt.want[i].TraceID || !g[i].Time.Equal(tt.want[i].Time) {
					t.Errorf("exemplar %d = %+v, want %+v", i, g[i], tt.want[i])
				}
			}
		})
	}
	t.Run("queryable in SQL", func(t *testing.T) {
		s := openTest(t, Options{})
		w := win("api", t0, nil, []string{"max"}, 0.9)
		w.Exemplars = ex[:1]
		if err := s.WriteWindow(context.Background(), w); err != nil {
			t.Fatal(err)
		}
		mustFlush(t, s)
		res := mustQuery(t, s, `SELECT exemplars->>'$[0].trace_id' FROM windows`)
		if want := [][]any{{ex[0].TraceID}}; !reflect.DeepEqual(res.Rows, want) {
			t.Errorf("rows %#v, want %#v", res.Rows, want)
		}
	})
}

// TestMigrationAddsExemplars: a database created before the exemplars
// column and the event segments (schema version 1) gets the column on open
// and keeps its rows, its events included: they stay readable through the
// events view, beside the events stored since.
func TestMigrationAddsExemplars(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openTest(t, Options{Dir: dir})
	if err := s.WriteWindow(ctx, win("api", t0, nil, []string{"max"}, 1)); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	s.Close()
	// Turn it back into a version-1 database.
	c, err := duckdb.NewConnector(filepath.Join(dir, FileName), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	for _, q := range []string{`ALTER TABLE windows DROP COLUMN exemplars`, `ALTER TABLE windows DROP COLUMN future`, `DROP VIEW events`, `ALTER TABLE events_rows RENAME TO events`,
		`INSERT INTO events VALUES ('2026-11-26 10:00:00+00', 'old', '{"a":1}', 'late', 'raw')`,
		`DELETE FROM schema_version WHERE version >= 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	c.Close()

	s = openTest(t, Options{Dir: dir, StoreEvents: true})
	w := win("api", t0.Add(10*time.Second), nil, []string{"max"}, 2)
	w.Exemplars = []event.Exemplar{{Aggregate: "max", Value: 2, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Time: t0.Add(11 * time.Second)}}
	if err := s.WriteWindow(ctx, w); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	got, err := s.Windows(ctx, WindowQuery{Pipeline: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Exemplars != nil || len(got[1].Exemplars) != 1 || got[1].Exemplars[0].TraceID != w.Exemplars[0].TraceID {
		t.Errorf("windows after migration = %+v, want the old one without and the new one with an exemplar", got)
	}
	if err := s.WriteEvents(ctx, []*event.Event{{Time: t0, Source: "new", Fields: map[string]any{"b": 2.0}, Raw: []byte("r2")}}); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, s)
	res := mustQuery(t, s, `SELECT source, CAST(fields AS VARCHAR), flags, raw FROM events ORDER BY source DESC`)
	if want := [][]any{{"old", `{"a":1}`, "late", "raw"}, {"new", `{"b":2}`, "", "r2"}}; !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("events after migration = %v, want %v", res.Rows, want)
	}
}
