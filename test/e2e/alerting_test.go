package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// alertingConfig: 1 s windows by service; Down fires on one bad window and
// keeps firing 3 s past the last bad one; GroupDown batches the g* services
// of a team into one message.
func alertingConfig(t *testing.T, hookAddr string) *lookouttest.Config {
	c := lookouttest.NewConfig(t)
	c.Pipelines = []lookouttest.Pipeline{{Name: "api", From: []string{"push"}, GroupBy: []string{"service"}, Window: "1s", Lateness: "200ms",
		Aggregates: map[string]string{"requests": "count()", "error_rate": "ratio(status >= 500)"}}}
	c.Rules = []lookouttest.Rule{
		{Name: "Down", Pipeline: "api", When: `error_rate > 0.5 && requests >= 2 && !(service startsWith "g")`, For: 1, Repeat: "1h",
			Notify: []string{"hook"}, Extra: map[string]any{"keep_firing_for": "3s"}},
		{Name: "GroupDown", Pipeline: "api", When: `error_rate > 0.5 && requests >= 2 && service startsWith "g"`, For: 1, Repeat: "1h",
			Notify: []string{"hook"}, Extra: map[string]any{"labels": map[string]string{"team": "web"}, "group_by": []string{"team"}, "group_wait": "2s"}},
	}
	c.Notifiers = []lookouttest.Notifier{{Name: "hook", Type: "webhook", Extra: map[string]any{"url": "http://" + hookAddr + "/hook"}}}
	return c
}

// flakyHook is an Alertmanager receiver that answers 500 while failing.
type flakyHook struct {
	hookReceiver
	failing atomic.Bool
	posts   atomic.Int64 // accepted POSTs
}

func (f *flakyHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.failing.Load() {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	f.posts.Add(1)
	f.hookReceiver.ServeHTTP(w, r)
}

// deliveries counts the accepted alerts by "service/status".
func (f *flakyHook) deliveries() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, p := range f.payloads {
		for _, a := range p.Alerts {
			out[a.Labels["service"]+"/"+a.Status]++
		}
	}
	return out
}

// pusher sends, every 100 ms, two events per service: both 503 for a bad
// service, both 200 for a good one.
type pusher struct {
	t    *testing.T
	mu   sync.Mutex
	p    *lookouttest.Proc
	bad  map[string]bool
	stop chan struct{}
	done chan struct{}
}

func newPusher(t *testing.T, p *lookouttest.Proc) *pusher {
	ps := &pusher{t: t, p: p, bad: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go ps.run()
	t.Cleanup(ps.close)
	return ps
}

func (ps *pusher) set(service string, bad bool) {
	ps.mu.Lock()
	ps.bad[service] = bad
	ps.mu.Unlock()
}

func (ps *pusher) run() {
	defer close(ps.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ps.stop:
			return
		case <-tick.C:
		}
		ps.mu.Lock()
		now := time.Now().UnixMilli()
		var b strings.Builder
		for svc, bad := range ps.bad {
			status := 200
			if bad {
				status = 503
			}
			for range 2 {
				fmt.Fprintf(&b, `{"ts":%d,"service":%q,"status":%d}`+"\n", now, svc, status)
			}
		}
		p := ps.p
		ps.mu.Unlock()
		if b.Len() == 0 {
			continue
		}
		r, err := http.Post(p.URL("/api/v1/events?source=push"), "application/x-ndjson", strings.NewReader(b.String()))
		if err == nil {
			r.Body.Close()
		}
		// While lookout restarts the push fails; the test accounts for it.
	}
}

// close stops pushing.
func (ps *pusher) close() {
	select {
	case <-ps.stop:
	default:
		close(ps.stop)
	}
	<-ps.done
}

