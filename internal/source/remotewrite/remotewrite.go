package remotewrite

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults and limits.
const (
	// DefaultMaxBodyBytes bounds a request body, compressed and
	// decompressed, when the config does not say.
	DefaultMaxBodyBytes = 32 << 20
	// MaxRaw is how much of a request the raw ring and a rejected record
	// keep.
	MaxRaw = 64 << 10
	// Pattern is where the receiver is mounted, the path Prometheus's own
	// receiver uses.
	Pattern = "POST /api/v1/write"
	// RetryAfter is what a 429 tells the sender to wait, in seconds.
	RetryAfter = "1"
)

// The protobuf messages a request may hold, as the Content-Type's proto
// parameter names them.
const (
	ProtoV1 = "prometheus.WriteRequest"
	ProtoV2 = "io.prometheus.write.v2.Request"
)

// The response headers of remote write 2.0: what the receiver wrote.
const (
	HeaderSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	HeaderHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	HeaderExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"
)

func init() {
	source.Register(source.Kind{Name: "remote_write", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Config is the settings of a remote_write source, besides name, type and
// preprocessing.
type Config struct {
	// MaxBodyBytes bounds a request body, both as sent and once
	// decompressed; larger ones get 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Ack says when a request is answered 204: AckQueued once lookout has
	// queued it for the windows, AckStored once the store has committed
	// it, so that a 204 survives a crash (the sender retries what was not
	// answered). Default AckQueued.
	Ack string `yaml:"ack"`
}

// The values of ack.
const (
	AckQueued = "queued"
	AckStored = "stored"
)

// Defaults sets max_body_bytes and ack.
func (c *Config) Defaults() { c.MaxBodyBytes, c.Ack = DefaultMaxBodyBytes, AckQueued }

// Validate checks max_body_bytes and that no earlier source is a
// remote_write one: the receiver has one fixed path on lookout's listener,
// so a second source could never get a request.
func (c *Config) Validate(v *config.Validator) {
	v.Positive("max_body_bytes", c.MaxBodyBytes <= 0)
	if c.Ack != AckQueued && c.Ack != AckStored {
		v.Errorf("ack", "ack must be %s or %s, not %q", AckQueued, AckStored, c.Ack)
	}
	if name, j, ok := v.EarlierOfType(); ok {
		v.Errorf("type", "only one remote_write source can receive on lookout's listener; %q (sources[%d]) already does", name, j)
	}
}

// Source is one remote write receiver.
type Source struct {
	source.Listening // receives through Handler, on lookout's listener
	maxBody          int64
	ackStored        bool
}

// New returns a remote_write source for cfg.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	set := source.SettingsOf[Config](cfg)
	s := &Source{Listening: source.Listening{SourceName: cfg.Name, Deps: d}, maxBody: set.MaxBodyBytes, ackStored: set.Ack == AckStored}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	return s, nil
}

// Pattern returns where the app mounts the handler.
func (s *Source) Pattern() string { return Pattern }

// Handler serves POST /api/v1/write, handing each request's events to sink
// in one TrySubmit.
func (s *Source) Handler(sink source.Sink) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, sink)
	})
}

// Written is what one request was turned into, the counts 2.0's response
// headers report.
type Written struct {
	Samples, Histograms, Exemplars int
}

