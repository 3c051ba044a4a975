package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/push"
	"github.com/lookout-dev/lookout/internal/store"
)

// Errors the Backend returns that the API turns into status codes.
var (
	// ErrUnknownSource: the named source does not exist or is not a push source (404).
	ErrUnknownSource = errors.New("unknown push source")
	// ErrNotFound: the named thing does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrBadRequest wraps input errors the caller can fix (400).
	ErrBadRequest = errors.New("bad request")
)

// Backend is everything the API reads and changes. Implementations are safe for
// concurrent use.
type Backend interface {
	// Ingest hands a push body to the named push source. source.ErrFull means
	// the pipeline is full and the client should retry later.
	// Ingest hands a push body to the named source; with waitStored it
	// returns only once the store has committed it (wait=stored).
	Ingest(ctx context.Context, sourceName string, body []byte, waitStored bool) (push.Result, error)
	Windows(ctx context.Context, q store.WindowQuery) ([]event.Window, error)
	ActiveAlerts() []event.Alert
	History(ctx context.Context, limit int) ([]event.Transition, error)
	Raw(sourceName string, n int) ([]source.RawMessage, error)
	Sources() []source.HealthSnapshot
	Query(ctx context.Context, sql string) (*store.Result, error)
	// QueryStream runs sql like Query, handing the rows to emit as they are
	// read (store.Store.Stream).
	QueryStream(ctx context.Context, sql string, maxBytes int64, begin func(cols, types []string) error, emit func(row []any) (bool, error)) (truncated bool, err error)
	Thresholds(ctx context.Context) (map[string]float64, error)
	SetThreshold(ctx context.Context, name string, v float64) error
	// Reload applies the config file again and returns what changed; an
	// invalid file is refused (the error lists its FILE:LINE problems).
	Reload(ctx context.Context) ([]string, error)
	// Ready reports whether lookout is ready to take traffic, and why not.
	Ready() (bool, string)
	// Alerting: silences, acknowledgements, filtered history (silences.go).
	Alerting
}

// Scope is what a token may do.
type Scope string

// The scopes of CONTRACT.md.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
)

// Token is one API token.
type Token struct {
	Name   string
	Secret string
	Scopes []Scope
}

// Options configures the API server.
type Options struct {
	Backend      Backend
	Tokens       []Token // none: every call is allowed
	MaxBodyBytes int64
	Metrics      http.Handler // serves /metrics
	Static       http.Handler // serves the dashboard at /
	Feed         *Feed
	Log          *slog.Logger
	// RetryAfter is the Retry-After the push API sends when the pipeline is full.
	RetryAfter time.Duration
	// Receivers are extra ingest endpoints (ServeMux pattern → handler) of
	// sources fed over this listener, e.g. OTLP/HTTP; they need the write scope.
	Receivers map[string]http.Handler
	// RateLimit is requests a second per client (0: none), Burst at once.
	RateLimit float64
	Burst     int
	// Now is the clock of the rate limiter (nil: the wall clock).
	Now func() time.Time
	// TraceURL is config server.trace_url: the link of an exemplar's trace,
	// {trace_id} replaced (empty: exemplars carry no url).
	TraceURL string
	// Listen is the listen address (config server.listen); its host is an
	// allowed Host of requests (guard.go).
	Listen string
	// QueryMaxBytes caps the JSON of a /api/v1/query answer's rows (config
	// query.max_bytes; 0: DefaultQueryMaxBytes); QueryTimeout is the store's query
	// deadline, which covers sending the answer too (0: 10 s).
	QueryMaxBytes int64
	QueryTimeout  time.Duration
	// AllowedHosts are config server.allowed_hosts: more Host names to
	// serve besides IP addresses, localhost and the listen host; "*" any.
	AllowedHosts []string
}

// Server is the API's http.Handler.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	limiter *limiter
	guard   *guard   // in front of mux
	failed  *limiter // failed token attempts per client address (authlimit.go)
}

// New returns the API handler.
func New(opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.QueryMaxBytes <= 0 {
		opts.QueryMaxBytes = DefaultQueryMaxBytes
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = store.DefaultQueryTimeout
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), limiter: newLimiter(opts.RateLimit, opts.Burst, opts.Now)}
	s.routes()
	s.guard = newGuard(s.mux, opts)
	s.failed = newLimiter(failRate, failBurst, opts.Now)
	return s
}

