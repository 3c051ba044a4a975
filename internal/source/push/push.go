package push

import (
	"bytes"
	"context"
	"fmt"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/preprocess"
	"github.com/lookout-dev/lookout/internal/source"
)

func init() {
	source.Register(source.Kind{Name: "push", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Config is the settings of a push source: none beyond name, type and
// preprocessing, so any other key is an error.
type Config struct{}

// Defaults does nothing: there are no keys.
func (*Config) Defaults() {}

// Validate does nothing: there are no keys.
func (*Config) Validate(*config.Validator) {}

// Source is one push source.
type Source struct {
	source.Listening // receives through Ingest, called by the API
	// rawKeep is the size of the raw ring: of a body's messages only the
	// last rawKeep would survive in it, so only those are added.
	rawKeep int
}

// Result is what the API answers for one body (CONTRACT.md
// POST /api/v1/events).
type Result = event.PushResult

// LineError is why one message of a body was rejected.
type LineError = event.LineError

// New returns a push source for cfg.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	keep := cfg.RawBuffer
	if keep <= 0 {
		keep = source.DefaultRawBuffer
	}
	return &Source{Listening: source.Listening{SourceName: cfg.Name, Deps: d}, rawKeep: keep}, nil
}

// Ingest decodes one request body: NDJSON (one JSON object per line, blank
// lines ignored, \r\n accepted) or a JSON array of objects (first non-space
// byte '['). Messages that cannot be parsed become event.Rejected with the
// reason and a LineError; a body that is neither NDJSON nor an array gives one
// LineError for line 1.
//
// Everything goes to sink.TrySubmit in one call, so a body is taken whole or
// not at all: when the sink is full Ingest returns source.ErrFull unchanged
// (the API answers 429 with Retry-After) and nothing of the body is kept,
// not even in the raw ring. Ingest is safe for concurrent use; body is
// referenced by the events (their Raw) and must not be modified afterwards.
//
// The events of one body are allocated together, in one slice, which saves
// an allocation per event; they therefore stay in memory together until the
// last of them is no longer referenced (by the windows' acknowledgement
// tracking or the store's queue), which is no longer than the body's own
// bytes, which every event's Raw references anyway.
func (s *Source) Ingest(body []byte, sink source.Sink) (Result, error) {
	return s.ingest(body, sink, nil)
}

// ErrNotStored wraps the store's error when IngestStored's batch was
// accepted but could not be stored.
var ErrNotStored = event.ErrNotStored

// IngestStored is Ingest that returns only once the store has committed
// what the body held (or ctx is done): a nil error then means the events
// are durable and a restart will count them in their windows. When the
// store fails, the events may already be in windows, so a client that
// retries may count them twice.
func (s *Source) IngestStored(ctx context.Context, body []byte, sink source.Sink) (Result, error) {
	done := make(chan error, 1)
	res, err := s.ingest(body, sink, func(err error) { done <- err })
	if err != nil || res.Accepted+res.Rejected == 0 {
		return res, err
	}
	select {
	case err := <-done:
		if err != nil {
			return res, fmt.Errorf("%w: %w", ErrNotStored, err)
		}
		return res, nil
	case <-ctx.Done():
		return res, ctx.Err()
	}
}

func (s *Source) ingest(body []byte, sink source.Sink, stored func(error)) (Result, error) {
	now := s.Deps.Clock.Now()
	res := Result{Errors: []LineError{}}
	batch := event.Batch{Source: s.SourceName, Stored: stored}
	var rejected []event.Rejected
	var msgs [][]byte
	var slab []event.Event
	dec := s.Deps.Pre.Decoder()
	defer dec.Release()

	take := func(line int, msg []byte) {
		msgs = append(msgs, msg)
		if len(slab) == cap(slab) {
			// Only when the count below was short; events already
			// handed out keep pointing into the old slice.
			slab = make([]event.Event, 0, max(16, cap(slab)))
		}
		slab = slab[:len(slab)+1]
		e := &slab[len(slab)-1]
		if err := dec.Decode(msg, now, e); err != nil {
			slab = slab[:len(slab)-1]
			res.Errors = append(res.Errors, LineError{Line: line, Error: err.Error()})
			rejected = append(rejected, event.Rejected{Time: now, Source: s.SourceName, Raw: msg, Reason: err.Error()})
			return
		}
		batch.Events = append(batch.Events, e)
	}

	if preprocess.IsArray(body) {
		elems, err := preprocess.SplitArray(body)
		if err != nil {
			msgs = append(msgs, body)
			reason := fmt.Sprintf("neither NDJSON nor a JSON array: %v", err)
			res.Errors = append(res.Errors, LineError{Line: 1, Error: reason})
			rejected = append(rejected, event.Rejected{Time: now, Source: s.SourceName, Raw: body, Reason: reason})
		}
		slab = make([]event.Event, 0, len(elems))
		msgs = append(make([][]byte, 0, len(elems)+len(msgs)), msgs...)
		batch.Events = make([]*event.Event, 0, len(elems))
		for i, el := range elems {
			take(i+1, el)
		}
	} else {
		n := bytes.Count(body, []byte{'\n'}) + 1 // at least the number of messages
		slab = make([]event.Event, 0, n)
		msgs = make([][]byte, 0, n)
		batch.Events = make([]*event.Event, 0, n)
		preprocess.Lines(body, take)
	}
	res.Accepted, res.Rejected = len(batch.Events), len(rejected)
	if res.Accepted == 0 && res.Rejected == 0 {
		// Nothing to store, but the caller should hear why nothing was
		// accepted.
		res.Errors = append(res.Errors, LineError{Line: 1, Error: "empty body"})
		return res, nil
	}

	if err := sink.TrySubmit(batch, rejected); err != nil {
		// Nothing was kept, so the counts must say so too.
		return Result{}, err
	}
	for _, m := range msgs[max(0, len(msgs)-s.rawKeep):] {
		s.Deps.Raw.Add(now, m)
	}
	s.Deps.Health.Received(res.Accepted, len(body))
	if res.Rejected > 0 {
		s.Deps.Health.Rejected(res.Rejected)
	}
	if res.Accepted > 0 {
		s.Deps.Health.Success()
	}
	return res, nil
}

var _ source.Source = (*Source)(nil)
