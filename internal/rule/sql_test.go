package rule

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
	"github.com/lookout-dev/lookout/internal/store"
)

// storeQuery is the wiring app does: rule's QueryFunc over store.Query.
func storeQuery(s *store.Store) QueryFunc {
	return func(ctx context.Context, q string) (*QueryResult, error) {
		r, err := s.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		return &QueryResult{Columns: r.Columns, Types: r.Types, Rows: r.Rows, Truncated: r.Truncated}, nil
	}
}

// sqlHarness is an Engine with SQL rules over a real DuckDB store, on a fake
// clock and a real bbolt state store.
type sqlHarness struct {
	t      *testing.T
	db     *store.Store
	clk    *clock.Fake
	path   string
	rules  []config.Rule
	st     *state.Local
	eng    *Engine
	mu     sync.Mutex
	sent   []event.Alert
	record []event.Transition
}

func newSQLHarness(t *testing.T, rules ...config.Rule) *sqlHarness {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &sqlHarness{t: t, db: db, clk: clock.NewFake(t0), path: filepath.Join(t.TempDir(), "state.db"), rules: rules}
	h.open()
	return h
}

func (h *sqlHarness) open() {
	h.t.Helper()
	st, err := state.OpenLocal(h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	h.st = st
	h.eng, err = New(h.rules, Options{
		Store: st, Clock: h.clk, Query: storeQuery(h.db),
		Notify: func(a event.Alert) { h.mu.Lock(); h.sent = append(h.sent, a); h.mu.Unlock() },
		Record: func(tr event.Transition) { h.mu.Lock(); h.record = append(h.record, tr); h.mu.Unlock() },
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
}

func (h *sqlHarness) restart() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
	if err := h.eng.Restore(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *sqlHarness) take() ([]event.Alert, []event.Transition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, r := h.sent, h.record
	h.sent, h.record = nil, nil
	return s, r
}

// window writes one window of pipeline api per service with the given errors,
// ending at the fake clock's now.
func (h *sqlHarness) window(errs map[string]float64) {
	h.t.Helper()
	ctx := context.Background()
	end := h.clk.Now()
	for _, svc := range slices.Sorted(func(yield func(string) bool) {
		for k := range errs {
			if !yield(k) {
				return
			}
		}
	}) {
		w := &event.Window{Pipeline: "api", Start: end.Add(-10 * time.Second), End: end,
			GroupKeys: []string{"service"}, Group: []string{svc}, Names: []string{"errors"}, Values: []float64{errs[svc]}}
		if err := h.db.WriteWindow(ctx, w); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := h.db.Flush(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// latestErrors fires for every service whose newest window has more than 5
// errors.
const latestErrors = `SELECT grp->>'service' AS service, "end", wval(vals, 'errors') AS value
	FROM windows WHERE "end" = (SELECT max("end") FROM windows) AND wval(vals, 'errors') > 5`

func sqlRuleCfg(name, q string, mod func(*config.Rule)) config.Rule {
	r := config.Rule{Name: name, SQL: q, Every: config.Duration(10 * time.Second), Severity: "critical",
		Summary: "{{ .service }} has {{ .value }} errors", Notify: []string{"ops"}}
	if mod != nil {
		mod(&r)
	}
	return r
}

func labelsOf(as []event.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Labels["service"]+":"+string(a.State))
	}
	slices.Sort(out)
	return out
}

func TestSQLRuleStateMachine(t *testing.T) {
	type step struct {
		errs   map[string]float64
		after  time.Duration // clock advance before the step
		sent   []string      // service:state notified, sorted
		active []string      // service:state active afterwards, sorted
	}
	tests := []struct {
		name  string
		mod   func(*config.Rule)
		steps []step
	}{
		{"fires at once, resolves when the row disappears", nil, []step{
			{errs: map[string]float64{"api": 9, "web": 1}, sent: []string{"api:firing"}, active: []string{"api:firing"}},
			{errs: map[string]float64{"api": 9, "web": 7}, after: 10 * time.Second, sent: []string{"web:firing"}, active: []string{"api:firing", "web:firing"}},
			{errs: map[string]float64{"api": 1, "web": 7}, after: 10 * time.Second, sent: []string{"api:resolved"}, active: []string{"web:firing"}},
		}},
		{"for 3 consecutive evaluations", func(r *config.Rule) { r.For = config.For{Count: 3} }, []step{
			{errs: map[string]float64{"api": 9}, active: []string{"api:pending"}},
			{errs: map[string]float64{"api": 9}, after: 10 * time.Second, active: []string{"api:pending"}},
			{errs: map[string]float64{"api": 1}, after: 10 * time.Second},
			{errs: map[string]float64{"api": 9}, after: 10 * time.Second, active: []string{"api:pending"}},
			{errs: map[string]float64{"api": 9}, after: 10 * time.Second, active: []string{"api:pending"}},
			{errs: map[string]float64{"api": 9}, after: 10 * time.Second, sent: []string{"api:firing"}, active: []string{"api:firing"}},
		}},
		{"for a duration", func(r *config.Rule) { r.For = config.For{Duration: 25 * time.Second} }, []step{
			{errs: map[string]float64{"api": 9}, active: []string{"api:pending"}},
			{errs: map[string]float64{"api": 9}, after: 20 * time.Second, active: []string{"api:pending"}},
			{errs: map[string]float64{"api": 9}, after: 10 * time.Second, sent: []string{"api:firing"}, active: []string{"api:firing"}},
		}},
		{"repeat", func(r *config.Rule) { r.Repeat = config.Duration(time.Minute) }, []step{
			{errs: map[string]float64{"api": 9}, sent: []string{"api:firing"}, active: []string{"api:firing"}},
			{errs: map[string]float64{"api": 9}, after: 30 * time.Second, active: []string{"api:firing"}},
			{errs: map[string]float64{"api": 9}, after: 30 * time.Second, sent: []string{"api:firing"}, active: []string{"api:firing"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSQLHarness(t, sqlRuleCfg("ManyErrors", latestErrors, tt.mod))
			for i, s := range tt.steps {
				h.clk.Advance(s.after)
				h.window(s.errs)
				if err := h.eng.EvaluateSQL(context.Background(), "ManyErrors"); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				sent, _ := h.take()
				if got := labelsOf(sent); !reflect.DeepEqual(got, s.sent) {
					t.Errorf("step %d: sent %v, want %v", i, got, s.sent)
				}
				if got := labelsOf(h.eng.Active()); !reflect.DeepEqual(got, s.active) {
					t.Errorf("step %d: active %v, want %v", i, got, s.active)
				}
			}
		})
	}
}

func TestSQLRuleAlertContent(t *testing.T) {
	h := newSQLHarness(t, sqlRuleCfg("ManyErrors", latestErrors, func(r *config.Rule) {
		r.Labels = map[string]string{"team": "core"}
	}))
	h.window(map[string]float64{"api": 9})
	if err := h.eng.EvaluateSQL(context.Background(), "ManyErrors"); err != nil {
		t.Fatal(err)
	}
	sent, rec := h.take()
	if len(sent) != 1 {
		t.Fatalf("sent %d alerts, want 1", len(sent))
	}
	a := sent[0]
	// "end" is a time column: neither a label nor a value.
	wantLabels := map[string]string{"service": "api", "team": "core", "alertname": "ManyErrors", "severity": "critical"}
	if !reflect.DeepEqual(a.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", a.Labels, wantLabels)
	}
	if a.Value != 9 || a.Summary != "api has 9 errors" || a.Fingerprint != Fingerprint("ManyErrors", map[string]string{"service": "api"}) {
		t.Errorf("alert = value %v, summary %q, fingerprint %s", a.Value, a.Summary, a.Fingerprint)
	}
	if !a.Since.Equal(t0) || len(rec) != 1 || rec[0].Decision != "queued" || !rec[0].Time.Equal(t0) {
		t.Errorf("since %v, records %+v", a.Since, rec)
	}
}

func TestRowObservation(t *testing.T) {
	tests := []struct {
		name   string
		res    QueryResult
		labels map[string]string
		value  float64
	}{
		{"value column wins",
			QueryResult{Columns: []string{"a", "service", "value"}, Types: []string{"DOUBLE", "VARCHAR", "BIGINT"}, Rows: [][]any{{1.5, "api", int64(7)}}},
			map[string]string{"service": "api"}, 7},
		{"first numeric column",
			QueryResult{Columns: []string{"service", "n", "m"}, Types: []string{"VARCHAR", "INTEGER", "DOUBLE"}, Rows: [][]any{{"api", int32(3), 2.5}}},
			map[string]string{"service": "api"}, 3},
		{"JSON object keys are labels, named columns win",
			QueryResult{Columns: []string{"grp", "region", "now"}, Types: []string{"JSON", "VARCHAR", "DOUBLE"},
				Rows: [][]any{{map[string]any{"service": "api", "region": "x", "n": 2.0, "nested": map[string]any{}}, "eu", 4.0}}},
			map[string]string{"service": "api", "region": "eu", "n": "2"}, 4},
		{"times and nulls",
			QueryResult{Columns: []string{"ts", "service", "value", "host"}, Types: []string{"TIMESTAMP WITH TIME ZONE", "VARCHAR", "DOUBLE", "VARCHAR"},
				Rows: [][]any{{"2025-01-01T00:00:00.000Z", "api", nil, nil}}},
			map[string]string{"service": "api"}, math.NaN()},
		{"no numeric column",
			QueryResult{Columns: []string{"service", "up"}, Rows: [][]any{{"api", true}}},
			map[string]string{"service": "api", "up": "true"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels, _, value := rowObservation(&tt.res, tt.res.Rows[0])
			if !reflect.DeepEqual(labels, tt.labels) {
				t.Errorf("labels = %v, want %v", labels, tt.labels)
			}
			if value != tt.value && !(math.IsNaN(value) && math.IsNaN(tt.value)) {
				t.Errorf("value = %v, want %v", value, tt.value)
			}
		})
	}
}

func TestSQLRuleErrors(t *testing.T) {
	h := newSQLHarness(t,
		sqlRuleCfg("Broken", `SELECT nope FROM windows`, nil),
		sqlRuleCfg("Slow", `SELECT count(*) AS value FROM range(100000000) a, range(100000000) b`, func(r *config.Rule) {
			r.Timeout = config.Duration(50 * time.Millisecond)
		}),
		sqlRuleCfg("ManyErrors", latestErrors, nil),
	)
	// A firing instance survives a failing evaluation of its own rule.
	h.window(map[string]float64{"api": 9})
	if err := h.eng.EvaluateSQL(context.Background(), "ManyErrors"); err != nil {
		t.Fatal(err)
	}
	h.take()
	tests := []struct {
		rule string
		want error
	}{
		{"Broken", store.ErrBadQuery},
		{"Slow", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			err := h.eng.EvaluateSQL(context.Background(), tt.rule)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.rule) {
				t.Fatalf("EvaluateSQL = %v, want %v naming the rule", err, tt.want)
			}
			sent, rec := h.take()
			if len(sent) != 0 || len(rec) != 1 || rec[0].State != StateError || rec[0].Rule != tt.rule ||
				!strings.Contains(rec[0].Decision, "query failed") {
				t.Errorf("sent %v, recorded %+v; want one error transition", sent, rec)
			}
		})
	}
	if got := labelsOf(h.eng.Active()); !reflect.DeepEqual(got, []string{"api:firing"}) {
		t.Errorf("active after failures = %v", got)
	}
	if err := h.eng.EvaluateSQL(context.Background(), "Nope"); err == nil {
		t.Error("EvaluateSQL of an unknown rule succeeded")
	}
}

func TestSQLRuleSurvivesRestart(t *testing.T) {
	h := newSQLHarness(t, sqlRuleCfg("ManyErrors", latestErrors, func(r *config.Rule) { r.For = config.For{Count: 2} }))
	h.window(map[string]float64{"api": 9})
	if err := h.eng.EvaluateSQL(context.Background(), "ManyErrors"); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.clk.Advance(10 * time.Second)
	h.window(map[string]float64{"api": 9})
	if err := h.eng.EvaluateSQL(context.Background(), "ManyErrors"); err != nil {
		t.Fatal(err)
	}
	if sent, _ := h.take(); !reflect.DeepEqual(labelsOf(sent), []string{"api:firing"}) {
		t.Errorf("after restart sent %v, want the pending alert to fire on its 2nd evaluation", labelsOf(sent))
	}
	// After another restart the firing alert resolves when its row goes.
	h.restart()
	h.clk.Advance(10 * time.Second)
	h.window(map[string]float64{"api": 0})
	if err := h.eng.EvaluateSQL(context.Background(), "ManyErrors"); err != nil {
		t.Fatal(err)
	}
	if sent, _ := h.take(); !reflect.DeepEqual(labelsOf(sent), []string{"api:resolved"}) {
		t.Errorf("sent %v, want api resolved", labelsOf(sent))
	}
}

func TestSQLRuleCompile(t *testing.T) {
	checker, err := store.NewChecker(context.Background(), []store.PipelineView{{Name: "api", GroupBy: []string{"service"}, Aggregates: []string{"errors"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer checker.Close()
	tests := []struct {
		name string
		rule config.Rule
		path string // "" = compiles
		msg  string
	}{
		{"good", sqlRuleCfg("R", `SELECT service, errors AS value FROM w_api`, nil), "", ""},
		{"unknown column", sqlRuleCfg("R", `SELECT service FROM windows`, nil), "sql", "service"},
		{"refused", sqlRuleCfg("R", `SELECT * FROM read_text('/etc/passwd')`, nil), "sql", "read_text"},
		{"timeout not below every", sqlRuleCfg("R", `SELECT 1`, func(r *config.Rule) { r.Timeout = r.Every }), "timeout", "shorter than every"},
		{"bad summary", sqlRuleCfg("R", `SELECT 1`, func(r *config.Rule) { r.Summary = "{{ .x" }), "summary", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]config.Rule{tt.rule}, Options{CheckSQL: checker.Check})
			if tt.path == "" {
				if err != nil {
					t.Fatalf("New = %v", err)
				}
				return
			}
			var ce *CompileError
			if !errors.As(err, &ce) || ce.Path != tt.path || !strings.Contains(err.Error(), tt.msg) || ce.Rule != "R" {
				t.Fatalf("New = %v, want a CompileError at %s mentioning %q", err, tt.path, tt.msg)
			}
		})
	}
}

// TestRunSQL checks the scheduler: it evaluates on its own and stops with ctx.
func TestRunSQL(t *testing.T) {
	h := newSQLHarness(t, sqlRuleCfg("ManyErrors", latestErrors, func(r *config.Rule) { r.Every = config.Duration(20 * time.Millisecond) }))
	h.window(map[string]float64{"api": 9})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.eng.RunSQL(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.eng.Active()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := labelsOf(h.eng.Active()); !reflect.DeepEqual(got, []string{"api:firing"}) {
		t.Errorf("active = %v", got)
	}
}

var _ = fmt.Sprint
