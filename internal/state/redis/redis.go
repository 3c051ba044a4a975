package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/state"
)

// Defaults of Options.
const (
	DefaultPrefix   = "lookout:"
	DefaultRefresh  = time.Second
	DefaultClaimTTL = 7 * 24 * time.Hour
)

// Options configure a Backend. Addr is required.
type Options struct {
	Addr     string
	Password string
	DB       int
	// KeyPrefix starts every key; "" means DefaultPrefix. Instances that
	// act as one share it; unrelated ones on the same Redis must not.
	KeyPrefix string
	// Refresh is how often thresholds, silences and acknowledgements are
	// read back from Redis (what other instances set), and how soon
	// writes that failed are retried; 0 means DefaultRefresh.
	Refresh time.Duration
	// ClaimTTL is how long a notification claim is kept; 0 means
	// DefaultClaimTTL. It bounds how long an instance may lag behind
	// another and still not notify twice.
	ClaimTTL time.Duration
	// Log receives connection problems; nil discards them.
	Log *slog.Logger
}

// Backend is a state.Backend in Redis, shared by every lookout with the same
// address, database and key prefix. It is safe for concurrent use.
type Backend struct {
	rdb  *goredis.Client
	opts Options
	log  *slog.Logger

	mu sync.RWMutex
	// own holds the alert instances this process wrote (encoded) and
	// dirty the fingerprints whose last write or delete did not reach
	// Redis: they are written again by the refresh loop.
	own   map[string][]byte
	dirty map[string]bool
	// thresholds, silences and acks mirror their hashes; gen counts local
	// writes so a refresh read before one does not overwrite it.
	thresholds map[string]float64
	silences   map[string]state.Silence
	acks       map[string]state.Ack
	gen        uint64
	claims     map[string]claimEntry
	down       bool // the last refresh failed; logged once per outage

	stop chan struct{}
	done chan struct{}
}

// Open connects to Redis, reads the shared state into memory and starts the
// refresh loop. It fails when Redis cannot be reached: a lookout that starts
// without its shared state would notify what others already have.
func Open(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Addr == "" {
		return nil, errors.New("opening redis state: no address")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultPrefix
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = DefaultClaimTTL
	}
	b := &Backend{
		opts: opts,
		log:  opts.Log,
		// Short timeouts: state writes happen as windows are judged, and
		// a Redis that is away must cost a window little before the write
		// is left to the refresh loop.
		rdb: goredis.NewClient(&goredis.Options{
			Addr: opts.Addr, Password: opts.Password, DB: opts.DB,
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
			MaxRetries: 1, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
		}),
		own:        map[string][]byte{},
		dirty:      map[string]bool{},
		thresholds: map[string]float64{},
		silences:   map[string]state.Silence{},
		acks:       map[string]state.Ack{},
		claims:     map[string]claimEntry{},
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if err := b.refresh(ctx); err != nil {
		_ = b.rdb.Close()
		return nil, fmt.Errorf("opening redis state at %s: %w", opts.Addr, err)
	}
	go b.loop()
	return b, nil
}

func (b *Backend) key(name string) string { return b.opts.KeyPrefix + name }

// loop refreshes the mirrors every Refresh until Close.
func (b *Backend) loop() {
	defer close(b.done)
	t := time.NewTicker(b.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := b.refresh(ctx)
		cancel()
		b.mu.Lock()
		was := b.down
		b.down = err != nil
		b.mu.Unlock()
		switch {
		case err != nil && !was:
			b.log.Warn("redis state unreachable; serving from memory", "err", err, "addr", b.opts.Addr)
		case err == nil && was:
			b.log.Info("redis state reachable again", "addr", b.opts.Addr)
		}
	}
}

// refresh reads the shared hashes in one transaction. When the epoch key is
// missing, Redis has lost lookout's data (or never had it): this instance
// writes back what it holds, then sets the epoch and reads again. Failed
// alert writes are retried here.
func (b *Backend) refresh(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		b.mu.RLock()
		gen := b.gen
		b.mu.RUnlock()
		var (
			epoch         *goredis.IntCmd
			thr, sil, ack *goredis.MapStringStringCmd
		)
		_, err := b.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			epoch = p.Exists(ctx, b.key("epoch"))
			thr = p.HGetAll(ctx, b.key("thresholds"))
			sil = p.HGetAll(ctx, b.key("silences"))
			ack = p.HGetAll(ctx, b.key("acks"))
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading shared state: %w", err)
		}
		if epoch.Val() == 0 {
			if attempt > 0 {
				return errors.New("reading shared state: the epoch key vanished twice in a row")
			}
			if err := b.restore(ctx); err != nil {
				return err
			}
			continue
		}
		b.apply(gen, thr.Val(), sil.Val(), ack.Val())
		return b.flush(ctx)
	}
}

