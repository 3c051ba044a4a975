package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	_ "github.com/lookout-dev/lookout/internal/notify/log"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/webhook"
)

// wait bounds how long a test waits for the dispatcher's goroutines; it is a
// failure timeout, never a way to let fake time pass.
const wait = 10 * time.Second

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func alert(rule, fp string, state event.AlertState, notify ...string) event.Alert {
	a := event.Alert{Rule: rule, Fingerprint: fp, State: state, Since: t0, Severity: "critical",
		Labels: map[string]string{"service": "api"}, Summary: rule + " " + fp, Notify: notify}
	if state == event.StateResolved {
		a.ResolvedAt = t0.Add(time.Minute)
	}
	return a
}

// hook is a real Alertmanager-style receiver. While down it answers 500 (or
// hangs, when hang is set); it keeps every payload it accepted.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	hang     bool
	failures int // answer 500 to this many more requests
	hits     int
	accepted []webhook.Payload
	got      chan webhook.Payload
}

func newHook(t *testing.T) *hook {
	h := &hook{got: make(chan webhook.Payload, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.hits++
		hang, fail := h.hang, h.down || h.failures > 0
		if h.failures > 0 {
			h.failures--
		}
		h.mu.Unlock()
		if hang {
			<-r.Context().Done()
			return
		}
		if fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.accepted = append(h.accepted, p)
		h.mu.Unlock()
		h.got <- p
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) set(f func(h *hook)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

// delivered lists "fingerprint/status" of every accepted alert, in order.
func (h *hook) delivered() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, p := range h.accepted {
		for _, a := range p.Alerts {
			out = append(out, a.Fingerprint+"/"+a.Status)
		}
	}
	return out
}

func (h *hook) notifier(t *testing.T, name string) notify.Notifier {
	t.Helper()
	n, err := notify.New(config.Notifier{Name: name, Type: webhook.Kind, Settings: &webhook.Config{URL: config.Secret(h.URL)}}, notify.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// recorder keeps the Record'd transitions and lets a test wait for one.
type recorder struct {
	mu  sync.Mutex
	all []event.Transition
	ch  chan event.Transition
}

func newRecorder() *recorder { return &recorder{ch: make(chan event.Transition, 1000)} }

func (r *recorder) record(tr event.Transition) {
	r.mu.Lock()
	r.all = append(r.all, tr)
	r.mu.Unlock()
	r.ch <- tr
}

func (r *recorder) decisions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, tr := range r.all {
		out = append(out, tr.Fingerprint+": "+tr.Decision)
	}
	return out
}

// waitFor waits until a decision starting with prefix is recorded.
func (r *recorder) waitFor(t *testing.T, prefix string) event.Transition {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case tr := <-r.ch:
			if strings.HasPrefix(tr.Decision, prefix) {
				return tr
			}
		case <-timeout:
			t.Fatalf("no decision %q; got %q", prefix, r.decisions())
		}
	}
}

type running struct {
	d      *notify.Dispatcher
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, opts notify.Options) *running {
	t.Helper()
	d, err := notify.NewDispatcher(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, cancel: cancel, done: make(chan struct{})}
	go func() { d.Run(ctx); close(r.done) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
	r.d.Close()
}

func TestPersistsAcrossRestart(t *testing.T) {
	tests := []struct {
		name string
		// runFirst: the first dispatcher runs against the down receiver
		// (and records a retry) before it is closed; otherwise it is closed
		// before it ever ran, like a crash right after the rule decided.
		runFirst bool
	}{
		{"closed while retrying", true},
		{"closed before any send", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t)
			h.set(func(h *hook) { h.down = true })
			path := filepath.Join(t.TempDir(), "outbox.db")
			rec := newRecorder()
			opts := notify.Options{
				Notifiers:  map[string]notify.Notifier{"ops": h.notifier(t, "ops")},
				OutboxPath: path,
				Clock:      notifytest.NewClock(t0),
				Record:     rec.record,
			}

			d, err := notify.NewDispatcher(opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Enqueue(alert("HighCPU", "fp1", event.StateFiring, "ops")); err != nil {
				t.Fatal(err)
			}
			if tt.runFirst {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { d.Run(ctx); close(done) }()
				rec.waitFor(t, "retrying ops: ")
				cancel()
				<-done
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if got := len(h.delivered()); got != 0 {
				t.Fatalf("delivered %d while down", got)
			}

			h.set(func(h *hook) { h.down = false })
			r := start(t, opts)
			if r.d.Pending() != 1 {
				t.Errorf("reopened Pending = %d, want 1", r.d.Pending())
			}
			rec.waitFor(t, "sent to ops")
			r.stop()
			if got, want := h.delivered(), []string{"fp1/firing"}; !slices.Equal(got, want) {
				t.Errorf("delivered %q, want %q", got, want)
			}
			if r.d.Pending() != 0 {
				t.Errorf("Pending = %d after delivery", r.d.Pending())
			}
			// A third dispatcher on the same file has nothing left to send.
			d3, err := notify.NewDispatcher(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer d3.Close()
			if d3.Pending() != 0 {
				t.Errorf("third dispatcher Pending = %d, want 0", d3.Pending())
			}
		})
	}
}

func TestOrderPerNotifier(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		all      bool // one EnqueueAll instead of six Enqueue calls
	}{
		{"receiver up", 0, false},
		{"receiver fails the first two", 2, false},
		{"EnqueueAll, receiver fails the first two", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t)
			h.set(func(h *hook) { h.failures = tt.failures })
			clk := notifytest.NewClock(t0)
			rec := newRecorder()
			r := start(t, notify.Options{
				Notifiers:  map[string]notify.Notifier{"ops": h.notifier(t, "ops")},
				OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
				Clock:      clk,
				Record:     rec.record,
			})
			want := []string{"a/firing", "b/firing", "a/resolved", "c/firing", "b/resolved", "c/resolved"}
			var alerts []event.Alert
			for _, w := range want {
				fp, state, _ := strings.Cut(w, "/")
				alerts = append(alerts, alert("R", fp, event.AlertState(state), "ops"))
			}
			if tt.all {
				if err := r.d.EnqueueAll(alerts...); err != nil {
					t.Fatal(err)
				}
			} else {
				for _, a := range alerts {
					if err := r.d.Enqueue(a); err != nil {
						t.Fatal(err)
					}
				}
			}
			for range tt.failures {
				select {
				case w := <-clk.Waits():
					clk.Advance(w)
				case <-time.After(wait):
					t.Fatal("dispatcher never backed off")
				}
			}
			for range want {
				rec.waitFor(t, "sent to ops")
			}
			if got := h.delivered(); !slices.Equal(got, want) {
				t.Errorf("delivered %q, want %q", got, want)
			}
		})
	}
}

