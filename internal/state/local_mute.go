package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the silences (JSON Silence by ID) and acknowledgements (JSON Ack
// by fingerprint).
var (
	bucketSilences = []byte("silences")
	bucketAcks     = []byte("acks")
)

// keepExpired is how long an expired silence stays listed (and stored), so
// people can see what was muted recently and re-create it.
const keepExpired = 24 * time.Hour

// mutes is Local's in-memory copy of the silences and acknowledgements, read on
// every notify decision; writes go to disk first, then here.
type mutes struct {
	silences map[string]Silence
	acks     map[string]Ack
}

// loadMutes reads both buckets into memory, creating them when missing.
func (l *Local) loadMutes(tx *bolt.Tx) error {
	l.m = mutes{silences: map[string]Silence{}, acks: map[string]Ack{}}
	sb, err := tx.CreateBucketIfNotExists(bucketSilences)
	if err != nil {
		return err
	}
	ab, err := tx.CreateBucketIfNotExists(bucketAcks)
	if err != nil {
		return err
	}
	err = sb.ForEach(func(k, v []byte) error {
		var s Silence
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decoding silence %s: %w", k, err)
		}
		for i := range s.Matchers {
			// A stored matcher compiled when it was put; one that no
			// longer does (never, short of a Go regexp change) just
			// never matches.
			_ = s.Matchers[i].Compile()
		}
		l.m.silences[s.ID] = s
		return nil
	})
	if err != nil {
		return err
	}
	return ab.ForEach(func(k, v []byte) error {
		var a Ack
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("decoding acknowledgement %s: %w", k, err)
		}
		l.m.acks[a.Fingerprint] = a
		return nil
	})
}

// Silences returns every stored silence in ID order, from memory.
func (l *Local) Silences(ctx context.Context) ([]Silence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Silence, 0, len(l.m.silences))
	for _, id := range slices.Sorted(maps.Keys(l.m.silences)) {
		out = append(out, l.m.silences[id])
	}
	return out, nil
}

// PutSilence validates and stores s, and forgets silences that had expired a
// day before s was created (or starts, whichever is later).
func (l *Local) PutSilence(ctx context.Context, s Silence) error {
	if strings.TrimSpace(s.ID) == "" {
		return errors.New("putting silence: empty id")
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("putting silence %s: %w", s.ID, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding silence %s: %w", s.ID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Expiry is judged on the new silence's clock (when it was made), not
	// this process's, so a caller on a test clock prunes consistently.
	cutoff := s.CreatedAt
	if s.StartsAt.After(cutoff) {
		cutoff = s.StartsAt
	}
	cutoff = cutoff.Add(-keepExpired)
	var stale []string
	for id, old := range l.m.silences {
		if id != s.ID && old.EndsAt.Before(cutoff) {
			stale = append(stale, id)
		}
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSilences)
		for _, id := range stale {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return b.Put([]byte(s.ID), v)
	})
	if err != nil {
		return fmt.Errorf("putting silence %s: %w", s.ID, err)
	}
	for _, id := range stale {
		delete(l.m.silences, id)
	}
	l.m.silences[s.ID] = s
	return nil
}

// DeleteSilence forgets a silence.
func (l *Local) DeleteSilence(ctx context.Context, id string) error {
	return l.deleteMute(ctx, bucketSilences, id, func() bool {
		_, ok := l.m.silences[id]
		delete(l.m.silences, id)
		return ok
	})
}

// Acks returns every stored acknowledgement in fingerprint order, from memory.
func (l *Local) Acks(ctx context.Context) ([]Ack, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Ack, 0, len(l.m.acks))
	for _, fp := range slices.Sorted(maps.Keys(l.m.acks)) {
		out = append(out, l.m.acks[fp])
	}
	return out, nil
}

// PutAck stores an acknowledgement, replacing the alert's previous one.
func (l *Local) PutAck(ctx context.Context, a Ack) error {
	if a.Fingerprint == "" {
		return errors.New("putting acknowledgement: empty fingerprint")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding acknowledgement of %s: %w", a.Fingerprint, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err = l.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAcks).Put([]byte(a.Fingerprint), v)
	})
	if err != nil {
		return fmt.Errorf("putting acknowledgement of %s: %w", a.Fingerprint, err)
	}
	l.m.acks[a.Fingerprint] = a
	return nil
}

// DeleteAck forgets the acknowledgement of an alert.
func (l *Local) DeleteAck(ctx context.Context, fingerprint string) error {
	return l.deleteMute(ctx, bucketAcks, fingerprint, func() bool {
		_, ok := l.m.acks[fingerprint]
		delete(l.m.acks, fingerprint)
		return ok
	})
}

// deleteMute deletes key from bucket on disk, then from memory through
// forget, which reports whether it was there.
func (l *Local) deleteMute(ctx context.Context, bucket []byte, key string, forget func() bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", bucket, key, err)
	}
	if !forget() {
		return fmt.Errorf("deleting %s %s: %w", bucket, key, ErrNotFound)
	}
	return nil
}

var _ Mutes = (*Local)(nil)
