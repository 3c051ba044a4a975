package window

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

func TestAggregatesOverOneWindow(t *testing.T) {
	events := []*event.Event{
		ev(1*time.Second, "status", 200.0, "latency", 0.1, "user", "a"),
		ev(2*time.Second, "status", 503.0, "latency", 0.5, "user", "b"),
		ev(3*time.Second, "status", 200.0, "latency", 0.3, "user", "a"),
		ev(4*time.Second, "status", 500.0, "user", 7.0), // no latency
		ev(5*time.Second, "status", "oops", "latency", "slow"),
	}
	nan := math.NaN()
	tests := []struct {
		expr string
		want float64
	}{
		{"count()", 5},
		{"count(status >= 500)", 2},
		{"count(status == 200)", 2},
		{"ratio(status >= 500)", 0.4},
		{"sum(latency)", 0.9},
		{"sum(missing)", 0},
		{"avg(latency)", 0.3},
		{"avg(missing)", nan},
		{"min(latency)", 0.1},
		{"max(latency)", 0.5},
		{"stddev(latency)", math.Sqrt((0.04 + 0.04 + 0) / 3)},
		{"stddev(missing)", nan},
		{"last(latency)", 0.3},
		{"last(status)", 500},
		{"quantile(latency, 0.5)", 0.3},
		{"distinct(user)", 3},
		{"zscore(latency)", math.NaN()}, // one window: cold start, no baseline yet
		{"change(latency)", math.NaN()}, // no previous window
		{"ewma(latency, 0.5)", 0.3},     // the first window starts the average
		{"distinct(user, 4)", 3},
		{"topk(user, 2)", 2},
		{"avg(latency * 1000)", 300},
		{"sum(status >= 500)", 2}, // booleans count as 0/1
		{"max(latency > 0.2 ? 1 : 0)", 1},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, r := mustNew(t, config.Pipeline{
				Window:     config.Window{Size: 10 * time.Second},
				Aggregates: aggs("v", tt.expr),
			})
			p.Add(events, at(0))
			p.Advance(at(10 * time.Second))
			got := r.take()
			if len(got) != 1 {
				t.Fatalf("got %d windows, want 1", len(got))
			}
			v := got[0].Values[0]
			if strings.HasPrefix(tt.expr, "quantile") {
				if math.Abs(v-tt.want) > 0.01*tt.want {
					t.Errorf("got %v, want %v within 1%%", v, tt.want)
				}
			} else if !sameFloat(v, tt.want) {
				t.Errorf("got %v, want %v", v, tt.want)
			}
			if got[0].Count != 5 {
				t.Errorf("Count = %d, want 5", got[0].Count)
			}
		})
	}
}

func TestExpressionsOverAggregates(t *testing.T) {
	tests := []struct {
		name   string
		events []*event.Event
		expr   string
		want   float64
	}{
		{"ratio", []*event.Event{ev(0, "status", 500.0), ev(1, "status", 200.0)}, "errors / requests", 0.5},
		{"division by zero is NaN", []*event.Event{ev(0, "status", 200.0)}, "requests / errors", math.NaN()},
		{"NaN input is NaN", []*event.Event{ev(0, "status", 200.0)}, "lat * 2", math.NaN()},
		{"comparison gives 0/1", []*event.Event{ev(0, "status", 500.0)}, "errors > 0", 1},
		{"builtins work", []*event.Event{ev(0, "status", 500.0), ev(1, "status", 500.0)}, "max(errors, 10) - abs(-1)", 9},
		{"two-argument max is expr-lang's", []*event.Event{ev(0, "status", 500.0)}, "max(errors, requests * 3)", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, r := mustNew(t, config.Pipeline{
				Window:     config.Window{Size: time.Minute},
				Aggregates: aggs("requests", "count()", "errors", "count(status >= 500)", "lat", "avg(latency)", "x", tt.expr),
			})
			p.Add(tt.events, at(0))
			p.Advance(at(time.Minute))
			got := r.take()
			if len(got) != 1 {
				t.Fatalf("got %d windows, want 1", len(got))
			}
			if v, _ := got[0].Value("x"); !sameFloat(v, tt.want) {
				t.Errorf("x = %v, want %v", v, tt.want)
			}
		})
	}
}

