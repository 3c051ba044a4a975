package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

// t0 is the API's clock in the handler tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeBackend serves every part of Backend from fixed data and records what
// the handlers asked of it: the API's job is turning HTTP into these calls
// and their answers into JSON; the stages behind them are tested elsewhere.
type fakeBackend struct {
	mu sync.Mutex

	pushRes  event.PushResult
	pushErr  error
	pushed   []string // "source|waitStored|body" per Ingest
	windows  []event.Window
	winQuery event.WindowQuery
	alerts   []event.Alert
	muting   map[string]Muting // by fingerprint
	history  []event.Transition
	histCall string
	silences []state.Silence
	added    []state.Silence
	expired  []string
	acked    []string
	backErr  error // Ack, Unack, AddSilence, ExpireSilence, AlertRaw
	raw      map[string][]event.RawMessage
	rawCall  string
	sources  []event.HealthSnapshot
	cols     []string
	rows     [][]any
	queryErr error
	thr      map[string]float64
	changes  []string
	reloadEr error
	notReady string
}

func (f *fakeBackend) parts() Backend {
	return Backend{
		Ingest: f, Windows: f, Alerts: f, History: f, Acks: f, Silences: f, Raw: f,
		Sources: f, Query: f, Thresholds: f, Reload: f, Ready: f,
	}
}

func (f *fakeBackend) Ingest(_ context.Context, src string, body []byte, waitStored bool) (event.PushResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushed = append(f.pushed, fmt.Sprintf("%s|%v|%s", src, waitStored, body))
	return f.pushRes, f.pushErr
}

func (f *fakeBackend) Windows(_ context.Context, q event.WindowQuery) ([]event.Window, error) {
	f.winQuery = q
	if q.Pipeline != "api" {
		return nil, ErrNotFound
	}
	return f.windows, nil
}

func (f *fakeBackend) ActiveAlerts() []event.Alert { return f.alerts }

func (f *fakeBackend) Muting(a event.Alert) Muting { return f.muting[a.Fingerprint] }

func (f *fakeBackend) History(_ context.Context, limit int) ([]event.Transition, error) {
	f.histCall = fmt.Sprintf("all limit=%d", limit)
	return f.history, nil
}

func (f *fakeBackend) HistoryFor(_ context.Context, q HistoryQuery) ([]event.Transition, error) {
	f.histCall = fmt.Sprintf("rule=%s fingerprint=%s limit=%d", q.Rule, q.Fingerprint, q.Limit)
	return f.history[:1], nil
}

func (f *fakeBackend) Ack(_ context.Context, fp string, ttl time.Duration, by, comment string) (state.Ack, error) {
	if f.backErr != nil {
		return state.Ack{}, f.backErr
	}
	f.acked = append(f.acked, fp)
	return state.Ack{Fingerprint: fp, By: by, Comment: comment, At: t0, Until: t0.Add(ttl)}, nil
}

func (f *fakeBackend) Unack(_ context.Context, fp string) error {
	if f.backErr != nil {
		return f.backErr
	}
	f.acked = append(f.acked, "-"+fp)
	return nil
}

func (f *fakeBackend) Silences(context.Context) ([]state.Silence, error) { return f.silences, nil }

func (f *fakeBackend) AddSilence(_ context.Context, s state.Silence) (state.Silence, error) {
	if f.backErr != nil {
		return state.Silence{}, f.backErr
	}
	s.ID = "sil-1"
	f.added = append(f.added, s)
	return s, nil
}

func (f *fakeBackend) ExpireSilence(_ context.Context, id string) error {
	if f.backErr != nil {
		return f.backErr
	}
	f.expired = append(f.expired, id)
	return nil
}

func (f *fakeBackend) Raw(name string, n int) ([]event.RawMessage, error) {
	f.rawCall = fmt.Sprintf("source=%s n=%d", name, n)
	msgs, ok := f.raw[name]
	if !ok {
		return nil, ErrNotFound
	}
	return msgs, nil
}

func (f *fakeBackend) AlertRaw(_ context.Context, rule string, group map[string]string, since time.Time, n int) ([]event.RawMessage, error) {
	f.rawCall = fmt.Sprintf("rule=%s group=%v since=%s n=%d", rule, group, since.UTC().Format(time.RFC3339), n)
	if rule != "errors" {
		return nil, ErrNotFound
	}
	return nil, f.backErr
}

func (f *fakeBackend) Sources() []event.HealthSnapshot { return f.sources }

func (f *fakeBackend) QueryStream(_ context.Context, _ string, _ int64, begin func(cols, types []string) error, emit func(row []any) (bool, error)) (bool, error) {
	if f.queryErr != nil {
		return false, f.queryErr
	}
	if err := begin(f.cols, nil); err != nil {
		return false, err
	}
	for _, r := range f.rows {
		if ok, err := emit(r); err != nil || !ok {
			return !ok, err
		}
	}
	return false, nil
}