func (s *Server) routes() {
	h := func(pattern string, scope Scope, fn http.HandlerFunc) {
		s.mux.Handle(pattern, s.auth(scope, fn))
	}
	h("POST /api/v1/events", ScopeWrite, s.postEvents)
	h("GET /api/v1/windows", ScopeRead, s.getWindows)
	h("GET /api/v1/alerts", ScopeRead, s.getAlerts)
	h("GET /api/v1/alerts/history", ScopeRead, s.getHistory)
	h("POST /api/v1/alerts/{fingerprint}/ack", ScopeAdmin, s.postAck)
	h("DELETE /api/v1/alerts/{fingerprint}/ack", ScopeAdmin, s.deleteAck)
	h("GET /api/v1/silences", ScopeAdmin, s.getSilences) // CONTRACT.md: silences are admin, listing included
	h("POST /api/v1/silences", ScopeAdmin, s.postSilence)
	h("DELETE /api/v1/silences/{id}", ScopeAdmin, s.deleteSilence)
	h("GET /api/v1/raw", ScopeRead, s.getRaw)
	h("GET /api/v1/sources", ScopeRead, s.getSources)
	h("POST /api/v1/query", ScopeRead, s.postQuery)
	h("GET /api/v1/thresholds", ScopeRead, s.getThresholds)
	h("PUT /api/v1/thresholds/{name}", ScopeAdmin, s.putThreshold)
	h("POST /api/v1/reload", ScopeAdmin, s.postReload)
	h("GET /api/v1/stream", ScopeRead, s.getStream)
	for pattern, handler := range s.opts.Receivers {
		h(pattern, ScopeWrite, handler.ServeHTTP)
	}
	if s.opts.Metrics != nil {
		h("GET /metrics", ScopeRead, s.opts.Metrics.ServeHTTP)
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := s.opts.Backend.Ready(); !ok {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": why})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if s.opts.Static != nil {
		// The dashboard's files are public; the data it loads needs a token.
		s.mux.Handle("GET /", s.opts.Static)
	}
	s.mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.guard.ServeHTTP(w, r) }

// auth checks the bearer token and its scope. admin implies read and write;
// write does not imply read.
func (s *Server) auth(need Scope, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.opts.Tokens) == 0 {
			if s.limit(clientAddr(r), w) {
				next(w, r)
			}
			return
		}
		if s.tooManyFailures(w, r) {
			return
		}
		got, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok && r.Method == http.MethodGet && r.URL.Path == "/api/v1/stream" {
			// A browser's EventSource cannot send headers: the live feed also
			// takes the token as ?access_token= (RFC 6750 §2.3).
			got, ok = r.URL.Query().Get("access_token"), true
		}
		if !ok || got == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lookout"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		var tok *Token
		for i := range s.opts.Tokens {
			// Compare every token in constant time so timing tells nothing.
			if subtle.ConstantTimeCompare([]byte(s.opts.Tokens[i].Secret), []byte(got)) == 1 {
				tok = &s.opts.Tokens[i]
			}
		}
		if tok == nil {
			s.failed.allow(clientAddr(r))
			w.Header().Set("WWW-Authenticate", `Bearer realm="lookout", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		for _, sc := range tok.Scopes {
			if sc == need || sc == ScopeAdmin {
				if s.limit("token "+tok.Name, w) {
					next(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok.Name)))
				}
				return
			}
		}
		writeError(w, http.StatusForbidden, "token "+tok.Name+" lacks scope "+string(need))
	})
}

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("source")
	if name == "" {
		name = "push"
	}
	// wait=stored: answer once the events are committed to the store, so
	// that a 200 survives a crash of lookout (the default answers once
	// they are queued for the windows and the store).
	var waitStored bool
	switch wait := r.URL.Query().Get("wait"); wait {
	case "":
	case "stored":
		waitStored = true
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("wait=%q: the only wait is stored", wait))
		return
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
			return
		}
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	res, err := s.opts.Backend.Ingest(r.Context(), name, body, waitStored)
	switch {
	case errors.Is(err, source.ErrFull):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.opts.RetryAfter.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "pipeline full, retry later")
		return
	case errors.Is(err, ErrUnknownSource):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, push.ErrNotStored):
		// The events may already be in windows: a retry can count them
		// twice (docs: wait=stored).
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.opts.RetryAfter.Seconds()))))
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if res.Errors == nil {
		res.Errors = []push.LineError{}
	}
	status := http.StatusOK
	if res.Accepted == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, res)
}

// WindowJSON is a window result as the API shows it (CONTRACT.md "Events").
type WindowJSON struct {
	Pipeline string              `json:"pipeline"`
	Start    string              `json:"start"`
	End      string              `json:"end"`
	Group    map[string]string   `json:"group"`
	Values   map[string]*float64 `json:"values"`
	Count    int64               `json:"count"`
	Late     int64               `json:"late"`
	// Future counts the group's events stamped beyond max_future, counted
	// here instead of in a window of their own.
	Future int64 `json:"future"`
	// Exemplars are left out when the window has none.
	Exemplars []ExemplarJSON `json:"exemplars,omitempty"`
}

// ExemplarJSON is one exemplar of a window: the traced event behind an
// aggregate's value, and the link to its trace when server.trace_url is set.
type ExemplarJSON struct {
	Aggregate string  `json:"aggregate"`
	Value     float64 `json:"value"`
	TraceID   string  `json:"trace_id"`
	Time      string  `json:"ts"`
	URL       string  `json:"url,omitempty"`
}

// TraceURL fills the {trace_id} placeholder of a server.trace_url template;
// it returns "" when the template is empty. The id is path-escaped, though a
// valid one is plain hex.
func TraceURL(template, traceID string) string {
	if template == "" || traceID == "" {
		return ""
	}
	return strings.ReplaceAll(template, "{trace_id}", url.PathEscape(traceID))
}

// LinkTraces returns j with each exemplar's url filled from template
// (server.trace_url); the live feed's windows need it as /api/v1/windows does.
func (j WindowJSON) LinkTraces(template string) WindowJSON {
	if template == "" || len(j.Exemplars) == 0 {
		return j
	}
	xs := make([]ExemplarJSON, len(j.Exemplars))
	for i, x := range j.Exemplars {
		x.URL = TraceURL(template, x.TraceID)
		xs[i] = x
	}
	j.Exemplars = xs
	return j
}

// TimeFormat is RFC 3339 with milliseconds, in UTC, as every API timestamp.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// WindowToJSON converts a window for the API and the live feed.
func WindowToJSON(w *event.Window) WindowJSON {
	vals := make(map[string]*float64, len(w.Names))
	for i, n := range w.Names {
		if i < len(w.Values) && !math.IsNaN(w.Values[i]) && !math.IsInf(w.Values[i], 0) {
			v := w.Values[i]
			vals[n] = &v
		} else {
			vals[n] = nil
		}
	}
	var xs []ExemplarJSON
	for _, x := range w.Exemplars {
		xs = append(xs, ExemplarJSON{Aggregate: x.Aggregate, Value: x.Value, TraceID: x.TraceID, Time: x.Time.UTC().Format(TimeFormat)})
	}
	return WindowJSON{
		Pipeline:  w.Pipeline,
		Start:     w.Start.UTC().Format(TimeFormat),
		End:       w.End.UTC().Format(TimeFormat),
		Group:     w.GroupMap(),
		Values:    vals,
		Count:     w.Count,
		Late:      w.Late,
		Future:    w.Future,
		Exemplars: xs,
	}
}

func (s *Server) getWindows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wq := store.WindowQuery{Pipeline: q.Get("pipeline"), Group: map[string]string{}}
	if wq.Pipeline == "" {
		writeError(w, http.StatusBadRequest, "pipeline is required")
		return
	}
	for k, v := range q {
		if g, ok := strings.CutPrefix(k, "group."); ok && len(v) > 0 {
			wq.Group[g] = v[0]
		}
	}
	if since := q.Get("since"); since != "" {
		t, err := parseTime(since, time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, "since: "+err.Error())
			return
		}
		wq.Since = t
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		wq.Limit = n
	}
	ws, err := s.opts.Backend.Windows(r.Context(), wq)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]WindowJSON, 0, len(ws))
	for i := range ws {
		out = append(out, WindowToJSON(&ws[i]).LinkTraces(s.opts.TraceURL))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// parseTime accepts RFC 3339, Unix seconds, or a duration meaning "that long ago".
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want RFC 3339, Unix seconds or a duration like 5m")
}

// AlertJSON is an active alert as the API shows it.
type AlertJSON struct {
	Rule        string            `json:"rule"`
	Labels      map[string]string `json:"labels"`
	State       string            `json:"state"`
	Since       string            `json:"since"`
	Value       *float64          `json:"value"`
	Fingerprint string            `json:"fingerprint"`
	Summary     string            `json:"summary"`
	Severity    string            `json:"severity,omitempty"`
	LastSent    string            `json:"last_sent,omitempty"`
	// SilencedBy, InhibitedBy and Ack say what holds the alert's
	// notifications back now (GET /api/v1/alerts only).
	SilencedBy  []string `json:"silenced_by,omitempty"`
	InhibitedBy string   `json:"inhibited_by,omitempty"`
	Ack         *AckJSON `json:"ack,omitempty"`
}

// AlertToJSON converts an alert for the API and the live feed.
func AlertToJSON(a event.Alert) AlertJSON {
	out := AlertJSON{
		Rule: a.Rule, Labels: a.Labels, State: string(a.State),
		Since: a.Since.UTC().Format(TimeFormat), Value: num(a.Value),
		Fingerprint: a.Fingerprint, Summary: a.Summary, Severity: a.Severity,
	}
	if !a.LastSent.IsZero() {
		out.LastSent = a.LastSent.UTC().Format(TimeFormat)
	}
	return out
}

func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func (s *Server) getAlerts(w http.ResponseWriter, r *http.Request) {
	as := s.opts.Backend.ActiveAlerts()
	out := make([]AlertJSON, 0, len(as))
	for _, a := range as {
		j := AlertToJSON(a)
		m := s.opts.Backend.Muting(a)
		j.SilencedBy, j.InhibitedBy = m.SilencedBy, m.InhibitedBy
		if m.Ack != nil {
			j.Ack = ackToJSON(*m.Ack)
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// TransitionJSON is one entry of the alert history.
type TransitionJSON struct {
	Time        string            `json:"ts"`
	Rule        string            `json:"rule"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	State       string            `json:"state"`
	Value       *float64          `json:"value"`
	Summary     string            `json:"summary,omitempty"`
	Decision    string            `json:"decision,omitempty"`
}

// TransitionToJSON converts a transition for the API and the live feed.
func TransitionToJSON(t event.Transition) TransitionJSON {
	return TransitionJSON{
		Time: t.Time.UTC().Format(TimeFormat), Rule: t.Rule, Fingerprint: t.Fingerprint,
		Labels: t.Labels, State: string(t.State), Value: num(t.Value), Summary: t.Summary,
		Decision: t.Decision,
	}
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	q, err := historyQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ts []event.Transition
	if q.Rule != "" || q.Fingerprint != "" {
		ts, err = s.opts.Backend.HistoryFor(r.Context(), q)
	} else {
		ts, err = s.opts.Backend.History(r.Context(), q.Limit)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]TransitionJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, TransitionToJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (s *Server) getRaw(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n := 20
	if l := q.Get("limit"); l != "" {
		v, err := strconv.Atoi(l)
		if err != nil || v <= 0 {
			writeError(w, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		n = v
	}
	name := q.Get("source")
	if name == "" {
		writeError(w, http.StatusBadRequest, "source is required")
		return
	}
	msgs, err := s.opts.Backend.Raw(name, n)
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "no source named "+strconv.Quote(name))
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if msgs == nil {
		msgs = []source.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": msgs})
}

func (s *Server) getSources(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": s.opts.Backend.Sources()})
}

func (s *Server) postQuery(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SQL string `json:"sql"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be {"sql": "SELECT ..."}: `+err.Error())
		return
	}
	if strings.TrimSpace(req.SQL) == "" {
		writeError(w, http.StatusBadRequest, "sql is empty")
		return
	}
	s.streamQuery(w, r, req.SQL)
}

func (s *Server) getThresholds(w http.ResponseWriter, r *http.Request) {
	m, err := s.opts.Backend.Thresholds(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": m})
}

func (s *Server) putThreshold(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Value *float64 `json:"value"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.Value == nil {
		writeError(w, http.StatusBadRequest, `body must be {"value": NUMBER}`)
		return
	}
	name := r.PathValue("name")
	if err := s.opts.Backend.SetThreshold(r.Context(), name, *req.Value); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "value": *req.Value})
}

func (s *Server) postReload(w http.ResponseWriter, r *http.Request) {
	changes, err := s.opts.Backend.Reload(r.Context())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if changes == nil {
		changes = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "reloaded", "changes": changes})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// readBody reads a request body of at most limit bytes. With a Content-Length
// the buffer is allocated once at its size instead of growing by doubling,
// which matters for 1,000-line push bodies.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n > 0 && n <= limit {
		buf := make([]byte, n+1) // one more byte to see a body longer than announced
		m, err := io.ReadFull(body, buf)
		switch {
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			return buf[:m], nil
		case err != nil:
			return nil, err
		}
		rest, err := io.ReadAll(body) // the body was longer than its Content-Length
		return append(buf[:m], rest...), err
	}
	return io.ReadAll(body)
}