func TestEmittedWindow(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		Name:       "api",
		From:       []string{"push"},
		GroupBy:    []string{"service", "code"},
		Lateness:   config.Duration(10 * time.Second),
		Window:     config.Window{Size: 10 * time.Second},
		Aggregates: aggs("n", "count()", "lat", "avg(latency)"),
	})
	p.Add([]*event.Event{
		ev(12*time.Second, "service", "web", "code", 500.0, "latency", 1.0),
		ev(3*time.Second, "service", "web", "code", 500.0, "latency", 2.0),
		ev(4*time.Second, "service", "db", "code", 1e6, "latency", 3.0),
		ev(5*time.Second, "code", 200.0),
	}, at(0))
	p.Advance(at(30 * time.Second))
	got := r.take()
	type row struct {
		start, end time.Time
		group      []string
		count      int64
	}
	want := []row{
		// ordered by end, then in the order the groups' panes opened
		{at(0), at(10 * time.Second), []string{"web", "500"}, 1},
		{at(0), at(10 * time.Second), []string{"db", "1000000"}, 1},
		{at(0), at(10 * time.Second), []string{"", "200"}, 1},
		{at(10 * time.Second), at(20 * time.Second), []string{"web", "500"}, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d windows, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if !g.Start.Equal(w.start) || !g.End.Equal(w.end) || !slices.Equal(g.Group, w.group) || g.Count != w.count {
			t.Errorf("window %d = [%v,%v) %v n=%d, want [%v,%v) %v n=%d", i, g.Start, g.End, g.Group, g.Count, w.start, w.end, w.group, w.count)
		}
		if g.Pipeline != "api" || !slices.Equal(g.GroupKeys, []string{"service", "code"}) || !slices.Equal(g.Names, []string{"n", "lat"}) {
			t.Errorf("window %d: pipeline %q keys %v names %v", i, g.Pipeline, g.GroupKeys, g.Names)
		}
		if g.Start.Location() != time.UTC {
			t.Errorf("window %d: start not in UTC", i)
		}
	}
	if v, _ := got[2].Value("lat"); !math.IsNaN(v) {
		t.Errorf("avg over no latency = %v, want NaN", v)
	}
	if s := p.Stats(); s.OpenWindows != 0 || s.Groups != 0 || s.Events != 4 {
		t.Errorf("stats after close = %+v", s)
	}
}

func TestWindowsAlignToEpoch(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{Window: config.Window{Size: 7 * time.Second}, Aggregates: aggs("n", "count()")})
	ts := time.Unix(100, 0) // 98 = 14*7, so the window is [98, 105)
	p.Add([]*event.Event{{Time: ts, Fields: map[string]any{}}}, time.Unix(0, 0))
	p.Advance(time.Unix(105, 0))
	got := r.take()
	if len(got) != 1 || got[0].Start.Unix() != 98 || got[0].End.Unix() != 105 {
		t.Fatalf("got %v, want one window [98,105)", got)
	}
	// Before the epoch too: -1s lands in [-7, 0).
	p.Add([]*event.Event{{Time: time.Unix(-1, 0), Fields: map[string]any{}}}, time.Unix(-100, 0))
	p.Advance(time.Unix(0, 0))
	// It was late: 105 already closed everything before it.
	if got := r.take(); len(got) != 0 {
		t.Fatalf("late pre-epoch event emitted %v", got)
	}
	q, r2 := mustNew(t, config.Pipeline{Window: config.Window{Size: 7 * time.Second}, Aggregates: aggs("n", "count()")})
	q.Add([]*event.Event{{Time: time.Unix(-1, 0), Fields: map[string]any{}}}, time.Unix(-100, 0))
	q.Advance(time.Unix(0, 0))
	if got := r2.take(); len(got) != 1 || got[0].Start.Unix() != -7 || got[0].End.Unix() != 0 {
		t.Fatalf("got %v, want one window [-7,0)", got)
	}
}

