package loadgen

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// Fired is one firing alert as the webhook received it.
type Fired struct {
	Received    time.Time
	StartsAt    time.Time // lookout sets it to the end of the window that fired
	Rule        string
	Labels      map[string]string
	Fingerprint string
}

// Receiver is an Alertmanager-compatible webhook receiver (payload version
// 4) that notes when each firing alert arrived. Safe for concurrent use.
type Receiver struct {
	now func() time.Time

	mu       sync.Mutex
	fired    []Fired
	resolved int
	payloads int
	invalid  int
}

// NewReceiver returns an empty receiver.
func NewReceiver() *Receiver { return &Receiver{now: time.Now} }

type amPayload struct {
	Version string `json:"version"`
	Alerts  []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		StartsAt    time.Time         `json:"startsAt"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
}

// ServeHTTP takes one webhook POST. The arrival time is taken before the
// body is read, so decoding does not count against lookout.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := r.now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	var p amPayload
	if err == nil {
		err = json.Unmarshal(body, &p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || p.Version != "4" {
		r.invalid++
		http.Error(w, "not an Alertmanager v4 payload", http.StatusBadRequest)
		return
	}
	r.payloads++
	for _, a := range p.Alerts {
		switch a.Status {
		case "firing":
			r.fired = append(r.fired, Fired{
				Received: at, StartsAt: a.StartsAt, Rule: a.Labels["alertname"],
				Labels: a.Labels, Fingerprint: a.Fingerprint,
			})
		case "resolved":
			r.resolved++
		}
	}
}

// Fired returns a copy of the firing alerts received so far.
func (r *Receiver) Fired() []Fired {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Fired(nil), r.fired...)
}

// Counts returns how many payloads, resolved alerts and invalid bodies were
// received.
func (r *Receiver) Counts() (payloads, resolved, invalid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.payloads, r.resolved, r.invalid
}