func (s *Source) serve(w http.ResponseWriter, r *http.Request, sink source.Sink) {
	now := s.Deps.Clock.Now()
	proto, err := messageType(r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "snappy":
		// Remote write has one encoding, snappy's block format; a sender
		// that leaves the header out still uses it.
	default:
		http.Error(w, fmt.Sprintf("unsupported content encoding %q (remote write is snappy)", enc), http.StatusUnsupportedMediaType)
		return
	}
	tooLarge := fmt.Sprintf("request body larger than %d bytes", s.maxBody)
	if r.ContentLength > s.maxBody {
		http.Error(w, tooLarge, http.StatusRequestEntityTooLarge)
		return
	}
	wire, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, tooLarge, http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, fmt.Sprintf("reading the request body: %v", err), http.StatusBadRequest)
		return
	}
	// The decoded size is in the block's header: a small body claiming an
	// enormous one is refused before anything is allocated for it.
	if n, err := snappy.DecodedLen(wire); err == nil && int64(n) > s.maxBody {
		http.Error(w, fmt.Sprintf("request body decompresses to %d bytes, more than %d", n, s.maxBody), http.StatusRequestEntityTooLarge)
		return
	}
	body, err := snappy.Decode(nil, wire)
	if err != nil {
		s.rejectBody(w, wire, fmt.Sprintf("decompressing the snappy body: %v", err), now, sink)
		return
	}

	var res converted
	if proto == ProtoV2 {
		res, err = convertV2(body, s.SourceName, now)
	} else {
		res, err = convertV1(body, s.SourceName, now)
	}
	if err != nil {
		s.rejectBody(w, wire, err.Error(), now, sink)
		return
	}
	for _, e := range res.events {
		s.Deps.Pre.Apply(e, now)
	}
	b := event.Batch{Source: s.SourceName, Events: res.events}
	var stored chan error
	if s.ackStored {
		stored = make(chan error, 1)
		b.Stored = func(err error) { stored <- err }
	}
	if len(b.Events) > 0 || len(res.rejected) > 0 {
		if err := sink.TrySubmit(b, res.rejected); err != nil {
			s.refuse(w, err)
			return
		}
		if stored != nil {
			var err error
			select {
			case err = <-stored:
			case <-r.Context().Done():
				err = r.Context().Err()
			}
			if err != nil {
				// The samples may be in windows already; a retry can
				// count them twice, which is better than not at all.
				w.Header().Set("Retry-After", RetryAfter)
				http.Error(w, fmt.Sprintf("lookout took the request but could not store it: %v", err), http.StatusServiceUnavailable)
				return
			}
		}
	}
	if len(res.raw) > 0 {
		s.Deps.Raw.Add(now, res.raw)
	}
	s.Deps.Health.Received(len(b.Events), len(wire))
	if len(res.rejected) > 0 {
		s.Deps.Health.Rejected(len(res.rejected))
	}
	s.Deps.Health.Success()

	setWritten(w, res.written)
	if len(res.rejected) > 0 {
		// The rest was written; the sender must not retry the request
		// (4xx), and hears why part of it was not.
		msg := res.rejected[0].Reason
		if len(res.rejected) > 1 {
			msg += fmt.Sprintf(" (and %d more series)", len(res.rejected)-1)
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// messageType reads the Content-Type: application/x-protobuf, with a proto
// parameter naming 1.0's or 2.0's message (none is 1.0).
func messageType(ct string) (string, error) {
	if strings.TrimSpace(ct) == "" {
		return ProtoV1, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("parsing the content type %q: %w", ct, err)
	}
	if mt != "application/x-protobuf" {
		return "", fmt.Errorf("unsupported content type %q (want application/x-protobuf)", mt)
	}
	switch p := params["proto"]; p {
	case "", ProtoV1:
		return ProtoV1, nil
	case ProtoV2:
		return ProtoV2, nil
	default:
		return "", fmt.Errorf("unsupported remote write message %q (want %s or %s)", p, ProtoV1, ProtoV2)
	}
}

// setWritten sets 2.0's response headers. A 1.0 sender ignores them; a 2.0
// one reads a missing header as nothing written.
func setWritten(w http.ResponseWriter, n Written) {
	h := w.Header()
	h.Set(HeaderSamplesWritten, strconv.Itoa(n.Samples))
	h.Set(HeaderHistogramsWritten, strconv.Itoa(n.Histograms))
	h.Set(HeaderExemplarsWritten, strconv.Itoa(n.Exemplars))
}

// rejectBody stores a body that could not be decoded in the rejected table,
// as it was sent, and answers 400, which senders do not retry.
func (s *Source) rejectBody(w http.ResponseWriter, wire []byte, reason string, now time.Time, sink source.Sink) {
	raw := wire[:min(len(wire), MaxRaw)]
	rej := []event.Rejected{{Time: now, Source: s.SourceName, Raw: raw, Reason: reason}}
	if err := sink.TrySubmit(event.Batch{Source: s.SourceName}, rej); err != nil {
		s.refuse(w, err)
		return
	}
	s.Deps.Raw.Add(now, raw)
	s.Deps.Health.Received(0, len(wire))
	s.Deps.Health.Rejected(1)
	setWritten(w, Written{})
	http.Error(w, reason, http.StatusBadRequest)
}

// refuse answers a request the sink did not take: 429 with Retry-After when
// lookout is full, 503 when it is stopping; senders retry both.
func (s *Source) refuse(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", RetryAfter)
	if errors.Is(err, source.ErrFull) {
		http.Error(w, "lookout is full; retry later", http.StatusTooManyRequests)
		return
	}
	http.Error(w, fmt.Sprintf("lookout cannot take data now: %v", err), http.StatusServiceUnavailable)
}

var (
	_ source.Source   = (*Source)(nil)
	_ source.Receiver = (*Source)(nil)
)