func TestClosing(t *testing.T) {
	cfg := config.Pipeline{Window: config.Window{Size: 10 * time.Second}, Lateness: config.Duration(2 * time.Second), Aggregates: aggs("n", "count()")}
	t.Run("by wall clock", func(t *testing.T) {
		p, r := mustNew(t, cfg)
		p.Add([]*event.Event{ev(1 * time.Second)}, at(1*time.Second))
		p.Advance(at(11*time.Second + 999*time.Millisecond))
		if n := len(r.take()); n != 0 {
			t.Fatalf("closed %d windows before end+lateness", n)
		}
		p.Advance(at(12 * time.Second))
		if n := len(r.take()); n != 1 {
			t.Fatalf("closed %d windows at end+lateness, want 1", n)
		}
	})
	t.Run("by wall clock inside Add", func(t *testing.T) {
		p, r := mustNew(t, cfg)
		p.Add([]*event.Event{ev(1 * time.Second)}, at(1*time.Second))
		p.Add(nil, at(12*time.Second))
		if n := len(r.take()); n != 1 {
			t.Fatalf("Add with a later now closed %d windows, want 1", n)
		}
	})
	t.Run("by event time", func(t *testing.T) {
		// A replayed backlog: the wall clock stays at t0 the whole time.
		p, r := mustNew(t, cfg)
		p.Add([]*event.Event{ev(1 * time.Second), ev(11 * time.Second)}, at(0))
		if n := len(r.take()); n != 0 {
			t.Fatalf("closed %d windows with max event time 11s < 12s", n)
		}
		p.Add([]*event.Event{ev(12 * time.Second), ev(25 * time.Second)}, at(0))
		got := r.take()
		if len(got) != 2 || got[0].Count != 1 || got[1].Count != 2 {
			t.Fatalf("got %d windows, want [0,10) with 1 and [10,20) with 2", len(got))
		}
	})
	t.Run("the event that closes a window lands after it", func(t *testing.T) {
		p, r := mustNew(t, cfg)
		p.Add([]*event.Event{ev(1 * time.Second), ev(12 * time.Second), ev(2 * time.Second)}, at(0))
		got := r.take()
		if len(got) != 1 || got[0].Count != 1 {
			t.Fatalf("got %v, want [0,10) closed with only the first event", got)
		}
		if s := p.Stats(); s.Late != 1 {
			t.Errorf("Late = %d, want 1", s.Late)
		}
	})
	t.Run("zero now is no wall clock", func(t *testing.T) {
		p, r := mustNew(t, cfg)
		p.Add([]*event.Event{ev(1 * time.Second)}, time.Time{})
		p.Advance(time.Time{})
		if n := len(r.take()); n != 0 {
			t.Fatalf("zero now closed %d windows", n)
		}
	})
	t.Run("zero lateness closes at end", func(t *testing.T) {
		c := cfg
		c.Lateness = 0
		p, r := mustNew(t, c)
		p.Add([]*event.Event{ev(9 * time.Second)}, at(0))
		p.Advance(at(10 * time.Second))
		if n := len(r.take()); n != 1 {
			t.Fatalf("closed %d, want 1", n)
		}
	})
}

func TestLateEvents(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		Window:     config.Window{Size: 10 * time.Second},
		Lateness:   config.Duration(2 * time.Second),
		Aggregates: aggs("n", "count()", "s", "sum(v)"),
	})
	within := ev(9*time.Second, "v", 1.0)
	p.Add([]*event.Event{ev(1*time.Second, "v", 1.0), ev(11*time.Second, "v", 1.0), within}, at(0))
	if within.Flags&event.FlagLate != 0 {
		t.Fatal("event within lateness was flagged late")
	}
	p.Advance(at(12 * time.Second))
	first := r.take()
	if len(first) != 1 || first[0].Count != 2 || first[0].Values[1] != 2 {
		t.Fatalf("first window = %+v, want count 2 sum 2", first)
	}
	late := []*event.Event{ev(5*time.Second, "v", 100.0), ev(-time.Hour, "v", 100.0)}
	p.Add(late, at(12*time.Second))
	for i, e := range late {
		if e.Flags&event.FlagLate == 0 {
			t.Errorf("late event %d not flagged", i)
		}
	}
	if s := p.Stats(); s.Late != 2 || s.Events != 5 {
		t.Errorf("stats = %+v, want Late 2 Events 5", s)
	}
	p.Advance(at(time.Hour))
	rest := r.take()
	if len(rest) != 1 || rest[0].Start != at(10*time.Second) || rest[0].Values[1] != 1 {
		t.Fatalf("after late events got %+v, want only [10,20) with sum 1", rest)
	}
	// A late event does not reopen its window even if others of its group are new.
	old := ev(15*time.Second, "v", 1.0)
	p.Add([]*event.Event{old}, at(time.Hour))
	if old.Flags&event.FlagLate == 0 || len(r.take()) != 0 {
		t.Error("event for a wall-clock-closed window was not late")
	}
}

