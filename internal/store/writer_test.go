package store

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// TestEventsAwkwardValues stores events whose fields and raw bytes need care
// on the way into DuckDB and reads them back as a user would, with SQL.
func TestEventsAwkwardValues(t *testing.T) {
	s := openTest(t, Options{StoreEvents: true})
	ctx := context.Background()
	evs := []*event.Event{
		{Time: t0, Source: "push", Raw: []byte("{\"msg\":\"caf\xe9\"}"),
			Fields: map[string]any{"msg": "caf\xe9", "q": "say \"hi\"\n", "nul": "a\x00b\u2028", "tags": []any{"a", 2.0, nil, math.Inf(1)}, "big": 1e21, "tiny": -2.5e-7}},
		{Time: t0.Add(time.Second), Source: "host", Fields: nil},
		{Time: t0.Add(2 * time.Second), Source: "push", Raw: []byte(`{}`), Fields: map[string]any{}},
	}
	if err := s.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	evs[0] = nil // the store keeps its own copy of the slice
	mustFlush(t, s)
	res := mustQuery(t, s, `SELECT source, fields->>'msg', fields->>'q' || coalesce(fields->>'nul', ''), CAST(fields->'tags' AS VARCHAR),
		CAST(fields->'big' AS DOUBLE), CAST(fields->'tiny' AS DOUBLE), CAST(fields AS VARCHAR), raw FROM events ORDER BY ts`)
	want := [][]any{
		{"push", "caf\uFFFD", "say \"hi\"\na\x00b\u2028", `["a",2,null,null]`, 1e21, -2.5e-7, nil, "{\"msg\":\"caf\uFFFD\"}"},
		{"host", nil, nil, nil, nil, nil, nil, ""},
		{"push", nil, nil, nil, nil, nil, "{}", "{}"},
	}
	// The whole fields text of the first row is checked by TestAppendFields;
	// here it only has to be there.
	if len(res.Rows) == 3 && res.Rows[0][6] != nil {
		res.Rows[0][6] = nil
	}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("rows\n got %#v\nwant %#v", res.Rows, want)
	}
}

// TestWindowUpdateReplaces checks that a window re-emitted with Update
// (late: update) replaces its stored row, however often it is corrected and
// whether or not the earlier row was committed yet, and leaves other windows
// alone.
func TestWindowUpdateReplaces(t *testing.T) {
	names := []string{"requests", "p99"}
	a := map[string]string{"service": "a"}
	b := map[string]string{"service": "b"}
	upd := func(w *event.Window) *event.Window { w.Update = true; return w }
	tests := []struct {
		name   string
		writes []*event.Window
		flush  bool // commit between the first write and the rest
		want   map[string][]float64
	}{
		{"update after commit", []*event.Window{
			win("api", t0, a, names, 10, 0.5),
			win("api", t0, b, names, 20, 0.7),
			upd(win("api", t0, a, names, 12, 0.9)),
		}, true, map[string][]float64{"a@0": {12, 0.9}, "b@0": {20, 0.7}}},
		{"update of a row still in the appender", []*event.Window{
			win("api", t0, a, names, 10, 0.5),
			upd(win("api", t0, a, names, 11, math.NaN())),
		}, false, map[string][]float64{"a@0": {11, math.NaN()}}},
		{"updated twice", []*event.Window{
			win("api", t0, a, names, 10, 0.5),
			upd(win("api", t0, a, names, 11, 0.6)),
			upd(win("api", t0, a, names, 13, 0.8)),
		}, true, map[string][]float64{"a@0": {13, 0.8}}},
		{"other windows of the group and pipelines untouched", []*event.Window{
			win("api", t0, a, names, 10, 0.5),
			win("api", t0.Add(10*time.Second), a, names, 30, 0.1),
			win("other", t0, a, names, 40, 0.2),
			upd(win("api", t0, a, names, 15, 0.6)),
		}, true, map[string][]float64{"a@0": {15, 0.6}, "a@10": {30, 0.1}, "other:a@0": {40, 0.2}}},
		{"update without an earlier row", []*event.Window{
			upd(win("api", t0, a, names, 5, 0.1)),
		}, false, map[string][]float64{"a@0": {5, 0.1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, Options{})
			ctx := context.Background()
			for i, w := range tt.writes {
				if err := s.WriteWindow(ctx, w); err != nil {
					t.Fatal(err)
				}
				if i == 0 && tt.flush {
					mustFlush(t, s)
				}
			}
			mustFlush(t, s)
			if n := s.Backlog(); n != 0 {
				t.Errorf("Backlog = %d after Flush, want 0", n)
			}
			got, err := s.Windows(ctx, WindowQuery{})
			if err != nil {
				t.Fatal(err)
			}
			have := map[string][]float64{}
			for _, w := range got {
				k := w.Group[0] + "@" + w.Start.Sub(t0).String()
				k = k[:len(k)-1] // "10s" → "10"
				if w.Pipeline != "api" {
					k = w.Pipeline + ":" + k
				}
				if _, dup := have[k]; dup {
					t.Errorf("window %s stored twice", k)
				}
				have[k] = w.Values
			}
			if !equalNaN(have, tt.want) {
				t.Errorf("windows = %v, want %v", have, tt.want)
			}
		})
	}
}