// restore writes what this instance holds into a Redis that lost it, without
// overwriting what another instance wrote first (HSETNX, SET NX).
func (b *Backend) restore(ctx context.Context) error {
	b.mu.RLock()
	own := make(map[string]any, len(b.own))
	for fp, v := range b.own {
		own[fp] = v
	}
	thr := make(map[string]any, len(b.thresholds))
	for k, v := range b.thresholds {
		thr[k] = formatFloat(v)
	}
	sil := make(map[string]any, len(b.silences))
	for id, s := range b.silences {
		sil[id] = mustJSON(s)
	}
	ack := make(map[string]any, len(b.acks))
	for fp, a := range b.acks {
		ack[fp] = mustJSON(a)
	}
	claims := make(map[string]claimEntry, len(b.claims))
	now := time.Now()
	for fp, c := range b.claims {
		if c.expires.After(now) {
			claims[fp] = c
		}
	}
	b.mu.RUnlock()
	n := len(own) + len(thr) + len(sil) + len(ack) + len(claims)
	_, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for hash, m := range map[string]map[string]any{"alerts": own, "thresholds": thr, "silences": sil, "acks": ack} {
			for f, v := range m {
				p.HSetNX(ctx, b.key(hash), f, v)
			}
		}
		for fp, c := range claims {
			p.SetNX(ctx, b.key("claim:"+fp), c.val, time.Until(c.expires))
		}
		p.Set(ctx, b.key("epoch"), time.Now().UTC().Format(time.RFC3339), 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("restoring shared state: %w", err)
	}
	if n > 0 {
		b.log.Warn("redis had lost lookout's state; wrote back this instance's copy", "addr", b.opts.Addr, "entries", n)
	}
	return nil
}

// apply replaces the mirrors with what Redis holds, unless a local write
// happened since the read began (the next refresh picks both up).
func (b *Backend) apply(gen uint64, thr, sil, ack map[string]string) {
	ths := make(map[string]float64, len(thr))
	for k, v := range thr {
		if f, err := parseFloat(v); err == nil {
			ths[k] = f
		}
	}
	sils := make(map[string]state.Silence, len(sil))
	for id, v := range sil {
		if s, err := decodeSilence(v); err == nil {
			sils[id] = s
		}
	}
	acks := make(map[string]state.Ack, len(ack))
	for fp, v := range ack {
		if a, err := decodeAck(v); err == nil {
			acks[fp] = a
		}
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for fp, c := range b.claims {
		if !c.expires.After(now) {
			delete(b.claims, fp)
		}
	}
	if b.gen != gen {
		return
	}
	b.thresholds, b.silences, b.acks = ths, sils, acks
}

// flush writes again the alert changes that did not reach Redis.
func (b *Backend) flush(ctx context.Context) error {
	b.mu.Lock()
	if len(b.dirty) == 0 {
		b.mu.Unlock()
		return nil
	}
	set, del := map[string]any{}, []string{}
	for fp := range b.dirty {
		if v, ok := b.own[fp]; ok {
			set[fp] = v
		} else {
			del = append(del, fp)
		}
	}
	b.dirty = map[string]bool{}
	b.mu.Unlock()
	_, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		if len(set) > 0 {
			p.HSet(ctx, b.key("alerts"), set)
		}
		if len(del) > 0 {
			p.HDel(ctx, b.key("alerts"), del...)
		}
		return nil
	})
	if err != nil {
		b.mu.Lock()
		for fp := range set {
			b.dirty[fp] = true
		}
		for _, fp := range del {
			b.dirty[fp] = true
		}
		b.mu.Unlock()
		return fmt.Errorf("writing back alert state: %w", err)
	}
	return nil
}

// Close stops the refresh loop and closes the connections.
func (b *Backend) Close() error {
	close(b.stop)
	<-b.done
	if err := b.rdb.Close(); err != nil {
		return fmt.Errorf("closing redis state: %w", err)
	}
	return nil
}

var _ state.Backend = (*Backend)(nil)