func TestWhere(t *testing.T) {
	tests := []struct {
		where string
		want  int64 // events kept of the four below
	}{
		// A missing field is nil, and nil != "": expr-lang semantics.
		{`service != ""`, 4},
		{`service != nil && service != ""`, 3},
		{`service == "web"`, 2},
		{`status >= 500`, 2},
		{`status >= 500 && service == "web"`, 1},
		{`not (status < 500) or service == "db"`, 2},
		{`ok`, 1},
		{`!ok`, 1}, // only ok=false: a missing or non-bool ok fails the negation
		{`ok == false`, 1},
		{`status in [200, 503]`, 3},
		{`len(service) > 2`, 2},
		{`500 <= status`, 2},
	}
	events := func() []*event.Event {
		return []*event.Event{
			ev(1, "service", "web", "status", 503.0, "ok", true),
			ev(2, "service", "web", "status", 200.0),
			ev(3, "service", "db", "status", 500.0, "ok", false),
			ev(4, "status", 200.0, "ok", "yes"),
		}
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			p, r := mustNew(t, config.Pipeline{Where: tt.where, Window: config.Window{Size: time.Minute}, Aggregates: aggs("n", "count()")})
			p.Add(events(), at(0))
			p.Advance(at(time.Hour))
			var n int64
			for _, w := range r.take() {
				n += w.Count
			}
			if n != tt.want {
				t.Errorf("kept %d events, want %d", n, tt.want)
			}
			if s := p.Stats(); s.Filtered != 4-tt.want || s.Events != 4 {
				t.Errorf("stats %+v, want Filtered %d", s, 4-tt.want)
			}
		})
	}
}

func TestDottedFields(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		Where:   `http.status >= 500 && http.route != nil`,
		GroupBy: []string{"http.route"},
		Window:  config.Window{Size: time.Minute},
		Aggregates: aggs(
			"n", "count()",
			"lat", "avg(http.timing.total)",
			"ms", "max(http.timing.total * 1000)",
			"slow", "count(http.timing.total > 1)",
		),
	})
	p.Add([]*event.Event{
		ev(1, "http.status", 503.0, "http.route", "/a", "http.timing.total", 2.0),
		ev(2, "http.status", 500.0, "http.route", "/a", "http.timing.total", 0.5),
		ev(3, "http.status", 200.0, "http.route", "/a", "http.timing.total", 9.0),
		ev(4, "http.status", 500.0), // no route: filtered
		ev(5, "status", 500.0),      // no http.status at all: filtered, no panic
	}, at(0))
	p.Advance(at(time.Hour))
	got := r.take()
	if len(got) != 1 {
		t.Fatalf("got %d windows, want 1", len(got))
	}
	w := got[0]
	if !slices.Equal(w.Group, []string{"/a"}) || w.Values[0] != 2 || w.Values[1] != 1.25 || w.Values[2] != 2000 || w.Values[3] != 1 {
		t.Errorf("got group %v values %v, want [/a] [2 1.25 2000 1]", w.Group, w.Values)
	}
	if want := []string{"http.route", "http.status", "http.timing.total"}; !slices.Equal(p.Fields(), want) {
		t.Errorf("Fields() = %v, want %v", p.Fields(), want)
	}
}

func TestGroupValues(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{GroupBy: []string{"k"}, Window: config.Window{Size: time.Minute}, Aggregates: aggs("n", "count()")})
	p.Add([]*event.Event{
		ev(1, "k", 500.0), ev(2, "k", 0.25), ev(3, "k", 1e21), ev(4, "k", true), ev(5), ev(6, "k", "x"), ev(7, "k", nil),
	}, at(0))
	p.Advance(at(time.Hour))
	var got []string
	for _, w := range r.take() {
		got = append(got, w.Group[0])
	}
	slices.Sort(got)
	want := []string{"", "0.25", "1000000000000000000000", "500", "true", "x"}
	if !slices.Equal(got, want) {
		t.Errorf("groups %q, want %q", got, want)
	}
}

