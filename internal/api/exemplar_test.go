package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/store"
)

// storeBackend serves windows from a real store.
type storeBackend struct {
	st *store.Store
}

func (b storeBackend) Windows(ctx context.Context, q store.WindowQuery) ([]event.Window, error) {
	return b.st.Windows(ctx, q)
}

func TestWindowsExemplarsJSON(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, w := range []*event.Window{
		{Pipeline: "api", Start: t0, End: t0.Add(10 * time.Second), Names: []string{"max"}, Values: []float64{0.9}, Count: 3,
			Exemplars: []event.Exemplar{{Aggregate: "max", Value: 0.9, TraceID: id, Time: t0.Add(2500 * time.Millisecond)}}},
		{Pipeline: "api", Start: t0.Add(10 * time.Second), End: t0.Add(20 * time.Second), Names: []string{"max"}, Values: []float64{1}, Count: 1},
	} {
		if err := st.WriteWindow(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		traceURL string
		want     []any // the exemplars of the first window
	}{
		{"with trace_url", "https://jaeger.example.com/trace/{trace_id}", []any{map[string]any{
			"aggregate": "max", "value": 0.9, "trace_id": id, "ts": "2025-03-01T12:00:02.500Z",
			"url": "https://jaeger.example.com/trace/" + id,
		}}},
		{"without trace_url", "", []any{map[string]any{
			"aggregate": "max", "value": 0.9, "trace_id": id, "ts": "2025-03-01T12:00:02.500Z",
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(New(Options{Backend: Backend{Windows: storeBackend{st: st}}, TraceURL: tt.traceURL}))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/api/v1/windows?pipeline=api")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var body struct {
				Data []map[string]any `json:"data"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if len(body.Data) != 2 {
				t.Fatalf("%d windows, want 2", len(body.Data))
			}
			if got := body.Data[0]["exemplars"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("exemplars = %#v\nwant %#v", got, tt.want)
			}
			if _, ok := body.Data[1]["exemplars"]; ok {
				t.Errorf("window without exemplars has %v, want the key left out", body.Data[1]["exemplars"])
			}
		})
	}
}

func TestTraceURL(t *testing.T) {
	tests := []struct{ tmpl, id, want string }{
		{"https://j/trace/{trace_id}", "abc", "https://j/trace/abc"},
		{"http://g/explore?q={trace_id}&t={trace_id}", "ab", "http://g/explore?q=ab&t=ab"},
		{"", "abc", ""},
		{"https://j/{trace_id}", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			if got := TraceURL(tt.tmpl, tt.id); got != tt.want {
				t.Errorf("TraceURL(%q, %q) = %q, want %q", tt.tmpl, tt.id, got, tt.want)
			}
		})
	}
}