func (f *fakeBackend) Thresholds(context.Context) (map[string]float64, error) { return f.thr, nil }

func (f *fakeBackend) SetThreshold(_ context.Context, name string, v float64) error {
	f.thr[name] = v
	return nil
}

func (f *fakeBackend) Reload(context.Context) ([]string, error) { return f.changes, f.reloadEr }

func (f *fakeBackend) Ready() (bool, string) { return f.notReady == "", f.notReady }

// newFake returns a backend holding one of everything.
func newFake() *fakeBackend {
	ack := state.Ack{Fingerprint: "fp2", By: "ops", Comment: "on it", At: t0.Add(-time.Minute), Until: t0.Add(time.Hour)}
	return &fakeBackend{
		pushRes: event.PushResult{Accepted: 2},
		windows: []event.Window{
			{Pipeline: "api", Start: t0.Add(-20 * time.Second), End: t0.Add(-10 * time.Second), GroupKeys: []string{"service"}, Group: []string{"checkout"},
				Names: []string{"p99", "max"}, Values: []float64{0.25, 0.9}, Count: 3, Late: 1,
				Exemplars: []event.Exemplar{{Aggregate: "max", Value: 0.9, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Time: t0.Add(-15 * time.Second)}}},
			{Pipeline: "api", Start: t0.Add(-10 * time.Second), End: t0, GroupKeys: []string{"service"}, Group: []string{"checkout"},
				Names: []string{"p99", "max"}, Values: []float64{nan(), 1}, Count: 0, Future: 2},
		},
		alerts: []event.Alert{
			{Rule: "slow", Labels: map[string]string{"service": "checkout"}, State: event.StateFiring, Since: t0.Add(-time.Minute),
				Value: 0.9, Fingerprint: "fp1", Summary: "p99 0.9 s", Severity: "page", LastSent: t0.Add(-30 * time.Second)},
			{Rule: "errors", Labels: map[string]string{"service": "cart"}, State: event.StatePending, Since: t0.Add(-time.Second),
				Value: nan(), Fingerprint: "fp2"},
		},
		muting: map[string]Muting{"fp1": {SilencedBy: []string{"sil-0"}, InhibitedBy: "fp9"}, "fp2": {Ack: &ack}},
		history: []event.Transition{
			{Time: t0, Rule: "slow", Fingerprint: "fp1", Labels: map[string]string{"service": "checkout"}, State: event.StateFiring, Value: 0.9, Summary: "p99 0.9 s", Decision: "sent"},
			{Time: t0.Add(-time.Minute), Rule: "slow", Fingerprint: "fp1", Labels: map[string]string{"service": "checkout"}, State: event.StatePending, Value: 0.8},
		},
		silences: []state.Silence{
			{ID: "sil-0", Matchers: []state.Matcher{{Name: "service", Op: "=", Value: "checkout"}}, StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(time.Hour), Comment: "deploy", CreatedBy: "ops", CreatedAt: t0.Add(-time.Hour)},
			{ID: "sil-old", Matchers: []state.Matcher{{Name: "alertname", Op: "=~", Value: "disk.*"}}, StartsAt: t0.Add(-3 * time.Hour), EndsAt: t0.Add(-2 * time.Hour), CreatedBy: "ops", CreatedAt: t0.Add(-3 * time.Hour)},
		},
		raw: map[string][]event.RawMessage{
			"push":  {{Time: t0, Data: []byte(`{"service":"checkout","ms":250}`)}, {Time: t0.Add(time.Second), Data: []byte("not json")}},
			"empty": nil,
		},
		sources: []event.HealthSnapshot{{Name: "push", Type: "push", Up: true, LastSuccess: t0, Events: 10, Rejected: 1, Bytes: 420, Rate: 0.5},
			{Name: "kafka", Type: "kafka", LastError: "dial tcp: refused", LastErrorAt: t0, Lag: 7, Gaps: 1},
			{Name: "node", Type: "http", Up: true, LastSuccess: t0, LastError: "pulling http://10.0.0.2:9100/metrics: connection refused", LastErrorAt: t0, Events: 3, Targets: []event.TargetHealth{
				{Instance: "10.0.0.1:9100", URL: "http://10.0.0.1:9100/metrics", Up: true, LastScrape: t0},
				{Instance: "10.0.0.2:9100", URL: "http://10.0.0.2:9100/metrics", LastScrape: t0, LastError: "pulling http://10.0.0.2:9100/metrics: connection refused"}}}},
		cols:    []string{"service", "n"},
		rows:    [][]any{{"checkout", int64(3)}, {"cart", nil}},
		thr:     map[string]float64{"p99_max": 0.5},
		changes: []string{"rule slow: threshold changed"},
	}
}