func TestOverflow(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		GroupBy:    []string{"user", "host"},
		MaxGroups:  2,
		Window:     config.Window{Size: time.Minute},
		Aggregates: aggs("n", "count()"),
	})
	p.Add([]*event.Event{
		ev(1, "user", "a", "host", "h"),
		ev(2, "user", "b", "host", "h"),
		ev(3, "user", "c", "host", "h"), // third group: overflow
		ev(4, "user", "d", "host", "h"), // overflow
		ev(5, "user", "a", "host", "h"), // existing group still counts normally
	}, at(0))
	s := p.Stats()
	if s.Overflow != 2 || s.Groups != 3 {
		t.Errorf("stats %+v, want Overflow 2 Groups 3 (a, b, overflow)", s)
	}
	p.Advance(at(time.Hour))
	got := r.take()
	var rows []string
	for _, w := range got {
		rows = append(rows, strings.Join(w.Group, "/")+"="+string(rune('0'+w.Count)))
	}
	slices.Sort(rows)
	want := []string{"__overflow__/__overflow__=2", "a/h=2", "b/h=1"}
	if !slices.Equal(rows, want) {
		t.Errorf("windows %v, want %v", rows, want)
	}
	// Closed groups free their slots: the next window takes new groups again.
	p.Add([]*event.Event{ev(time.Hour+1, "user", "c", "host", "h")}, at(time.Hour))
	if s := p.Stats(); s.Overflow != 2 || s.Groups != 1 {
		t.Errorf("after close, stats %+v, want a fresh group", s)
	}
}

