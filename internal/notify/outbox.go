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

// item is one alert to add for some notifiers.
type item struct {
	names []string
	e     entry
}

// add appends one entry per item and name in a single transaction, so either
// all of them are queued or none is, for the cost of one fsync.
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
			for _, name := range it.names {
				b, err := root.CreateBucketIfNotExists([]byte(name))
				if err != nil {
					return fmt.Errorf("creating outbox bucket %s: %w", name, err)
				}
				seq, err := b.NextSequence()
				if err != nil {
					return fmt.Errorf("numbering outbox entry for %s: %w", name, err)
				}
				if err := b.Put(seqKey(seq), vals[i]); err != nil {
					return fmt.Errorf("writing outbox entry for %s: %w", name, err)
				}
			}
		}
		return nil
	})
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
