package rule

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/preprocess"
	"github.com/lookout-dev/lookout/internal/store"
	"github.com/lookout-dev/lookout/internal/window"
)

// example runs an example config the way lookout does, without its sources:
// events go through the sources' preprocessing into the real pipelines,
// whose windows are stored and judged by the real rules.
type example struct {
	t     *testing.T
	clk   *clock.Fake
	db    *store.Store
	eng   *Engine
	pipes []*window.Pipeline
	from  [][]string
	pre   map[string]*preprocess.Processor
	sent  []event.Alert
}

// loadExample loads examples/<dir>/lookout.yaml with env set.
func loadExample(t *testing.T, dir string, env ...string) *example {
	t.Helper()
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	cfg, err := config.Load(filepath.Join("../../examples", dir, "lookout.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	x := &example{t: t, clk: clock.NewFake(dayEnd), pre: map[string]*preprocess.Processor{}}
	if x.db, err = store.Open(store.Options{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.db.Close() })
	var views []store.PipelineView
	for _, p := range cfg.Pipelines {
		v := store.PipelineView{Name: p.Name, GroupBy: p.GroupBy}
		for _, a := range p.Aggregates {
			v.Aggregates = append(v.Aggregates, a.Name)
		}
		views = append(views, v)
	}
	if err := x.db.CreatePipelineViews(context.Background(), views); err != nil {
		t.Fatal(err)
	}
	x.eng, err = New(cfg.Rules, Options{Clock: x.clk, Query: storeQuery(x.db), Pipelines: cfg.Pipelines,
		Notify: func(a event.Alert) { x.sent = append(x.sent, a) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Pipelines {
		wp, err := window.New(p, func(w *event.Window) {
			if err := x.db.WriteWindow(context.Background(), w); err != nil {
				t.Error(err)
			}
			x.eng.OnWindow(w)
		})
		if err != nil {
			t.Fatal(err)
		}
		x.pipes, x.from = append(x.pipes, wp), append(x.from, p.From)
	}
	for _, s := range cfg.Sources {
		if x.pre[s.Name], err = preprocess.New(s); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// feed hands the events of a source, all at the fake clock's time, to the
// pipelines that read it.
func (x *example) feed(src string, fields ...map[string]any) {
	now := x.clk.Now()
	var evs []*event.Event
	for _, f := range fields {
		e := &event.Event{Time: now, Source: src, Fields: f}
		x.pre[src].Apply(e, now)
		evs = append(evs, e)
	}
	for i, p := range x.pipes {
		if slices.Contains(x.from[i], src) {
			p.Add(evs, now)
		}
	}
}

// advance moves the clock, closes the windows that ended, runs the no-data
// tick and every SQL rule, as lookout's loops do.
func (x *example) advance(d time.Duration) {
	x.clk.Advance(d)
	now := x.clk.Now()
	for _, p := range x.pipes {
		p.Advance(now)
	}
	x.eng.Tick(now)
	if err := x.db.Flush(context.Background()); err != nil {
		x.t.Fatal(err)
	}
	for _, name := range x.eng.SQLRules() {
		if err := x.eng.EvaluateSQL(context.Background(), name); err != nil {
			x.t.Fatal(err)
		}
	}
}

// firing returns the rules of the firing alerts, sorted.
func (x *example) firing() []string {
	var out []string
	for _, a := range x.eng.Active() {
		if a.State == event.StateFiring {
			out = append(out, a.Rule)
		}
	}
	slices.Sort(out)
	return out
}

// TestExampleHostEmailLoad: the load above twice the cores pages, after the
// rule's three samples; below it, nothing does.
func TestExampleHostEmailLoad(t *testing.T) {
	for _, tt := range []struct {
		load float64
		want []string
	}{{9, []string{"HostHighLoad"}}, {7.5, nil}} {
		x := loadExample(t, "host-email", "SMTP_PASSWORD", "x")
		for range 4 {
			x.feed("host", map[string]any{"host": "db1", "cpu": 20.0, "mem": 30.0, "disk": 40.0, "load1": tt.load, "cores": 4.0})
			x.advance(5 * time.Second)
		}
		if got := x.firing(); !slices.Equal(got, tt.want) {
			t.Errorf("load %v on 4 cores: firing %v, want %v", tt.load, got, tt.want)
		}
	}
}

// TestExampleHTTPDingtalk5xxRate: from the exporter's cumulative counters,
// 100 of 1000 requests a minute answering 5xx (10%) pages; 20 of 1000 does
// not.
func TestExampleHTTPDingtalk5xxRate(t *testing.T) {
	for _, tt := range []struct {
		errors float64 // 5xx a minute, of 1000
		want   []string
	}{{100, []string{"High5xxRate"}}, {20, nil}} {
		x := loadExample(t, "http-dingtalk", "DING_TOKEN", "x", "DING_SECRET", "y")
		ok, bad := 5000.0, 30.0
		for range 5 { // a scrape every 10 s, split over two codes of 5xx
			for range 6 {
				x.feed("api_metrics",
					map[string]any{"metric": "http_requests_total", "code": "200", "value": ok},
					map[string]any{"metric": "http_requests_total", "code": "500", "value": bad / 2},
					map[string]any{"metric": "http_requests_total", "code": "503", "value": bad / 2},
					map[string]any{"metric": "up", "value": 1.0})
				ok += (1000 - tt.errors) / 6
				bad += tt.errors / 6
				x.advance(10 * time.Second)
			}
		}
		if got := x.firing(); !slices.Equal(got, tt.want) {
			t.Errorf("%v 5xx of 1000 a minute: firing %v, want %v", tt.errors, got, tt.want)
		}
	}
}

// TestExampleRedisFeishuVolumeDrop: clicks falling to less than half of the
// minute before page, a smaller dip does not, and no click at all pages as
// ClickVolumeDropNoData.
func TestExampleRedisFeishuVolumeDrop(t *testing.T) {
	clicks := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"page": "/home", "error": false}
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		minutes []int // clicks in each minute
		want    []string
	}{
		{"to a third", []int{300, 300, 100}, []string{"ClickVolumeDrop"}},
		{"to two thirds", []int{300, 300, 200}, nil},
		{"to nothing", []int{300, 300, 0, 0, 0, 0}, []string{"ClickVolumeDropNoData"}},
	} {
		x := loadExample(t, "redis-feishu", "FEISHU_HOOK", "x", "FEISHU_SECRET", "y")
		x.clk.Advance(10 * time.Second) // mid-minute: a minute later its window has closed (lateness 5s)
		for _, n := range tt.minutes {
			x.feed("clicks", clicks(n)...)
			x.advance(time.Minute)
		}
		if got := x.firing(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: firing %v, want %v", tt.name, got, tt.want)
		}
	}
}
