package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestQueryOutOfMemoryNamesTheSetting: a query past DuckDB's memory limit
// fails with a message pointing to storage.memory_limit, not to a SET the
// query endpoint refuses.
func TestQueryOutOfMemoryNamesTheSetting(t *testing.T) {
	s := openTest(t, Options{})
	_, err := s.Query(context.Background(), "SELECT len(list(range)) AS n FROM range(40000000)")
	if err == nil {
		t.Fatal("a 320 MB list under the default 64MB memory limit ran")
	}
	msg := err.Error()
	if !strings.Contains(msg, "storage.memory_limit") || strings.Contains(msg, "SET memory_limit") || strings.Contains(msg, "SET ") {
		t.Errorf("error %q should point to storage.memory_limit and suggest no SET", msg)
	}
	if !errors.Is(err, ErrTooBig) {
		t.Errorf("error %q does not wrap ErrTooBig", msg)
	}
}