func TestNotifiersAreIndependent(t *testing.T) {
	tests := []struct {
		name string
		dead func(h *hook)
	}{
		{"dead receiver answers 500", func(h *hook) { h.down = true }},
		{"dead receiver hangs", func(h *hook) { h.hang = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dead, live := newHook(t), newHook(t)
			dead.set(tt.dead)
			rec := newRecorder()
			r := start(t, notify.Options{
				Notifiers: map[string]notify.Notifier{
					"dead": dead.notifier(t, "dead"),
					"live": live.notifier(t, "live"),
				},
				OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
				Clock:      notifytest.NewClock(t0), // never advanced: the dead one stays stuck
				Record:     rec.record,
			})
			for _, fp := range []string{"x", "y", "z"} {
				if err := r.d.Enqueue(alert("R", fp, event.StateFiring, "dead", "live")); err != nil {
					t.Fatal(err)
				}
			}
			// Waiting for the decisions (not for the receiver) also waits for
			// the live entries to leave the outbox.
			for range 3 {
				rec.waitFor(t, "sent to live")
			}
			if got, want := live.delivered(), []string{"x/firing", "y/firing", "z/firing"}; !slices.Equal(got, want) {
				t.Errorf("live delivered %q, want %q", got, want)
			}
			if got := r.d.Pending(); got != 3 {
				t.Errorf("Pending = %d, want the 3 entries of the dead notifier", got)
			}
		})
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	h := newHook(t)
	h.set(func(h *hook) { h.down = true })
	clk := notifytest.NewClock(t0)
	rec := newRecorder()
	var logs bytes.Buffer
	var logMu sync.Mutex
	r := start(t, notify.Options{
		Notifiers:  map[string]notify.Notifier{"ops": h.notifier(t, "ops")},
		OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
		Clock:      clk,
		Record:     rec.record,
		Log:        slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, nil)),
		MaxAge:     10 * time.Second,
	})
	if err := r.d.Enqueue(alert("HighCPU", "fp1", event.StateFiring, "ops")); err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
