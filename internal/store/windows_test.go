package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestWindowsOfACountPipelineByEnd: the windows of a {count: N} pipeline (the
// default config's host) all start at the first sample; the newest are the
// ones that end last, and since= keeps those that end after it.
func TestWindowsOfACountPipelineByEnd(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	for i := range 6 {
		w := win("host", t0, nil, []string{"n"}, float64(i))
		w.End = t0.Add(time.Duration(i+1) * 10 * time.Second)
		if err := s.WriteWindow(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, s)
	for _, tt := range []struct {
		name string
		q    WindowQuery
		want []float64
	}{
		{"limit keeps the newest", WindowQuery{Pipeline: "host", Limit: 3}, []float64{3, 4, 5}},
		{"since", WindowQuery{Pipeline: "host", Since: t0.Add(45 * time.Second)}, []float64{4, 5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Windows(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var vals []float64
			for _, w := range got {
				vals = append(vals, w.Values[0])
			}
			if !reflect.DeepEqual(vals, tt.want) {
				t.Errorf("values = %v, want %v", vals, tt.want)
			}
		})
	}
}