func TestCountWindows(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{
		GroupBy:    []string{"host"},
		Window:     config.Window{Count: 3},
		Aggregates: aggs("mean", "avg(cpu)", "n", "count()", "last", "last(cpu)", "sd", "stddev(cpu)"),
	})
	type want struct {
		host       string
		mean       float64
		n          int64
		start, end time.Duration
	}
	steps := []struct {
		e *event.Event
		w want
	}{
		{ev(1*time.Second, "host", "a", "cpu", 10.0), want{"a", 10, 1, 1 * time.Second, 1 * time.Second}},
		{ev(2*time.Second, "host", "a", "cpu", 20.0), want{"a", 15, 2, 1 * time.Second, 2 * time.Second}},
		{ev(2*time.Second, "host", "b", "cpu", 99.0), want{"b", 99, 1, 2 * time.Second, 2 * time.Second}},
		{ev(3*time.Second, "host", "a", "cpu", 30.0), want{"a", 20, 3, 1 * time.Second, 3 * time.Second}},
		{ev(4*time.Second, "host", "a", "cpu", 60.0), want{"a", (20 + 30 + 60) / 3.0, 3, 2 * time.Second, 4 * time.Second}},
		{ev(5*time.Second, "host", "a"), want{"a", 45, 3, 3 * time.Second, 5 * time.Second}}, // no cpu: a sample all the same
	}
	for i, s := range steps {
		p.Add([]*event.Event{s.e}, at(0))
		got := r.take()
		if len(got) != 1 {
			t.Fatalf("step %d: %d windows, want one per event", i, len(got))
		}
		w := got[0]
		if w.Group[0] != s.w.host || !sameFloat(w.Values[0], s.w.mean) || w.Count != s.w.n || !w.Start.Equal(at(s.w.start)) || !w.End.Equal(at(s.w.end)) {
			t.Errorf("step %d: got %s mean %v n %d [%v,%v], want %+v", i, w.Group[0], w.Values[0], w.Count, w.Start.Sub(t0), w.End.Sub(t0), s.w)
		}
	}
	// Wall clock does nothing to count windows, and nothing is ever late.
	p.Advance(at(time.Hour))
	p.Add([]*event.Event{ev(-time.Hour, "host", "a", "cpu", 0.0)}, at(time.Hour))
	if got := r.take(); len(got) != 1 {
		t.Fatalf("old sample emitted %d windows, want 1", len(got))
	}
	if s := p.Stats(); s.Late != 0 || s.Groups != 2 || s.OpenWindows != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestCompileErrors(t *testing.T) {
	base := config.Pipeline{Name: "p", Window: config.Window{Size: time.Second}}
	tests := []struct {
		name   string
		modify func(*config.Pipeline)
		path   string
		msg    string
	}{
		{"unknown function", func(c *config.Pipeline) { c.Aggregates = aggs("m", "p95(x)") }, "aggregates.m", `unknown function "p95"`},
		{"builtin that is no aggregate", func(c *config.Pipeline) { c.Aggregates = aggs("m", "median(x)") }, "aggregates.m", `unknown function "median"`},
		{"too many arguments", func(c *config.Pipeline) { c.Aggregates = aggs("a", "avg(x, y)") }, "aggregates.a", "avg(x) takes 1 argument(s), got 2"},
		{"too few arguments", func(c *config.Pipeline) { c.Aggregates = aggs("q", "quantile(x)") }, "aggregates.q", "quantile(x, q) takes 2"},
		{"ratio needs a condition", func(c *config.Pipeline) { c.Aggregates = aggs("r", "ratio()") }, "aggregates.r", "ratio(cond) takes 1"},
		{"q is 1", func(c *config.Pipeline) { c.Aggregates = aggs("q", "quantile(x, 1)") }, "aggregates.q", "between 0 and 1"},
		{"q is 0", func(c *config.Pipeline) { c.Aggregates = aggs("q", "quantile(x, 0)") }, "aggregates.q", "between 0 and 1"},
		{"q not a number", func(c *config.Pipeline) { c.Aggregates = aggs("q", "quantile(x, high)") }, "aggregates.q", "q must be a number"},
		{"unknown aggregate", func(c *config.Pipeline) { c.Aggregates = aggs("n", "count()", "r", "errors / n") }, "aggregates.r", `unknown aggregate "errors"`},
		{"aggregate defined later", func(c *config.Pipeline) { c.Aggregates = aggs("r", "e / n", "n", "count()", "e", "count(x)") }, "aggregates.r", `"e" is defined after`},
		{"nested aggregate function", func(c *config.Pipeline) { c.Aggregates = aggs("r", "avg(x) * 2") }, "aggregates.r", "avg() is an aggregate function"},
		{"bad syntax in argument", func(c *config.Pipeline) { c.Aggregates = aggs("c", "count(status >=)") }, "aggregates.c", "parsing"},
		{"bad syntax in expression", func(c *config.Pipeline) { c.Aggregates = aggs("n", "count()", "c", "n +") }, "aggregates.c", "parsing"},
		{"unknown function in argument", func(c *config.Pipeline) { c.Aggregates = aggs("c", "avg(foo(x))") }, "aggregates.c", `unknown function "foo"`},
		{"duplicate aggregate", func(c *config.Pipeline) { c.Aggregates = aggs("n", "count()", "n", "count()") }, "aggregates.n", "defined twice"},
		{"bad where", func(c *config.Pipeline) { c.Where = "status >" }, "where", "parsing"},
		{"unknown function in where", func(c *config.Pipeline) { c.Where = "lowercase(x) == 'a'" }, "where", `unknown function "lowercase"`},
		{"sliding every not dividing size", func(c *config.Pipeline) { c.Window = config.Window{Size: time.Minute, Every: 7 * time.Second} }, "window", "size 1m must be a multiple of every 7s"},
		{"sliding every longer than size", func(c *config.Pipeline) { c.Window = config.Window{Size: time.Second, Every: 2 * time.Second} }, "window", "every 2s must not be longer than size 1s"},
		{"late mode", func(c *config.Pipeline) { c.Late = "fix" }, "late", "drop or update"},
		{"min_baseline above baseline", func(c *config.Pipeline) { c.Baseline, c.MinBaseline = 3, 4 }, "min_baseline", "more than baseline"},
		{"topk k", func(c *config.Pipeline) { c.Aggregates = aggs("t", "topk(user, 0)") }, "aggregates.t", "k must be"},
		{"distinct precision", func(c *config.Pipeline) { c.Aggregates = aggs("d", "distinct(user, 30)") }, "aggregates.d", "precision"},
		{"ewma alpha", func(c *config.Pipeline) { c.Aggregates = aggs("e", "ewma(latency, 2)") }, "aggregates.e", "alpha"},
		{"no window", func(c *config.Pipeline) { c.Window = config.Window{} }, "window", "size must be more than 0"},
		{"empty group key", func(c *config.Pipeline) { c.GroupBy = []string{"a", ""} }, "group_by[1]", "must not be empty"},
		{"duplicate group key", func(c *config.Pipeline) { c.GroupBy = []string{"a", "a"} }, "group_by[1]", `"a" is repeated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.modify(&cfg)
			p, err := New(cfg, func(*event.Window) {})
			if err == nil {
				t.Fatalf("New succeeded (%v), want an error at %s", p.Names(), tt.path)
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CompileError", err)
			}
			if ce.Path != tt.path || !strings.Contains(ce.Error(), tt.msg) {
				t.Errorf("got %q (path %q), want path %q containing %q", ce.Error(), ce.Path, tt.path, tt.msg)
			}
			if !strings.HasPrefix(ce.Error(), tt.path+": ") {
				t.Errorf("Error() = %q, want it to start with the path", ce.Error())
			}
		})
	}
	t.Run("every problem is reported", func(t *testing.T) {
		cfg := base
		cfg.Where = "x >"
		cfg.Aggregates = aggs("a", "median(x)", "b", "count()", "c", "quantile(x, 2)")
		_, err := New(cfg, func(*event.Window) {})
		var paths []string
		for _, ce := range CompileErrors(err) {
			paths = append(paths, ce.Path)
		}
		if want := []string{"where", "aggregates.a", "aggregates.c"}; !slices.Equal(paths, want) {
			t.Errorf("paths %v, want %v", paths, want)
		}
	})
}

func TestAccessors(t *testing.T) {
	p, _ := mustNew(t, config.Pipeline{
		Name:       "api",
		From:       []string{"push", "orders"},
		Where:      `service != ""`,
		GroupBy:    []string{"region"},
		Window:     config.Window{Size: time.Second},
		Aggregates: aggs("requests", "count()", "errors", "count(status >= 500)", "rate", "errors / requests", "p99", "quantile(latency * 1000, 0.99)"),
	})
	if p.Name() != "api" {
		t.Errorf("Name() = %q", p.Name())
	}
	if got := p.Sources(); !slices.Equal(got, []string{"push", "orders"}) {
		t.Errorf("Sources() = %v", got)
	}
	if got := p.Names(); !slices.Equal(got, []string{"requests", "errors", "rate", "p99"}) {
		t.Errorf("Names() = %v", got)
	}
	if got := p.Fields(); !slices.Equal(got, []string{"latency", "region", "service", "status"}) {
		t.Errorf("Fields() = %v", got)
	}
}

func TestSplitCall(t *testing.T) {
	tests := []struct {
		src  string
		name string
		args []string
		ok   bool
	}{
		{"count()", "count", nil, true},
		{" count( ) ", "count", nil, true},
		{"quantile(latency, 0.99)", "quantile", []string{"latency", "0.99"}, true},
		{`count(service == "a,b" && f(x, y) > 1)`, "count", []string{`service == "a,b" && f(x, y) > 1`}, true},
		{`count(s == ")")`, "count", []string{`s == ")"`}, true},
		{"count() / 2", "count", nil, false},
		{"count(a) / count(b)", "count", nil, false},
		{"errors / requests", "errors", nil, false},
		{"avg(x,)", "avg", nil, false},
		{"(x)", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			name, args, ok := splitCall(tt.src)
			if ok != tt.ok || (ok && (name != tt.name || !slices.Equal(args, tt.args))) {
				t.Errorf("got %q %q %v, want %q %q %v", name, args, ok, tt.name, tt.args, tt.ok)
			}
		})
	}
}

func TestStatsWhileAdding(t *testing.T) {
	p, _ := mustNew(t, config.Pipeline{Where: "v > 1 || len(s) > 0", GroupBy: []string{"k"}, Window: config.Window{Size: time.Second}, Aggregates: aggs("n", "count()")})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			e := ev(time.Duration(i)*100*time.Millisecond, "k", float64(i%7), "v", 2.0)
			p.Add([]*event.Event{e, {Time: e.Time}}, at(0)) // the second has nil Fields
		}
	}()
	for {
		s := p.Stats()
		select {
		case <-done:
			s = p.Stats()
			if s.Events != 400 || s.Filtered != 200 {
				t.Errorf("stats %+v, want 400 events, 200 filtered", s)
			}
			return
		default:
			if s.Events < 0 || s.Groups < 0 {
				t.Fatalf("impossible stats %+v", s)
			}
		}
	}
}

func TestCountWindowStrings(t *testing.T) {
	p, r := mustNew(t, config.Pipeline{Window: config.Window{Count: 2}, Aggregates: aggs("users", "distinct(user)", "q", "quantile(x, 0.5)")})
	for _, u := range []string{"a", "b", "b", "c"} {
		p.Add([]*event.Event{ev(0, "user", u, "x", 1.0)}, at(0))
	}
	var got []float64
	for _, w := range r.take() {
		got = append(got, w.Values[0])
	}
	if want := []float64{1, 2, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("distinct over the last 2 = %v, want %v", got, want)
	}
}

func TestClosedAndResume(t *testing.T) {
	var got []*event.Window
	p, err := New(config.Pipeline{
		Name: "p", From: []string{"s"}, Window: config.Window{Size: 10 * time.Second},
		Aggregates: config.Aggregates{{Name: "n", Expr: "count()"}},
	}, func(w *event.Window) { got = append(got, w) })
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0) // a multiple of 10 s
	p.Resume(base.Add(10 * time.Second))
	if !p.Closed(base.Add(5*time.Second)) || p.Closed(base.Add(15*time.Second)) {
		t.Fatalf("after Resume(base+10s): Closed(base+5s)=%v Closed(base+15s)=%v, want true, false",
			p.Closed(base.Add(5*time.Second)), p.Closed(base.Add(15*time.Second)))
	}
	late := &event.Event{Time: base.Add(5 * time.Second), Fields: map[string]any{}}
	fresh := &event.Event{Time: base.Add(15 * time.Second), Fields: map[string]any{}}
	p.Add([]*event.Event{late, fresh}, base.Add(16*time.Second))
	if late.Flags&event.FlagLate == 0 || fresh.Flags&event.FlagLate != 0 {
		t.Fatalf("flags: replayed %v, fresh %v; want only the replayed one late", late.Flags, fresh.Flags)
	}
	p.Advance(base.Add(21 * time.Second))
	if len(got) != 1 || got[0].Values[0] != 1 || !p.Closed(base.Add(15*time.Second)) {
		t.Fatalf("emitted %d windows (%v), want one with n=1", len(got), got)
	}
}

// TestResumeGroups: after a restart on a store that holds the window ending
// at 20s for one group only, the events redelivered for that window count
// once: late for the stored group (no second copy), into the window for the
// others. Sliding windows keep the stored group's events for its later
// windows; group_by keys of several values find their groups too.
func TestResumeGroups(t *testing.T) {
	for _, tt := range []struct {
		name  string
		every time.Duration
		want  []string
	}{
		{"tumbling", 0, []string{"b/x 10s-20s n=2", "a/x 20s-30s n=1", "b/x 20s-30s n=1"}},
		{"sliding", 10 * time.Second, []string{"b/x 0s-20s n=2", "a/x 10s-30s n=3", "b/x 10s-30s n=3", "a/x 20s-40s n=1", "b/x 20s-40s n=1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			size := 10 * time.Second
			if tt.every > 0 {
				size = 2 * tt.every
			}
			p, r := mustNew(t, config.Pipeline{
				From: []string{"test"}, GroupBy: []string{"svc", "zone"},
				Window:     config.Window{Size: size, Every: tt.every},
				Aggregates: aggs("n", "count()"),
			})
			p.ResumeGroups(at(20*time.Second), []map[string]string{{"svc": "a", "zone": "x"}})
			if p.Closed(at(15*time.Second)) || !p.Closed(at(-5*time.Second)) {
				t.Fatalf("Closed(15s)=%v Closed(-5s)=%v, want false, true: the window ending at 20s is still open for the unstored group",
					p.Closed(at(15*time.Second)), p.Closed(at(-5*time.Second)))
			}
			var evs []*event.Event
			for _, d := range []time.Duration{12, 15, 25} {
				for _, svc := range []string{"a", "b"} {
					evs = append(evs, ev(d*time.Second, "svc", svc, "zone", "x"))
				}
			}
			p.Add(evs, time.Time{})
			p.Advance(at(time.Minute))
			var got []string
			for _, w := range r.take() {
				got = append(got, fmt.Sprintf("%s/%s %s-%s n=%v", w.Group[0], w.Group[1], w.Start.Sub(t0), w.End.Sub(t0), w.Values[0]))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("emitted %q, want %q", got, tt.want)
			}
			if late := p.Stats().Late; late != 2 {
				t.Errorf("%d events late, want 2 (group a's of the stored window)", late)
			}
		})
	}
}