loop:
	for {
		select {
		case w := <-clk.Waits():
			waits = append(waits, w)
			clk.Advance(w)
		case tr := <-rec.ch:
			if !strings.HasPrefix(tr.Decision, "failed: ") {
				continue
			}
			if !strings.HasPrefix(tr.Decision, "failed: gave up after 10s sending to ops: posting webhook: 500") {
				t.Errorf("decision = %q", tr.Decision)
			}
			break loop
		case <-time.After(wait):
			t.Fatalf("never gave up; waits %v", waits)
		}
	}
	// 1s, 2s, 4s of backoff, then the last wait is cut to what is left of
	// the 10s so the give-up happens on time.
	var total time.Duration
	for _, w := range waits {
		total += w
	}
	if total != 10*time.Second || len(waits) != 4 {
		t.Errorf("waits %v (total %v), want 4 waits adding up to exactly 10s", waits, total)
	}
	if r.d.Pending() != 0 {
		t.Errorf("Pending = %d after giving up", r.d.Pending())
	}
	if got := rec.decisions(); len(got) != 2 || !strings.HasPrefix(got[0], "fp1: retrying ops: ") {
		t.Errorf("decisions %q, want one retrying then the give-up", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"giving up notification"`) {
		t.Errorf("no error log for the give-up:\n%s", logs.String())
	}
}

func TestGivesUpStaleEntriesOnReopen(t *testing.T) {
	h := newHook(t)
	clk := notifytest.NewClock(t0)
	rec := newRecorder()
	opts := notify.Options{
		Notifiers:  map[string]notify.Notifier{"ops": h.notifier(t, "ops")},
		OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
		Clock:      clk,
		Record:     rec.record,
	}
	d, err := notify.NewDispatcher(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(alert("Old", "old", event.StateFiring, "ops")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	clk.Advance(25 * time.Hour) // lookout was down for longer than the default MaxAge

	r := start(t, opts)
	if err := r.d.Enqueue(alert("New", "new", event.StateFiring, "ops")); err != nil {
		t.Fatal(err)
	}
	tr := rec.waitFor(t, "failed: gave up after 25h0m0s sending to ops: never attempted")
	if tr.Fingerprint != "old" {
		t.Errorf("gave up %q, want old", tr.Fingerprint)
	}
	rec.waitFor(t, "sent to ops")
	if got, want := h.delivered(), []string{"new/firing"}; !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
}

func TestDecisions(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header string
		notify []string
		want   []string // decisions, in order
		// wantWait is the first backoff the dispatcher must ask for (0: none)
		wantWait time.Duration
	}{
		{name: "delivered", status: 200, notify: []string{"ops"}, want: []string{"sent to ops"}},
		{name: "4xx is given up at once", status: 400, notify: []string{"ops"},
			want: []string{"failed: ops: permanent failure: posting webhook: 400 Bad Request: bad"}},
		{name: "unknown notifier", status: 200, notify: []string{"nope", "ops"},
			want: []string{"failed: notifier nope is not configured", "sent to ops"}},
		{name: "duplicate names send once", status: 200, notify: []string{"ops", "ops"}, want: []string{"sent to ops"}},
		{name: "retry-after is respected", status: 429, header: "42", notify: []string{"ops"},
			want: []string{"retrying ops: posting webhook: 429 Too Many Requests: bad (retry after 42s)"}, wantWait: 42 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				if tt.status != 200 {
					http.Error(w, "bad", tt.status)
				}
			}))
			defer srv.Close()
			n, err := notify.New(config.Notifier{Name: "ops", Type: "webhook", Settings: &webhook.Config{URL: config.Secret(srv.URL)}}, notify.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			clk := notifytest.NewClock(t0)
			rec := newRecorder()
			r := start(t, notify.Options{
				Notifiers:  map[string]notify.Notifier{"ops": n},
				OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
				Clock:      clk,
				Record:     rec.record,
			})
			a := alert("R", "fp", event.StateFiring, tt.notify...)
			if err := r.d.Enqueue(a); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range tt.want {
				tr := rec.waitFor(t, w)
				if tr.Rule != "R" || tr.Fingerprint != "fp" || tr.State != event.StateFiring || !tr.Time.Equal(t0) {
					t.Errorf("transition %+v does not describe the alert", tr)
				}
				got = append(got, tr.Decision)
			}
			if tt.wantWait != 0 {
				select {
				case w := <-clk.Waits():
					if w != tt.wantWait {
						t.Errorf("waited %v, want %v", w, tt.wantWait)
					}
				case <-time.After(wait):
					t.Fatal("no backoff")
				}
			}
			r.stop()
			if all := rec.decisions(); len(all) != len(tt.want) {
				t.Errorf("decisions %q, want %d", all, len(tt.want))
			}
		})
	}
}

func TestUnconfiguredNotifierEntriesAreGivenUp(t *testing.T) {
	h := newHook(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	rec := newRecorder()
	d, err := notify.NewDispatcher(notify.Options{
		Notifiers:  map[string]notify.Notifier{"old": h.notifier(t, "old")},
		OutboxPath: path, Clock: notifytest.NewClock(t0), Record: rec.record,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(alert("R", "fp", event.StateFiring, "old")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// The config was changed: "old" is gone.
	r := start(t, notify.Options{OutboxPath: path, Clock: notifytest.NewClock(t0), Record: rec.record})
	rec.waitFor(t, "failed: notifier old is not configured")
	if r.d.Pending() != 0 {
		t.Errorf("Pending = %d, want 0", r.d.Pending())
	}
}

func TestEnqueueAfterClose(t *testing.T) {
	d, err := notify.NewDispatcher(notify.Options{OutboxPath: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(alert("R", "fp", event.StateFiring)); err != notify.ErrClosed {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	d.Run(context.Background()) // returns at once
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSecondDispatcherOnSameFileFails(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 2s bbolt lock timeout")
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	d, err := notify.NewDispatcher(notify.Options{OutboxPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := notify.NewDispatcher(notify.Options{OutboxPath: path}); err == nil {
		t.Fatal("a second dispatcher opened a file that is in use")
	}
}

func TestConcurrentEnqueue(t *testing.T) {
	h := newHook(t)
	rec := newRecorder()
	r := start(t, notify.Options{
		Notifiers:  map[string]notify.Notifier{"ops": h.notifier(t, "ops")},
		OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
		Clock:      notifytest.NewClock(t0),
		Record:     rec.record,
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if err := r.d.Enqueue(alert("R", fmt.Sprintf("g%d-%d", g, i), event.StateFiring, "ops")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for range 40 {
		rec.waitFor(t, "sent to ops")
	}
	got := h.delivered()
	if len(got) != 40 {
		t.Fatalf("delivered %d, want 40", len(got))
	}
	// Each goroutine's own alerts keep their order.
	for g := range 4 {
		prev := -1
		for _, s := range got {
			var gg, i int
			if _, err := fmt.Sscanf(s, "g%d-%d/firing", &gg, &i); err == nil && gg == g {
				if i != prev+1 {
					t.Errorf("goroutine %d: %d after %d", g, i, prev)
				}
				prev = i
			}
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func BenchmarkEnqueue(b *testing.B) {
	d, err := notify.NewDispatcher(notify.Options{
		Notifiers:  map[string]notify.Notifier{"a": nil, "b": nil},
		OutboxPath: filepath.Join(b.TempDir(), "outbox.db"),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	a := alert("HighCPU", "fp", event.StateFiring, "a", "b")
	for b.Loop() {
		if err := d.Enqueue(a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnqueueAll100(b *testing.B) {
	d, err := notify.NewDispatcher(notify.Options{
		Notifiers:  map[string]notify.Notifier{"a": nil},
		OutboxPath: filepath.Join(b.TempDir(), "outbox.db"),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	alerts := make([]event.Alert, 100)
	for i := range alerts {
		alerts[i] = alert("HighCPU", fmt.Sprint(i), event.StateFiring, "a")
	}
	for b.Loop() {
		if err := d.EnqueueAll(alerts...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(alerts)), "ns/alert")
}

// groupAlert is a firing alert of rule SvcDown for one service of a team,
// grouped by team.
func groupAlert(service, team string, g event.Grouping) event.Alert {
	a := alert("SvcDown", "fp-"+service, event.StateFiring, "ops")
	a.Labels = map[string]string{"alertname": "SvcDown", "service": service, "team": team}
	a.Group = g
	return a
}

// handlerTransport delivers requests to an http.Handler in-process, so the
// real webhook notifier can run inside a synctest bubble (which cannot wait
// on network I/O).
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// posts collects the webhook payloads the hook accepted.
type posts struct {
	mu  sync.Mutex
	all []webhook.Payload
}

func (p *posts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var pl webhook.Payload
	if err := json.NewDecoder(r.Body).Decode(&pl); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.all = append(p.all, pl)
	p.mu.Unlock()
}

// take returns the services of each payload since the last call.
func (p *posts) take() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]string
	for _, pl := range p.all {
		var svcs []string
		for _, a := range pl.Alerts {
			svcs = append(svcs, a.Labels["service"])
		}
		slices.Sort(svcs)
		out = append(out, svcs)
	}
	p.all = nil
	return out
}

// TestGrouping: three services of one team going bad within group_wait make
// one webhook POST with three alerts; another team's alert goes in its own
// POST at its own time; an ungrouped alert is not held up; a later alert of
// the group waits for group_interval. Time is synctest's.
func TestGrouping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook := &posts{}
		n, err := notify.New(config.Notifier{Name: "ops", Type: webhook.Kind, Settings: &webhook.Config{URL: "http://hook.test/hook"}},
			notify.Deps{HTTP: &http.Client{Transport: handlerTransport{hook}}})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		d, err := notify.NewDispatcher(notify.Options{
			Notifiers:  map[string]notify.Notifier{"ops": n},
			OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
			Record:     rec.record,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		defer func() { cancel(); <-done; d.Close() }()

		g := event.Grouping{By: []string{"team"}, Wait: 10 * time.Second, Interval: time.Minute}
		step := func(name string, sleep time.Duration, want [][]string) {
			t.Helper()
			time.Sleep(sleep)
			synctest.Wait()
			if got := hook.take(); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: POSTs %v, want %v; decisions %q", name, got, want, rec.decisions())
			}
		}

		if err := d.Enqueue(groupAlert("checkout", "web", g)); err != nil {
			t.Fatal(err)
		}
		if err := d.Enqueue(alert("Disk", "fp-disk", event.StateFiring, "ops")); err != nil {
			t.Fatal(err)
		}
		step("ungrouped goes at once, past the waiting group", 0, [][]string{{"api"}})
		step("nothing within group_wait", 3*time.Second, nil)
		if err := d.EnqueueAll(groupAlert("cart", "web", g), groupAlert("search", "web", g), groupAlert("db", "data", g)); err != nil {
			t.Fatal(err)
		}
		step("still within group_wait", 7*time.Second-time.Millisecond, nil)
		step("group_wait over: one POST with three alerts", time.Millisecond, [][]string{{"cart", "checkout", "search"}})
		step("the data team waits its own group_wait", 3*time.Second-time.Millisecond, nil)
		step("the data team's POST", time.Millisecond, [][]string{{"db"}})

		// The web group was sent at +10s; a new alert of it at +13s waits
		// until group_interval (1m) after that send.
		if err := d.Enqueue(groupAlert("payments", "web", g)); err != nil {
			t.Fatal(err)
		}
		step("within group_interval", 57*time.Second-time.Millisecond, nil)
		step("group_interval over", time.Millisecond, [][]string{{"payments"}})

		for _, fp := range []string{"fp-checkout", "fp-cart", "fp-search"} {
			if !slices.Contains(rec.decisions(), fp+": sent to ops in a group of 3") {
				t.Errorf("no group send recorded for %s: %q", fp, rec.decisions())
			}
			if !slices.ContainsFunc(rec.decisions(), func(d string) bool { return strings.HasPrefix(d, fp+": grouped for ops: ") }) {
				t.Errorf("no grouped decision recorded for %s", fp)
			}
		}
		if d.Pending() != 0 {
			t.Errorf("Pending = %d, want 0", d.Pending())
		}
	})
}

// TestMaxAgePerNotifier: a notifier's own max age overrides the default,
// giving up is counted per notifier.
func TestMaxAgePerNotifier(t *testing.T) {
	h := newHook(t)
	h.set(func(h *hook) { h.down = true })
	clk := notifytest.NewClock(t0)
	rec := newRecorder()
	r := start(t, notify.Options{
		Notifiers:  map[string]notify.Notifier{"ops": h.notifier(t, "ops"), "pager": h.notifier(t, "pager")},
		OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
		Clock:      clk,
		Record:     rec.record,
		MaxAge:     time.Hour,
		MaxAges:    map[string]time.Duration{"pager": 5 * time.Second},
	})
	if err := r.d.Enqueue(alert("HighCPU", "fp1", event.StateFiring, "ops", "pager")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(wait)
	for {
		if got := r.d.GaveUp(); got["pager"] == 1 {
			if got["ops"] != 0 {
				t.Errorf("GaveUp = %v, want ops still retrying", got)
			}
			break
		}
		select {
		case w := <-clk.Waits():
			if w > 0 && w <= 5*time.Second {
				clk.Advance(w)
			}
		case <-time.After(20 * time.Millisecond):
			// The give-up may come after the last wait this loop advances
			// (the next one, for ops, is longer than 5 s): look again.
		case <-deadline:
			t.Fatalf("pager never gave up; GaveUp = %v, decisions %q", r.d.GaveUp(), rec.decisions())
		}
	}
	if !slices.ContainsFunc(rec.decisions(), func(d string) bool {
		return strings.HasPrefix(d, "fp1: failed: gave up after ") && strings.Contains(d, " sending to pager: ")
	}) {
		t.Errorf("decisions %q lack the pager give-up", rec.decisions())
	}
	if r.d.Pending() != 1 {
		t.Errorf("Pending = %d, want the ops entry still queued", r.d.Pending())
	}
}

// TestDrain: at shutdown Drain returns as soon as the last pending entry is
// delivered, and with a receiver that stays down it gives up after its grace
// on the dispatcher's clock, leaving the entry queued.
func TestDrain(t *testing.T) {
	t.Run("delivered", func(t *testing.T) {
		h := newHook(t)
		clk := notifytest.NewClock(t0)
		r := start(t, notify.Options{
			Notifiers:  map[string]notify.Notifier{"ops": h.notifier(t, "ops")},
			OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
			Clock:      clk,
		})
		if err := r.d.Enqueue(alert("HighCPU", "fp1", event.StateFiring, "ops")); err != nil {
			t.Fatal(err)
		}
		done := make(chan bool, 1)
		go func() { done <- r.d.Drain(context.Background(), 2*time.Second) }()
		select {
		case ok := <-done:
			if !ok {
				t.Errorf("Drain = false with %d pending, want true", r.d.Pending())
			}
		case <-time.After(wait):
			t.Fatal("Drain did not return after the delivery, with the clock standing still")
		}
		if got := h.delivered(); !reflect.DeepEqual(got, []string{"fp1/firing"}) {
			t.Errorf("delivered %v, want fp1/firing", got)
		}
	})
	t.Run("receiver down", func(t *testing.T) {
		h := newHook(t)
		h.set(func(h *hook) { h.down = true })
		clk := notifytest.NewClock(t0)
		rec := newRecorder()
		r := start(t, notify.Options{
			Notifiers:  map[string]notify.Notifier{"ops": h.notifier(t, "ops")},
			OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
			Clock:      clk,
			Record:     rec.record,
		})
		if err := r.d.Enqueue(alert("HighCPU", "fp1", event.StateFiring, "ops")); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, "retrying ops")
		done := make(chan bool, 1)
		go func() { done <- r.d.Drain(context.Background(), 2*time.Second) }()
		// The first retry waits at most 1s; the 2s wait is Drain's grace.
		timeout := time.After(wait)
		for grace := false; !grace; {
			select {
			case w := <-clk.Waits():
				grace = w == 2*time.Second
			case ok := <-done:
				t.Fatalf("Drain = %v before its grace passed on the clock", ok)
			case <-timeout:
				t.Fatal("Drain never waited on the dispatcher's clock")
			}
		}
		select {
		case ok := <-done:
			t.Fatalf("Drain = %v before the clock moved", ok)
		default:
		}
		clk.Advance(2 * time.Second)
		select {
		case ok := <-done:
			if ok {
				t.Error("Drain = true with the receiver down, want false")
			}
		case <-time.After(wait):
			t.Fatal("Drain did not return once its grace passed on the clock")
		}
		if r.d.Pending() != 1 {
			t.Errorf("Pending = %d, want the entry kept for the next start", r.d.Pending())
		}
	})
}