type historyRow struct {
	Rule        string            `json:"rule"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	State       string            `json:"state"`
	Decision    string            `json:"decision"`
}

func history(t *testing.T, p *lookouttest.Proc, query string) []historyRow {
	t.Helper()
	var out struct {
		Data []historyRow `json:"data"`
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/alerts/history?limit=1000&"+query), &out)
	return out.Data
}

// TestAlertingReceiverOutage: the receiver refuses connections for 10 s,
// then answers 500 for 10 s, and lookout restarts in the middle; once the
// receiver is back every notification the rules decided arrives exactly once.
func TestAlertingReceiverOutage(t *testing.T) {
	t.Parallel()
	hook := &flakyHook{}
	// Not listening yet: connections are refused.
	recv := &restartable{t: t, addr: lookouttest.FreeAddr(t), h: hook}
	t.Cleanup(recv.stop)

	cfg := alertingConfig(t, recv.addr)
	p := cfg.Start(t, binary)
	ps := newPusher(t, p)

	outageStart := time.Now()
	ps.set("a", true)
	ps.set("b", true)
	ps.set("c", false)
	lookouttest.WaitFor(t, 10*time.Second, "a and b firing", func() bool { return countFiring(t, p, "Down") == 2 })
	ps.set("a", false) // a resolves 3 s later (keep_firing_for), while the receiver is down
	lookouttest.WaitFor(t, 10*time.Second, "a resolved", func() bool { return !hasAlert(t, p, "Down", "a") })

	// Restart lookout with notifications still in its outbox.
	ps.close()
	p.Stop()
	p = cfg.Start(t, binary)
	ps = newPusher(t, p)
	ps.set("b", true)
	ps.set("c", true) // a new alert after the restart
	lookouttest.WaitFor(t, 10*time.Second, "c firing after the restart", func() bool { return hasAlert(t, p, "Down", "c") })

	// Refuse for 10 s in all, then answer 500 for 10 s, then accept.
	time.Sleep(time.Until(outageStart.Add(10 * time.Second)))
	hook.failing.Store(true)
	recv.start()
	time.Sleep(time.Until(outageStart.Add(20 * time.Second)))
	if n := hook.posts.Load(); n != 0 {
		t.Fatalf("%d POSTs accepted during the outage", n)
	}
	hook.failing.Store(false)

	want := map[string]int{"a/firing": 1, "a/resolved": 1, "b/firing": 1, "c/firing": 1}
	lookouttest.WaitFor(t, 40*time.Second, "every notification delivered", func() bool {
		got := hook.deliveries()
		for k, n := range want {
			if got[k] < n {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // a duplicate would come right behind
	if got := hook.deliveries(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %v, want each once: %v", got, want)
	}
	// What the rules decided to send is what arrived, and the dispatcher
	// recorded the retry and the delivery of each.
	decided, delivered, retried := map[string]int{}, map[string]int{}, map[string]int{}
	for _, h := range history(t, p, "rule=Down") {
		key := h.Labels["service"] + "/" + h.State
		switch {
		case h.Decision == "queued":
			decided[key]++
		case h.Decision == "sent to hook":
			delivered[key]++
		case strings.HasPrefix(h.Decision, "retrying hook: "):
			retried[key]++
		}
	}
	if fmt.Sprint(decided) != fmt.Sprint(want) || fmt.Sprint(delivered) != fmt.Sprint(want) {
		t.Errorf("history: decided %v, delivered %v; want %v each", decided, delivered, want)
	}
	if len(retried) == 0 {
		t.Error("history records no retry")
	}
}

func countFiring(t *testing.T, p *lookouttest.Proc, rule string) int {
	n := 0
	for _, a := range alerts(t, p) {
		if a.Rule == rule && a.State == "firing" {
			n++
		}
	}
	return n
}

type alertRow struct {
	Rule        string            `json:"rule"`
	Labels      map[string]string `json:"labels"`
	State       string            `json:"state"`
	Fingerprint string            `json:"fingerprint"`
	SilencedBy  []string          `json:"silenced_by"`
}

func alerts(t *testing.T, p *lookouttest.Proc) []alertRow {
	t.Helper()
	var out struct {
		Data []alertRow `json:"data"`
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/alerts"), &out)
	return out.Data
}

func findAlert(t *testing.T, p *lookouttest.Proc, rule, service string) (alertRow, bool) {
	for _, a := range alerts(t, p) {
		if a.Rule == rule && a.Labels["service"] == service {
			return a, true
		}
	}
	return alertRow{}, false
}

func hasAlert(t *testing.T, p *lookouttest.Proc, rule, service string) bool {
	_, ok := findAlert(t, p, rule, service)
	return ok
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(r))
	return r.StatusCode, b.String()
}

func readAll(r *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestAlertingMuteFlapGroup: grouping (three services in one POST), a
// flapping service (one firing/resolved pair) and a silence (not sent, the
// history says why; deleted → sent), against one lookout.
func TestAlertingMuteFlapGroup(t *testing.T) {
	t.Parallel()
	hook := &flakyHook{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	p := alertingConfig(t, strings.TrimPrefix(hs.URL, "http://")).Start(t, binary)
	ps := newPusher(t, p)

	// Silence the quiet service before it goes bad.
	code, body := do(t, "POST", p.URL("/api/v1/silences"),
		`{"matchers":[{"name":"service","value":"quiet"},{"name":"alertname","op":"=~","value":"Do.*"}],"duration":"1h","comment":"maintenance"}`)
	if code != 200 || !strings.Contains(body, `"id":"`) {
		t.Fatalf("POST /api/v1/silences: %d %s", code, body)
	}
	silenceID := strings.SplitN(strings.SplitN(body, `"id":"`, 2)[1], `"`, 2)[0]

	// Grouping: three services go bad in the same second.
	for _, s := range []string{"g1", "g2", "g3"} {
		ps.set(s, true)
	}
	ps.set("quiet", true)
	// Flapping: bad and good windows alternate for 6 s.
	flapDone := make(chan struct{})
	go func() {
		defer close(flapDone)
		for i := range 6 {
			ps.set("flap", i%2 == 0)
			time.Sleep(time.Second)
		}
		ps.set("flap", false)
	}()

	lookouttest.WaitFor(t, 15*time.Second, "the g group's POST", func() bool { return hook.count("firing", "g1") > 0 })
	hook.mu.Lock()
	var groupPosts []int
	for _, pl := range hook.payloads {
		for _, a := range pl.Alerts {
			if a.Labels["service"] == "g1" {
				groupPosts = append(groupPosts, len(pl.Alerts))
			}
		}
	}
	hook.mu.Unlock()
	if len(groupPosts) != 1 || groupPosts[0] != 3 {
		t.Errorf("g1 arrived in POSTs of sizes %v, want one POST of 3 alerts (g1, g2, g3)", groupPosts)
	}
	for _, s := range []string{"g2", "g3"} {
		if n := hook.count("firing", s); n != 1 {
			t.Errorf("%s firing delivered %d times, want 1", s, n)
		}
	}

	// The silenced alert fires but is not sent, and the history says why.
	quiet, ok := findAlert(t, p, "Down", "quiet")
	if !ok || quiet.State != "firing" || len(quiet.SilencedBy) != 1 || quiet.SilencedBy[0] != silenceID {
		t.Fatalf("quiet alert %+v (found %v), want firing and silenced by %s", quiet, ok, silenceID)
	}
	if n := hook.count("firing", "quiet"); n != 0 {
		t.Fatalf("silenced alert delivered %d times", n)
	}
	why := history(t, p, "fingerprint="+quiet.Fingerprint)
	if len(why) == 0 || why[len(why)-1].Decision != "suppressed: silence "+silenceID {
		t.Errorf("history of the silenced alert %+v, want it to end with suppressed: silence %s", why, silenceID)
	}
	for _, h := range why {
		if h.Fingerprint != quiet.Fingerprint {
			t.Errorf("?fingerprint= returned another alert's row: %+v", h)
		}
	}

	// Expire the silence: the still-firing alert is sent on its next window.
	if code, body := do(t, "DELETE", p.URL("/api/v1/silences/"+silenceID), ""); code != 200 {
		t.Fatalf("DELETE silence: %d %s", code, body)
	}
	lookouttest.WaitFor(t, 5*time.Second, "the quiet alert sent after its silence ended", func() bool { return hook.count("firing", "quiet") == 1 })
	var sils struct {
		Data []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"data"`
	}
	lookouttest.GetJSON(t, p.URL("/api/v1/silences"), &sils)
	if len(sils.Data) != 1 || sils.Data[0].State != "expired" {
		t.Errorf("silences after DELETE: %+v, want it listed as expired", sils.Data)
	}

	// Flapping: one firing while it flaps, one resolved keep_firing_for
	// (3 s) after the last bad window.
	<-flapDone
	lookouttest.WaitFor(t, 10*time.Second, "the flapping alert resolved", func() bool { return hook.count("resolved", "flap") > 0 })
	if f, r := hook.count("firing", "flap"), hook.count("resolved", "flap"); f != 1 || r != 1 {
		t.Errorf("flapping service: %d firing, %d resolved delivered; want 1 and 1", f, r)
	}
	flapping := 0
	for _, h := range history(t, p, "rule=Down") {
		if h.Labels["service"] == "flap" && strings.HasPrefix(h.Decision, "suppressed: flapping") {
			flapping++
		}
		if h.Rule != "Down" {
			t.Errorf("?rule=Down returned a %s row", h.Rule)
		}
	}
	if flapping == 0 {
		t.Error("history records no held-back resolve for the flapping service")
	}
}
