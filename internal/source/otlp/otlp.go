package otlp

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults and limits.
const (
	// DefaultMaxBodyBytes bounds a request body, after gunzip, when the
	// config does not say.
	DefaultMaxBodyBytes = 16 << 20
	// MaxRaw is how much of a request the raw ring and a rejected record
	// keep.
	MaxRaw = 64 << 10
	// Pattern is where the receiver is mounted, as the OTLP/HTTP
	// specification names it.
	Pattern = "POST /v1/metrics"
)

// The content types of OTLP/HTTP.
const (
	ContentTypeProtobuf = "application/x-protobuf"
	ContentTypeJSON     = "application/json"
)

// RetryAfter is what a 429 tells the exporter to wait, in seconds.
const RetryAfter = "1"

func init() {
	source.Register(source.Kind{Name: "otlp", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Config is the settings of an otlp source, besides name, type and
// preprocessing.
type Config struct {
	// MaxBodyBytes bounds a request body (after gunzip); larger ones get
	// 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Defaults sets max_body_bytes.
func (c *Config) Defaults() { c.MaxBodyBytes = DefaultMaxBodyBytes }

// Validate checks max_body_bytes and that no earlier source is an otlp one:
// OTLP/HTTP is received at fixed paths (/v1/metrics, ...) on lookout's own
// listener, so a second source could never get a request.
func (c *Config) Validate(v *config.Validator) {
	v.Positive("max_body_bytes", c.MaxBodyBytes <= 0)
	if name, j, ok := v.EarlierOfType(); ok {
		v.Errorf("type", "only one otlp source can receive on lookout's listener; %q (sources[%d]) already does", name, j)
	}
}

// Source is one OTLP/HTTP metrics receiver.
type Source struct {
	source.Listening // receives through Handler, on lookout's listener
	maxBody          int64
}

// New returns an otlp source for cfg.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	s := &Source{Listening: source.Listening{SourceName: cfg.Name, Deps: d}, maxBody: source.SettingsOf[Config](cfg).MaxBodyBytes}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	return s, nil
}

// Pattern returns where the app mounts the handler.
func (s *Source) Pattern() string { return Pattern }

// Handler serves POST /v1/metrics, handing each request's events to sink in
// one TrySubmit: a request is taken whole or, when lookout is full, not at
// all (429, and the exporter sends it again).
func (s *Source) Handler(sink source.Sink) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, sink)
	})
}

// httpError is a failed request: its status and the message for the client.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (s *Source) serve(w http.ResponseWriter, r *http.Request, sink source.Sink) {
	now := s.Deps.Clock.Now()
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != ContentTypeProtobuf && ct != ContentTypeJSON {
		// Without knowing the encoding there is no way to answer in it.
		http.Error(w, fmt.Sprintf("unsupported content type %q (want %s or %s)", ct, ContentTypeProtobuf, ContentTypeJSON), http.StatusUnsupportedMediaType)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{http.StatusBadRequest, err.Error()}
		}
		if he.status == http.StatusBadRequest {
			// The body could not be read as sent (a broken gzip stream):
			// keep what arrived, so nothing disappears unexplained.
			s.rejectBody(w, ct, body, he.msg, now, sink)
			return
		}
		s.writeStatus(w, ct, he.status, he.msg)
		return
	}

	req := &colmetricpb.ExportMetricsServiceRequest{}
	if ct == ContentTypeProtobuf {
		err = proto.Unmarshal(body, req)
	} else {
		err = jsonUnmarshal.Unmarshal(body, req)
	}
	if err != nil {
		s.rejectBody(w, ct, body, fmt.Sprintf("decoding the OTLP %s request: %v", encodingName(ct), err), now, sink)
		return
	}

	res := convert(req, s.SourceName, now)
	for _, e := range res.events {
		s.Deps.Pre.Apply(e, now)
	}
	b := event.Batch{Source: s.SourceName, Events: res.events}
	if len(b.Events) > 0 || len(res.rejected) > 0 {
		if err := sink.TrySubmit(b, res.rejected); err != nil {
			s.refuse(w, ct, err)
			return
		}
	}
	// The raw view shows the request as JSON; a JSON request already is.
	raw := body
	if ct == ContentTypeProtobuf {
		raw, _ = protojson.Marshal(req)
	}
	s.Deps.Raw.Add(now, raw[:min(len(raw), MaxRaw)])
	s.Deps.Health.Received(len(b.Events), len(body))
	if len(res.rejected) > 0 {
		s.Deps.Health.Rejected(len(res.rejected))
	}
	s.Deps.Health.Success()

	resp := &colmetricpb.ExportMetricsServiceResponse{}
	if len(res.rejected) > 0 {
		resp.PartialSuccess = &colmetricpb.ExportMetricsPartialSuccess{
			RejectedDataPoints: int64(len(res.rejected)),
			ErrorMessage:       res.rejected[0].Reason,
		}
		if len(res.rejected) > 1 {
			resp.PartialSuccess.ErrorMessage += fmt.Sprintf(" (and %d more)", len(res.rejected)-1)
		}
	}
	s.write(w, ct, http.StatusOK, resp)
}

