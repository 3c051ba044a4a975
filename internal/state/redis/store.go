package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

// keepExpired is how long an expired silence stays stored, as in state.Local.
const keepExpired = 24 * time.Hour

// Load returns every alert instance in Redis, in fingerprint order: those of
// every instance sharing the prefix, so one that takes over a group's
// partition knows the group's alerts.
func (b *Backend) Load(ctx context.Context) ([]event.Alert, error) {
	m, err := b.rdb.HGetAll(ctx, b.key("alerts")).Result()
	if err != nil {
		return nil, fmt.Errorf("loading alert state: %w", err)
	}
	out := make([]event.Alert, 0, len(m))
	for _, fp := range slices.Sorted(maps.Keys(m)) {
		a, err := state.DecodeAlert(fp, []byte(m[fp]))
		if err != nil {
			return nil, fmt.Errorf("loading alert state: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Put stores a under its fingerprint. When Redis cannot be reached it returns
// the error and keeps the instance, to write it once Redis answers.
func (b *Backend) Put(ctx context.Context, a event.Alert) error {
	if a.Fingerprint == "" {
		return errors.New("putting alert state: empty fingerprint")
	}
	v, err := state.EncodeAlert(a)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.own[a.Fingerprint] = v
	b.mu.Unlock()
	if err := b.rdb.HSet(ctx, b.key("alerts"), a.Fingerprint, v).Err(); err != nil {
		b.markDirty(a.Fingerprint)
		return fmt.Errorf("putting alert %s: %w", a.Fingerprint, err)
	}
	return nil
}

// Delete forgets the instance, here and in Redis, like Put when Redis cannot
// be reached.
func (b *Backend) Delete(ctx context.Context, fingerprint string) error {
	b.mu.Lock()
	delete(b.own, fingerprint)
	b.mu.Unlock()
	if err := b.rdb.HDel(ctx, b.key("alerts"), fingerprint).Err(); err != nil {
		b.markDirty(fingerprint)
		return fmt.Errorf("deleting alert %s: %w", fingerprint, err)
	}
	return nil
}

func (b *Backend) markDirty(fp string) {
	b.mu.Lock()
	b.dirty[fp] = true
	b.mu.Unlock()
}

// Thresholds returns a copy of the thresholds as last read or written.
func (b *Backend) Thresholds(ctx context.Context) (map[string]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return maps.Clone(b.thresholds), nil
}

// SetThreshold stores a finite threshold in Redis, then in memory: an error
// means it was not set anywhere.
func (b *Backend) SetThreshold(ctx context.Context, name string, v float64) error {
	if name == "" {
		return errors.New("setting threshold: empty name")
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("setting threshold %s: %v is not a finite number", name, v)
	}
	if err := b.rdb.HSet(ctx, b.key("thresholds"), name, formatFloat(v)).Err(); err != nil {
		return fmt.Errorf("setting threshold %s: %w", name, err)
	}
	b.mu.Lock()
	b.thresholds[name] = v
	b.gen++
	b.mu.Unlock()
	return nil
}

// DeleteThreshold removes a threshold; an unknown name is not an error.
func (b *Backend) DeleteThreshold(ctx context.Context, name string) error {
	if err := b.rdb.HDel(ctx, b.key("thresholds"), name).Err(); err != nil {
		return fmt.Errorf("deleting threshold %s: %w", name, err)
	}
	b.mu.Lock()
	delete(b.thresholds, name)
	b.gen++
	b.mu.Unlock()
	return nil
}

// Threshold reads the in-memory copy; its signature fits
// rule.Options.Threshold.
func (b *Backend) Threshold(name string) (float64, bool) {
	b.mu.RLock()
	v, ok := b.thresholds[name]
	b.mu.RUnlock()
	return v, ok
}

// Silences returns the silences as last read or written, in ID order.
func (b *Backend) Silences(ctx context.Context) ([]state.Silence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]state.Silence, 0, len(b.silences))
	for _, id := range slices.Sorted(maps.Keys(b.silences)) {
		out = append(out, b.silences[id])
	}
	return out, nil
}

// PutSilence validates and stores s, and forgets silences that expired more
// than a day ago.
func (b *Backend) PutSilence(ctx context.Context, s state.Silence) error {
	if strings.TrimSpace(s.ID) == "" {
		return errors.New("putting silence: empty id")
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("putting silence %s: %w", s.ID, err)
	}
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding silence %s: %w", s.ID, err)
	}
	cutoff := time.Now().Add(-keepExpired)
	var stale []string
	b.mu.RLock()
	for id, old := range b.silences {
		if id != s.ID && old.EndsAt.Before(cutoff) {
			stale = append(stale, id)
		}
	}
	b.mu.RUnlock()
	_, err = b.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		if len(stale) > 0 {
			p.HDel(ctx, b.key("silences"), stale...)
		}
		p.HSet(ctx, b.key("silences"), s.ID, v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("putting silence %s: %w", s.ID, err)
	}
	b.mu.Lock()
	for _, id := range stale {
		delete(b.silences, id)
	}
	b.silences[s.ID] = s
	b.gen++
	b.mu.Unlock()
	return nil
}

// DeleteSilence forgets a silence; state.ErrNotFound when Redis has none.
func (b *Backend) DeleteSilence(ctx context.Context, id string) error {
	return b.deleteField(ctx, "silences", id, func() { delete(b.silences, id) })
}

// Acks returns the acknowledgements as last read or written, in fingerprint
// order.
func (b *Backend) Acks(ctx context.Context) ([]state.Ack, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]state.Ack, 0, len(b.acks))
	for _, fp := range slices.Sorted(maps.Keys(b.acks)) {
		out = append(out, b.acks[fp])
	}
	return out, nil
}

// PutAck stores an acknowledgement, replacing the alert's previous one.
func (b *Backend) PutAck(ctx context.Context, a state.Ack) error {
	if a.Fingerprint == "" {
		return errors.New("putting acknowledgement: empty fingerprint")
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding acknowledgement of %s: %w", a.Fingerprint, err)
	}
	if err := b.rdb.HSet(ctx, b.key("acks"), a.Fingerprint, v).Err(); err != nil {
		return fmt.Errorf("putting acknowledgement of %s: %w", a.Fingerprint, err)
	}
	b.mu.Lock()
	b.acks[a.Fingerprint] = a
	b.gen++
	b.mu.Unlock()
	return nil
}

// DeleteAck forgets the acknowledgement of an alert; state.ErrNotFound when
// Redis has none.
func (b *Backend) DeleteAck(ctx context.Context, fingerprint string) error {
	return b.deleteField(ctx, "acks", fingerprint, func() { delete(b.acks, fingerprint) })
}

// deleteField deletes field from hash; HDEL's count tells whether it was
// there, atomically, whichever instance asks.
func (b *Backend) deleteField(ctx context.Context, hash, field string, forget func()) error {
	n, err := b.rdb.HDel(ctx, b.key(hash), field).Result()
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", hash, field, err)
	}
	b.mu.Lock()
	forget()
	b.gen++
	b.mu.Unlock()
	if n == 0 {
		return fmt.Errorf("deleting %s %s: %w", hash, field, state.ErrNotFound)
	}
	return nil
}

func decodeSilence(v string) (state.Silence, error) {
	var s state.Silence
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return s, err
	}
	for i := range s.Matchers {
		// Compiled when put; one that no longer compiles never matches.
		_ = s.Matchers[i].Compile()
	}
	return s, nil
}

func decodeAck(v string) (state.Ack, error) {
	var a state.Ack
	err := json.Unmarshal([]byte(v), &a)
	return a, err
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v) // Silence and Ack always marshal
	return b
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