func equalNaN(a, b map[string][]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if av[i] != bv[i] && !(math.IsNaN(av[i]) && math.IsNaN(bv[i])) {
				return false
			}
		}
	}
	return true
}

// TestAppendGroupAsEncodingJSON checks that the writer's group text is what
// earlier versions stored (json.Marshal of GroupMap): a re-emitted window
// finds its stored row by that text, also a row stored before an upgrade.
func TestAppendGroupAsEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name        string
		keys, group []string
	}{
		{"none", nil, nil},
		{"one", []string{"service"}, []string{"api"}},
		{"html and quotes", []string{"service"}, []string{`<a&b> "q" \ /`}},
		{"control and unicode", []string{"s"}, []string{"tab\tnl\n\x01 é 日本 \u2028\u2029"}},
		{"invalid UTF-8", []string{"s"}, []string{"bad \xff byte"}},
		{"keys in order", []string{"app", "zone"}, []string{"x", "eu"}},
		{"keys out of order", []string{"zone", "app", "host"}, []string{"eu", "x", "h1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &event.Window{GroupKeys: tc.keys, Group: tc.group}
			want, err := json.Marshal(w.GroupMap())
			if err != nil {
				t.Fatal(err)
			}
			if got := appendGroup(nil, w); string(got) != string(want) {
				t.Errorf("appendGroup = %s, want %s", got, want)
			}
		})
	}
}

// TestWindowsGatheredAndCommitted checks that windows gathered for a batch
// reach the table without a Flush (at the writer's tick), ahead of a later
// AfterCommit, and that an awkward group is replaced by its update.
func TestWindowsGatheredAndCommitted(t *testing.T) {
	names := []string{"n"}
	odd := map[string]string{"service": `<a&b> "é"`, "zone": "eu"}
	t.Run("committed at the tick without Flush", func(t *testing.T) {
		s := openTest(t, Options{FlushInterval: 20 * time.Millisecond, WindowBatch: 100})
		ctx := context.Background()
		for i := range 3 {
			if err := s.WriteWindow(ctx, win("api", t0.Add(time.Duration(i)*10*time.Second), odd, names, float64(i))); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := s.Windows(ctx, WindowQuery{Pipeline: "api"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d windows stored after 10 s, want 3", len(got))
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The backlog drops once the whole commit is done, a moment after
		// the windows' table has them.
		for s.Backlog() != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := s.Backlog(); n != 0 {
			t.Errorf("Backlog = %d, want 0", n)
		}
	})
	t.Run("committed by a later Flush, with an AfterCommit before it", func(t *testing.T) {
		s := openTest(t, Options{FlushInterval: time.Hour, WindowBatch: 100})
		ctx := context.Background()
		if err := s.WriteWindow(ctx, win("api", t0, odd, names, 1)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if err := s.AfterCommit(ctx, func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		mustFlush(t, s) // AfterCommit rides on this commit
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got, err := s.Windows(ctx, WindowQuery{Pipeline: "api"})
		if err != nil || len(got) != 1 {
			t.Fatalf("windows %v, err %v; want 1", got, err)
		}
	})
	t.Run("update of an awkward group replaces it", func(t *testing.T) {
		s := openTest(t, Options{WindowBatch: 100})
		ctx := context.Background()
		u := win("api", t0, odd, names, 2)
		u.Update = true
		for _, w := range []*event.Window{win("api", t0, odd, names, 1), u} {
			if err := s.WriteWindow(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		mustFlush(t, s)
		got, err := s.Windows(ctx, WindowQuery{Pipeline: "api"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Values[0] != 2 || got[0].GroupMap()["service"] != odd["service"] {
			t.Errorf("windows %+v, want one with n=2 and service %q", got, odd["service"])
		}
	})
	t.Run("a full batch goes without a tick", func(t *testing.T) {
		s := openTest(t, Options{FlushInterval: time.Hour, BatchSize: 4, WindowBatch: 2})
		ctx := context.Background()
		for i := range 4 { // two batches of 2: 4 rows commit by BatchSize
			if err := s.WriteWindow(ctx, win("api", t0.Add(time.Duration(i)*10*time.Second), nil, names, 1)); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for s.Backlog() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("Backlog = %d after 10 s, want 0", s.Backlog())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
