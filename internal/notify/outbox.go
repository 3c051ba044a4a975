package notify

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/internal/event"
)

// The outbox layout: one top-level bucket, inside it one bucket per notifier
// name, inside that one key per entry. Keys are the bucket's sequence number as
// 8 big-endian bytes, so a cursor walks each notifier's entries in the order
// they were enqueued.
var outboxBucket = []byte("outbox")

// entry is one alert waiting to be delivered to one notifier.
type entry struct {
	Alert    event.Alert `json:"alert"`
	Enqueued time.Time   `json:"enqueued"`
	// Attempts counts failed sends, so "retrying" is recorded once per entry
	// even across restarts.
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// Group is the batch key of a grouped alert (see groupKey), "" when it
	// goes on its own; Due is when its batch may be sent.
	Group string    `json:"group,omitempty"`
	Due   time.Time `json:"due,omitzero"`
}

// outbox is the bbolt file. Every write is a bolt transaction, which fsyncs
// on commit.
type outbox struct {
	db *bolt.DB
}

func openOutbox(path string) (*outbox, error) {
	// The timeout turns "another dispatcher holds this file" into an error
	// instead of a hang.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening outbox %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(outboxBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("creating outbox bucket in %s: %w", path, err)
	}
	return &outbox{db: db}, nil
}

func (o *outbox) close() error { return o.db.Close() }

// item is one alert to add for one notifier.
type item struct {
	name string
	e    entry
}

// add appends one entry per item in a single transaction, so either all of
// them are queued or none is, for the cost of one fsync.
func (o *outbox) add(items []item) error {
	vals := make([][]byte, len(items))
	for i, it := range items {
		v, err := json.Marshal(it.e)
		if err != nil {
			return fmt.Errorf("encoding outbox entry: %w", err)
		}
		vals[i] = v
	}
	return o.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(outboxBucket)
		for i, it := range items {
			b, err := root.CreateBucketIfNotExists([]byte(it.name))
			if err != nil {
				return fmt.Errorf("creating outbox bucket %s: %w", it.name, err)
			}
			seq, err := b.NextSequence()
			if err != nil {
				return fmt.Errorf("numbering outbox entry for %s: %w", it.name, err)
			}
			if err := b.Put(seqKey(seq), vals[i]); err != nil {
				return fmt.Errorf("writing outbox entry for %s: %w", it.name, err)
			}
		}
		return nil
	})
}

// batch is what one send delivers: one entry, or every due entry of a group.
// keys[i] is the outbox key of entries[i]; entries[0] leads (it is the
// oldest, and carries the attempts).
type batch struct {
	keys    [][]byte
	entries []entry
}

// pick returns the next batch of a notifier at now: the oldest entry that is
// due, unless an older entry of the same alert is still waiting for its group
// (so an alert's messages never overtake each other), together with every
// other due entry of its group. next is the earliest Due still in the future,
// zero when none is. An entry that cannot be decoded where the batch would
// start is returned as bad with the error, for the caller to drop.
func (o *outbox) pick(name string, now time.Time) (b batch, next time.Time, bad []byte, err error) {
	err = o.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(outboxBucket).Bucket([]byte(name))
		if bk == nil {
			return nil
		}
		waiting := map[string]bool{} // fingerprints with an entry not yet due
		c := bk.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				if len(b.entries) == 0 {
					bad = append([]byte(nil), k...)
					return fmt.Errorf("decoding outbox entry %x of %s: %w", k, name, err)
				}
				continue // it will lead a batch of its own and be dropped then
			}
			fp := e.Alert.Fingerprint
			if e.Due.After(now) {
				if next.IsZero() || e.Due.Before(next) {
					next = e.Due
				}
				waiting[fp] = true
				continue
			}
			if waiting[fp] {
				continue
			}
			if len(b.entries) == 0 {
				b.keys, b.entries = append(b.keys, append([]byte(nil), k...)), append(b.entries, e)
				if e.Group == "" {
					return nil // ungrouped: nothing joins it
				}
				continue
			}
			if e.Group == b.entries[0].Group {
				b.keys, b.entries = append(b.keys, append([]byte(nil), k...)), append(b.entries, e)
			}
		}
		return nil
	})
	return b, next, bad, err
}

// groups returns, per notifier, the earliest Due of each group key with
// entries in the outbox, so a reopened Dispatcher adds new alerts to the
// batches that are still waiting.
func (o *outbox) groups() (map[string]map[string]time.Time, error) {
	out := map[string]map[string]time.Time{}
	err := o.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(outboxBucket)
		return root.ForEachBucket(func(name []byte) error {
			return root.Bucket(name).ForEach(func(_, v []byte) error {
				var e entry
				if json.Unmarshal(v, &e) != nil || e.Group == "" {
					return nil
				}
				m := out[string(name)]
				if m == nil {
					m = map[string]time.Time{}
					out[string(name)] = m
				}
				if d, ok := m[e.Group]; !ok || e.Due.Before(d) {
					m[e.Group] = e.Due
				}
				return nil
			})
		})
	})
	return out, err
}

// head returns the oldest entry of a notifier; ok is false when there is none.
func (o *outbox) head(name string) (key []byte, e entry, ok bool, err error) {
	err = o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket).Bucket([]byte(name))
		if b == nil {
			return nil
		}
		k, v := b.Cursor().First()
		if k == nil {
			return nil
		}
		key = append([]byte(nil), k...)
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decoding outbox entry %x of %s: %w", k, name, err)
		}
		ok = true
		return nil
	})
	return key, e, ok, err
}

// put rewrites an existing entry (to record an attempt).
func (o *outbox) put(name string, key []byte, e entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding outbox entry: %w", err)
	}
	return o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket).Bucket([]byte(name))
		if b == nil || b.Get(key) == nil {
			return nil
		}
		return b.Put(key, v)
	})
}

// remove deletes an entry and reports whether it was there.
func (o *outbox) remove(name string, key []byte) (bool, error) {
	var found bool
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket).Bucket([]byte(name))
		if b == nil || b.Get(key) == nil {
			return nil
		}
		found = true
		return b.Delete(key)
	})
	return found, err
}

// counts returns the number of entries per notifier name.
func (o *outbox) counts() (map[string]int, error) {
	n := map[string]int{}
	err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(outboxBucket).ForEachBucket(func(name []byte) error {
			c := tx.Bucket(outboxBucket).Bucket(name).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				n[string(name)]++
			}
			return nil
		})
	})
	return n, err
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}
