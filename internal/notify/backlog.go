package notify

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Backlog is what waits in the outbox for one notifier: the retry queue that
// self-monitoring and /metrics watch.
type Backlog struct {
	// Pending counts undelivered entries.
	Pending int
	// Oldest is when the oldest undelivered entry was enqueued; zero when
	// none is pending.
	Oldest time.Time
	// Attempts is how many sends of the oldest entry failed so far: more
	// than zero means the notifier is retrying (entries are sent in order,
	// so everything behind it waits too).
	Attempts int
}

// Backlog returns the outbox backlog of every notifier that has or had
// entries, by name. It reads the outbox file (one read transaction), so call
// it at scrape or sampling time, not per alert. Safe for concurrent use.
func (d *Dispatcher) Backlog() (map[string]Backlog, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, ErrClosed
	}
	out := map[string]Backlog{}
	for name := range d.notifiers {
		out[name] = Backlog{}
	}
	err := d.box.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(outboxBucket)
		return root.ForEachBucket(func(name []byte) error {
			var b Backlog
			c := root.Bucket(name).Cursor()
			k, v := c.First()
			if k != nil {
				var e entry
				if err := json.Unmarshal(v, &e); err == nil {
					b.Oldest, b.Attempts = e.Enqueued, e.Attempts
				}
			}
			for ; k != nil; k, _ = c.Next() {
				b.Pending++
			}
			out[string(name)] = b
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading outbox backlog: %w", err)
	}
	return out, nil
}
