package app

import (
	"context"
	"fmt"
	"testing"
)

// TestStorageMemoryLimit checks that storage.memory_limit reaches DuckDB,
// as a user sees it through /api/v1/query, and that leaving it out gives the
// documented default (64MB, which DuckDB shows in MiB).
func TestStorageMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name, key, want string
	}{
		{"default", "", "61.0 MiB"},
		{"set in MiB", "memory_limit: 64MiB", "64.0 MiB"},
		{"set in GB", "memory_limit: 1GB", "953.6 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := runApp(t, fmt.Sprintf(`
storage: {%s}
sources: [{name: push, type: push}]
pipelines:
  - {name: api, from: [push], window: 10s, aggregates: {n: count()}}
self: {interval: 1h}
`, tc.key))
			res, err := backend{a}.Query(context.Background(), `SELECT current_setting('memory_limit')`)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Rows); got != "[["+tc.want+"]]" {
				t.Errorf("memory_limit = %s, want %s", got, tc.want)
			}
		})
	}
}
