package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/store"
)

// TestWindowsTheSameWithoutStoredEvents: with storage.events off the
// sources decode only the fields the pipelines read (preprocess Keep), and
// the windows come out exactly as with every field decoded — where,
// group_by, aggregates over a converted field, a field the pipeline reads
// only through a condition, and the trace id behind an exemplar.
func TestWindowsTheSameWithoutStoredEvents(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).Truncate(10 * time.Second)
	var body bytes.Buffer
	for i := range 40 {
		fmt.Fprintf(&body, `{"ts":%d,"svc":"s%d","region":{"name":"eu"},"status":%d,"latency_ms":%d,"path":"/x","ua":"curl","trace_id":"4bf92f3577b34da6a3ce929d0e0e47%02d"}`+"\n",
			t0.Add(time.Duration(i)*time.Second).UnixMilli(), i%2, 200+300*(i%3/2), 10+i, i)
	}
	// An event far later closes the windows above by event time.
	fmt.Fprintf(&body, `{"ts":%d,"svc":"s0","region":{"name":"eu"},"status":200,"latency_ms":1}`+"\n", t0.Add(time.Minute).UnixMilli())

	windows := func(storeEvents bool) []string {
		a := runApp(t, fmt.Sprintf(`
storage:
  events: %v
sources:
  - name: push
    type: push
    fields:
      latency_ms: {type: number, unit: ms, to: s, as: latency}
pipelines:
  - name: api
    from: [push]
    where: region.name == "eu"
    group_by: [svc]
    window: 10s
    lateness: 1s
    aggregates:
      requests: count()
      errors:   count(status >= 500)
      p99:      quantile(latency, 0.99)
      slowest:  max(latency)
`, storeEvents))
		ctx := context.Background()
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9470/api/v1/events?source=push", bytes.NewReader(body.Bytes())))
		if rec.Code != http.StatusOK {
			t.Fatalf("push: %d %s", rec.Code, rec.Body)
		}
		var out []string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if err := a.store.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			ws, err := a.store.Windows(ctx, store.WindowQuery{Pipeline: "api"})
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) < 8 { // 4 windows of 10 s × 2 services
				continue
			}
			out = out[:0]
			for _, w := range ws {
				ex := ""
				for _, e := range w.Exemplars {
					ex += e.Aggregate + "=" + e.TraceID + " "
				}
				out = append(out, fmt.Sprintf("%s %v %v %v %v %s", w.Start.Sub(t0), w.Group, w.Names, w.Values, w.Count, ex))
			}
			return out
		}
		t.Fatalf("events=%v: windows did not close", storeEvents)
		return nil
	}
	all, kept := windows(true), windows(false)
	if !reflect.DeepEqual(all, kept) {
		t.Errorf("windows differ\nevery field decoded: %q\nonly what pipelines read: %q", all, kept)
	}
	t.Logf("%q", kept)
}
