package state

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/internal/event"
)

// Bucket names inside the bbolt file. Alerts are JSON-encoded event.Alert
// values keyed by fingerprint; thresholds are 8-byte IEEE 754 big-endian
// floats keyed by name.
var (
	bucketAlerts     = []byte("alerts")
	bucketThresholds = []byte("thresholds")
)

// lockTimeout bounds how long OpenLocal waits for the file lock, so a second
// lookout on the same data directory fails with an error instead of hanging.
const lockTimeout = 2 * time.Second

// Local is a Store in an embedded bbolt file on local disk. Every Put, Delete
// and SetThreshold is its own fsync'd transaction, so it is durable when it
// returns. Local is safe for concurrent use; writes are serialised by bbolt.
type Local struct {
	db *bolt.DB

	// thresholds mirrors the thresholds bucket so Threshold, which rules call
	// on every evaluation, needs no disk transaction.
	mu         sync.RWMutex
	thresholds map[string]float64
	// m mirrors the silences and acknowledgements (local_mute.go); mu
	// guards it too.
	m mutes
}

// OpenLocal opens (creating it and its directory when missing) the bbolt file
// at path, e.g. <data>/state.db. Only one process may hold it at a time.
func OpenLocal(path string) (*Local, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating state directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, fmt.Errorf("opening state file %s: %w", path, err)
	}
	l := &Local{db: db, thresholds: make(map[string]float64)}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketAlerts); err != nil {
			return err
		}
		if err := l.loadMutes(tx); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketThresholds)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			f, err := decodeFloat(v)
			if err != nil {
				return fmt.Errorf("decoding threshold %q: %w", k, err)
			}
			l.thresholds[string(k)] = f
			return nil
		})
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("initialising state file %s: %w", path, err)
	}
	return l, nil
}

// Load returns every stored alert instance in fingerprint order.
func (l *Local) Load(ctx context.Context) ([]event.Alert, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []event.Alert
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decoding alert %s: %w", k, err)
			}
			a := r.Alert
			a.Value = math.NaN()
			if r.Value != nil {
				a.Value = *r.Value
			}
			// The key is the identity; trust it over the copy in the value.
			a.Fingerprint = string(k)
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("loading alert state: %w", err)
	}
	return out, nil
}

// Put stores a under its fingerprint and returns once the write is on disk.
func (l *Local) Put(ctx context.Context, a event.Alert) error {
	if a.Fingerprint == "" {
		return errors.New("putting alert state: empty fingerprint")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := record{Alert: a}
	if !math.IsNaN(a.Value) && !math.IsInf(a.Value, 0) {
		r.Value = &a.Value
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding alert %s: %w", a.Fingerprint, err)
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlerts).Put([]byte(a.Fingerprint), v)
	})
	if err != nil {
		return fmt.Errorf("putting alert %s: %w", a.Fingerprint, err)
	}
	return nil
}

// Delete removes the instance with the fingerprint, if there is one, and
// returns once the removal is on disk.
func (l *Local) Delete(ctx context.Context, fingerprint string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := l.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlerts).Delete([]byte(fingerprint))
	})
	if err != nil {
		return fmt.Errorf("deleting alert %s: %w", fingerprint, err)
	}
	return nil
}

// Thresholds returns a copy of every run-time threshold by name.
func (l *Local) Thresholds(ctx context.Context) (map[string]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make(map[string]float64, len(l.thresholds))
	for k, v := range l.thresholds {
		out[k] = v
	}
	return out, nil
}

// SetThreshold stores a run-time threshold durably. The name must not be empty
// and v must be a finite number: a NaN threshold would silently disable every
// rule comparing against it.
func (l *Local) SetThreshold(ctx context.Context, name string, v float64) error {
	if name == "" {
		return errors.New("setting threshold: empty name")
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("setting threshold %s: %v is not a finite number", name, v)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Hold the lock across the write so the cache never shows a value the
	// file does not have, nor misses one it does.
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThresholds).Put([]byte(name), encodeFloat(v))
	})
	if err != nil {
		return fmt.Errorf("setting threshold %s: %w", name, err)
	}
	l.thresholds[name] = v
	return nil
}

// DeleteThreshold removes a run-time threshold, so rules fall back to the
// default written in threshold("name", default). Removing an unknown name is
// not an error.
func (l *Local) DeleteThreshold(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThresholds).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("deleting threshold %s: %w", name, err)
	}
	delete(l.thresholds, name)
	return nil
}

// Threshold returns the run-time threshold called name and whether it is set.
// It reads an in-memory copy, so it is cheap enough to call on every rule
// evaluation; its signature fits rule.Options.Threshold.
func (l *Local) Threshold(name string) (float64, bool) {
	l.mu.RLock()
	v, ok := l.thresholds[name]
	l.mu.RUnlock()
	return v, ok
}

// Close closes the bbolt file and releases its lock.
func (l *Local) Close() error {
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("closing state file: %w", err)
	}
	return nil
}

// record is how an alert is written to disk. JSON has no NaN, and a firing
// alert's value can be one (e.g. `latency > 1 || errors > 5` with no latency
// samples), so Value is a pointer that is null for NaN and ±Inf and shadows
// the embedded Alert.Value.
type record struct {
	event.Alert
	Value *float64 `json:"value"`
}

func encodeFloat(v float64) []byte {
	return binary.BigEndian.AppendUint64(nil, math.Float64bits(v))
}

func decodeFloat(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("want 8 bytes, have %d", len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

var _ Store = (*Local)(nil)
