package source

import (
	"sync"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// RawMessage is one message as a source received it.
type RawMessage = event.RawMessage

// Ring keeps the last N raw messages of a source, as received, for
// /api/v1/raw. It is safe for concurrent use. Add copies data, because
// callers often hand in buffers they reuse.
type Ring struct {
	mu   sync.Mutex
	msgs []RawMessage
	next int  // where the next message goes
	full bool // whether msgs has wrapped around
}

// NewRing returns a ring holding up to n messages (at least one).
func NewRing(n int) *Ring {
	if n < 1 {
		n = 1
	}
	return &Ring{msgs: make([]RawMessage, n)}
}

// Add records a message received at t.
func (r *Ring) Add(t time.Time, data []byte) {
	c := append([]byte(nil), data...)
	r.mu.Lock()
	r.msgs[r.next] = RawMessage{Time: t, Data: c}
	r.next++
	if r.next == len(r.msgs) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// Last returns up to n of the most recent messages, oldest first. The
// messages' Data must not be modified.
func (r *Ring) Last(n int) []RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = len(r.msgs)
	}
	if n > size {
		n = size
	}
	if n <= 0 {
		return []RawMessage{}
	}
	out := make([]RawMessage, n)
	start := r.next - n
	if start < 0 {
		start += len(r.msgs)
	}
	for i := range out {
		out[i] = r.msgs[(start+i)%len(r.msgs)]
	}
	return out
}