// jsonUnmarshal ignores fields it does not know, so a newer exporter's
// additions do not make lookout refuse its data.
var jsonUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

func encodingName(ct string) string {
	if ct == ContentTypeJSON {
		return "JSON"
	}
	return "protobuf"
}

// readBody reads the body, gunzipping it when it says gzip, within the body
// limit on both the wire size and the decompressed size (a small gzip body
// can expand enormously). On a decoding error it returns what it read.
func (s *Source) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", s.maxBody)}
	if r.ContentLength > s.maxBody {
		return nil, tooLarge
	}
	wire, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("reading the request body: %v", err)}
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return wire, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return wire, fmt.Errorf("decompressing the gzip body: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(zr, s.maxBody+1))
		if err != nil {
			return wire, fmt.Errorf("decompressing the gzip body: %w", err)
		}
		if int64(len(body)) > s.maxBody {
			return nil, tooLarge
		}
		return body, nil
	default:
		return nil, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported content encoding %q (want gzip or none)", enc)}
	}
}

// rejectBody stores a body that could not be decoded in the rejected table
// and answers 400, the status OTLP exporters do not retry.
func (s *Source) rejectBody(w http.ResponseWriter, ct string, body []byte, reason string, now time.Time, sink source.Sink) {
	rej := []event.Rejected{{Time: now, Source: s.SourceName, Raw: body[:min(len(body), MaxRaw)], Reason: reason}}
	if err := sink.TrySubmit(event.Batch{Source: s.SourceName}, rej); err != nil {
		s.refuse(w, ct, err)
		return
	}
	s.Deps.Raw.Add(now, body[:min(len(body), MaxRaw)])
	s.Deps.Health.Received(0, len(body))
	s.Deps.Health.Rejected(1)
	s.writeStatus(w, ct, http.StatusBadRequest, reason)
}

// refuse answers a request the sink did not take: 429 with Retry-After when
// lookout is full (OTLP exporters retry it), 503 when it is stopping.
func (s *Source) refuse(w http.ResponseWriter, ct string, err error) {
	if errors.Is(err, source.ErrFull) {
		w.Header().Set("Retry-After", RetryAfter)
		s.writeStatus(w, ct, http.StatusTooManyRequests, "lookout is full; retry later")
		return
	}
	w.Header().Set("Retry-After", RetryAfter)
	s.writeStatus(w, ct, http.StatusServiceUnavailable, fmt.Sprintf("lookout cannot take data now: %v", err))
}

// writeStatus answers an error with a google.rpc.Status body in the
// request's encoding, as the OTLP/HTTP specification asks.
func (s *Source) writeStatus(w http.ResponseWriter, ct string, code int, msg string) {
	// Protobuf strings must be UTF-8, and a decoding error may quote the
	// broken input.
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	s.write(w, ct, code, &statuspb.Status{Code: grpcCode(code), Message: msg})
}

// grpcCode maps an HTTP status to the google.rpc.Code OTLP pairs it with.
func grpcCode(status int) int32 {
	switch status {
	case http.StatusBadRequest:
		return 3 // INVALID_ARGUMENT
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	case http.StatusUnsupportedMediaType:
		return 3
	}
	return 2 // UNKNOWN
}

func (s *Source) write(w http.ResponseWriter, ct string, code int, m proto.Message) {
	var body []byte
	var err error
	if ct == ContentTypeJSON {
		body, err = protojson.Marshal(m)
	} else {
		body, err = proto.Marshal(m)
	}
	if err != nil {
		s.Deps.Log.Error("encoding the OTLP response", "source", s.SourceName, "err", err)
		code, body = http.StatusInternalServerError, nil
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

var (
	_ source.Source   = (*Source)(nil)
	_ source.Receiver = (*Source)(nil)
)
