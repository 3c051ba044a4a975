package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// binary is the lookout that TestMain built for these tests.
var binary string

// TestMain builds lookout once; every test here starts the binary, so -short
// runs none of them.
func TestMain(m *testing.M) { lookouttest.Main(m, &binary) }

// proc is a lookout that a test may kill and start again on the same data
// directory and address.
type proc struct {
	*lookouttest.Proc
	t      *testing.T
	name   string
	addr   string
	data   string
	config string
}

// start runs lookout with the config, its own data directory and listen
// address, and waits until /readyz answers. It is killed when the test ends.
func start(t *testing.T, name, config string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, addr: lookouttest.FreeAddr(t), data: filepath.Join(t.TempDir(), "data"), config: config}
	p.run()
	return p
}

// run starts (or starts again) the process.
func (p *proc) run() {
	p.t.Helper()
	p.Proc = lookouttest.Start(p.t, binary, p.addr, "run", "-config", p.config, "-data", p.data, "-listen", p.addr)
	p.Proc.AtEnd = p.Proc.Kill
}

// push posts NDJSON lines to the push source and returns the status and the
// Retry-After header.
func (p *proc) push(lines []string) (int, string, error) {
	r, err := http.Post("http://"+p.addr+"/api/v1/events?source=push", "application/x-ndjson",
		strings.NewReader(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		return 0, "", err
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 && r.StatusCode != 429 && r.StatusCode != 503 {
		return r.StatusCode, "", fmt.Errorf("push: %d %s", r.StatusCode, body)
	}
	return r.StatusCode, r.Header.Get("Retry-After"), nil
}

type transition struct {
	Rule        string `json:"rule"`
	Fingerprint string `json:"fingerprint"`
	State       string `json:"state"`
	Decision    string `json:"decision"`
}

func (p *proc) history() []transition {
	var resp struct {
		Data []transition `json:"data"`
	}
	if err := p.GetJSON("/api/v1/alerts/history?limit=10000", &resp); err != nil {
		p.t.Logf("%s history: %v", p.name, err)
		return nil
	}
	return resp.Data
}

// receiver is a webhook endpoint that checks each message is the
// Alertmanager webhook format (version 4) and counts the alerts in it by
// fingerprint and status.
type receiver struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	got   map[string]map[string]int // fingerprint → status → messages
	names map[string]string         // fingerprint → alertname
	n     int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, got: map[string]map[string]int{}, names: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p struct {
			Version string `json:"version"`
			Status  string `json:"status"`
			Alerts  []struct {
				Status      string            `json:"status"`
				Labels      map[string]string `json:"labels"`
				Fingerprint string            `json:"fingerprint"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(req.Body).Decode(&p); err != nil || p.Version != "4" || len(p.Alerts) == 0 {
			t.Errorf("webhook: not an Alertmanager v4 message (%v): %+v", err, p)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, a := range p.Alerts {
			if a.Labels["alertname"] == "" || a.Fingerprint == "" {
				t.Errorf("webhook: alert without alertname or fingerprint: %+v", a)
			}
			if r.got[a.Fingerprint] == nil {
				r.got[a.Fingerprint] = map[string]int{}
			}
			r.got[a.Fingerprint][a.Status]++
			r.names[a.Fingerprint] = a.Labels["alertname"]
			r.n++
		}
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hook" }

// counts returns a copy of the counts of the alerts of rule alertname.
func (r *receiver) counts(alertname string) map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]map[string]int, len(r.got))
	for fp, m := range r.got {
		if r.names[fp] != alertname {
			continue
		}
		out[fp] = map[string]int{}
		for s, n := range m {
			out[fp][s] = n
		}
	}
	return out
}

func (r *receiver) total(alertname, status string) int {
	n := 0
	for _, m := range r.counts(alertname) {
		n += m[status]
	}
	return n
}
