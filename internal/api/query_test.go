package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/internal/store"
)

// queryBackend answers queries from a real store.
type queryBackend struct {
	Backend
	st *store.Store
}

func (b queryBackend) QueryStream(ctx context.Context, q string, maxBytes int64, begin func(cols, types []string) error, emit func(row []any) (bool, error)) (bool, error) {
	return b.st.Stream(ctx, q, maxBytes, begin, emit)
}

func postSQL(t *testing.T, srv http.Handler, sql string) *httptest.ResponseRecorder {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"sql": sql})
	r := httptest.NewRequest("POST", "http://127.0.0.1:9470/api/v1/query", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w
}

// TestQueryAnswerCappedInBytes: rows of 10 kB each, 100 MB in all and
// under the row cap, come back cut at the default query.max_bytes with
// "truncated": true, as valid JSON; a small answer is whole.
func TestQueryAnswerCappedInBytes(t *testing.T) {
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := New(Options{Backend: queryBackend{st: st}})

	w := postSQL(t, srv, "SELECT repeat('x', 10000) AS s FROM range(10000)")
	if w.Code != 200 {
		t.Fatalf("status %d: %.300s", w.Code, w.Body)
	}
	if n := w.Body.Len(); n > DefaultQueryMaxBytes+1024 {
		t.Errorf("answer is %d bytes, over the %d cap", n, DefaultQueryMaxBytes)
	}
	var res struct {
		Columns   []string   `json:"columns"`
		Rows      [][]string `json:"rows"`
		Truncated bool       `json:"truncated"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	// ["x…"], is 10,005 bytes; DuckDB's bound counts {"s":"x…"}, 10,008.
	if most := DefaultQueryMaxBytes / 10005; !res.Truncated || len(res.Rows) > most || len(res.Rows) < most-3 {
		t.Errorf("%d rows, truncated %v; want about the %d that fit, truncated", len(res.Rows), res.Truncated, most)
	}
	if len(res.Rows) > 0 && len(res.Rows[0][0]) != 10000 {
		t.Errorf("a row holds %d bytes, want 10000", len(res.Rows[0][0]))
	}

	w = postSQL(t, srv, "SELECT range AS n FROM range(3)")
	if got := strings.TrimSpace(w.Body.String()); w.Code != 200 || got != `{"columns":["n"],"rows":[[0],[1],[2]]}` {
		t.Errorf("small answer: %d %s", w.Code, got)
	}
	w = postSQL(t, srv, "SELECT * FROM nope")
	if w.Code != 400 || !strings.Contains(w.Body.String(), "nope") {
		t.Errorf("bad query: %d %s, want 400 naming the table", w.Code, w.Body)
	}
}
