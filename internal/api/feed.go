package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Feed fans live updates (window results, alert transitions, source health)
// out to the Server-Sent Events clients of /api/v1/stream.
//
// Publishing never blocks the data path: each client has a bounded buffer, and
// a client too slow to keep up is disconnected (counted in Dropped) — its
// EventSource reconnects and reloads what it missed from the API. The feed is
// a view; nothing in it is the only copy of anything.
type Feed struct {
	mu      sync.Mutex
	subs    map[chan []byte]struct{}
	closed  bool
	Dropped atomic.Int64
}

// Close ends every client's stream and refuses new ones, so that a graceful
// HTTP shutdown does not wait for dashboards to go away by themselves.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}

// NewFeed returns an empty feed.
func NewFeed() *Feed { return &Feed{subs: map[chan []byte]struct{}{}} }

// Publish sends one event of the given kind ("window", "alert", "source") to
// every client. Safe for concurrent use; never blocks.
func (f *Feed) Publish(kind string, v any) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) == 0 {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	msg := fmt.Appendf(nil, "event: %s\ndata: %s\n\n", kind, data)
	for ch := range f.subs {
		select {
		case ch <- msg:
		default:
			delete(f.subs, ch)
			close(ch)
			f.Dropped.Add(1)
		}
	}
}

// Clients returns the number of connected clients.
func (f *Feed) Clients() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *Feed) subscribe() chan []byte {
	ch := make(chan []byte, 1024)
	f.mu.Lock()
	if f.closed {
		close(ch)
	} else {
		f.subs[ch] = struct{}{}
	}
	f.mu.Unlock()
	return ch
}

func (f *Feed) unsubscribe(ch chan []byte) {
	f.mu.Lock()
	if _, ok := f.subs[ch]; ok {
		delete(f.subs, ch)
		close(ch)
	}
	f.mu.Unlock()
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request) {
	if s.opts.Feed == nil {
		writeError(w, http.StatusNotImplemented, "live feed is off")
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	// The feed outlives the server's read timeout, whose expiry would end
	// the request (the server reads the idle connection to see it close).
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ch := s.opts.Feed.subscribe()
	defer s.opts.Feed.unsubscribe(ch)
	fmt.Fprint(w, "retry: 2000\nevent: hello\ndata: {}\n\n")
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			if _, err := w.Write(msg); err != nil {
				return
			}
			fl.Flush()
		case <-ping.C:
			// A comment line keeps proxies from closing an idle stream.
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
