package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/internal/state"
)

// Muting is what holds back an active alert's notifications.
type Muting struct {
	SilencedBy  []string
	InhibitedBy string
	Ack         *state.Ack
}

// HistoryQuery narrows the alert history; empty fields do not filter.
type HistoryQuery struct {
	Rule        string
	Fingerprint string
	Limit       int
}

// tokenKey carries the name of the request's token in its context, so what
// people create (silences, acks) says who did it.
type tokenKey struct{}

// creator is who makes a change: the token's name, else the name the body
// gives (an open API has no identities), else "anonymous".
func creator(r *http.Request, given string) string {
	if name, ok := r.Context().Value(tokenKey{}).(string); ok && name != "" {
		return name
	}
	if given = strings.TrimSpace(given); given != "" {
		return given
	}
	return "anonymous"
}

// SilenceJSON is a silence as the API shows it.
type SilenceJSON struct {
	ID        string          `json:"id"`
	Matchers  []state.Matcher `json:"matchers"`
	StartsAt  string          `json:"starts_at"`
	EndsAt    string          `json:"ends_at"`
	Comment   string          `json:"comment"`
	CreatedBy string          `json:"created_by"`
	CreatedAt string          `json:"created_at"`
	// State is pending, active or expired, now.
	State string `json:"state"`
}

func silenceToJSON(s state.Silence, now time.Time) SilenceJSON {
	return SilenceJSON{
		ID: s.ID, Matchers: s.Matchers, StartsAt: s.StartsAt.UTC().Format(TimeFormat), EndsAt: s.EndsAt.UTC().Format(TimeFormat),
		Comment: s.Comment, CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt.UTC().Format(TimeFormat), State: s.State(now),
	}
}

// AckJSON is an acknowledgement as the API shows it on an alert.
type AckJSON struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
	At      string `json:"at"`
	Until   string `json:"until"`
}

func ackToJSON(a state.Ack) *AckJSON {
	return &AckJSON{By: a.By, Comment: a.Comment, At: a.At.UTC().Format(TimeFormat), Until: a.Until.UTC().Format(TimeFormat)}
}

func (s *Server) getSilences(w http.ResponseWriter, r *http.Request) {
	sils, err := s.opts.Backend.Silences.Silences(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	now := s.opts.Now()
	out := make([]SilenceJSON, 0, len(sils))
	for _, sl := range sils {
		out = append(out, silenceToJSON(sl, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// silenceRequest is the body of POST /api/v1/silences. until (RFC 3339) or
// duration ("2h") says when it ends; starts defaults to now.
type silenceRequest struct {
	Matchers []struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		Op      string `json:"op"`
		IsRegex bool   `json:"isRegex"` // Alertmanager's spelling
		IsEqual *bool  `json:"isEqual"`
	} `json:"matchers"`
	Starts    string `json:"starts"`
	Until     string `json:"until"`
	Duration  string `json:"duration"`
	Comment   string `json:"comment"`
	CreatedBy string `json:"created_by"`
}

func (s *Server) postSilence(w http.ResponseWriter, r *http.Request) {
	var req silenceRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be {"matchers":[{"name":..,"value":..,"op":"="}],"until":RFC3339,"comment":..}: `+err.Error())
		return
	}
	now := s.opts.Now()
	sl := state.Silence{Comment: req.Comment, CreatedBy: creator(r, req.CreatedBy), CreatedAt: now, StartsAt: now}
	for _, m := range req.Matchers {
		op := m.Op
		if op == "" {
			switch {
			case m.IsRegex && m.IsEqual != nil && !*m.IsEqual:
				op = state.OpNotRegex
			case m.IsRegex:
				op = state.OpRegex
			case m.IsEqual != nil && !*m.IsEqual:
				op = state.OpNotEqual
			default:
				op = state.OpEqual
			}
		}
		sl.Matchers = append(sl.Matchers, state.Matcher{Name: m.Name, Op: op, Value: m.Value})
	}
	if req.Starts != "" {
		t, err := time.Parse(time.RFC3339Nano, req.Starts)
		if err != nil {
			writeError(w, http.StatusBadRequest, "starts: want RFC 3339")
			return
		}
		sl.StartsAt = t
	}
	switch {
	case req.Until != "" && req.Duration != "":
		writeError(w, http.StatusBadRequest, "give until or duration, not both")
		return
	case req.Until != "":
		t, err := time.Parse(time.RFC3339Nano, req.Until)
		if err != nil {
			writeError(w, http.StatusBadRequest, "until: want RFC 3339")
			return
		}
		sl.EndsAt = t
	case req.Duration != "":
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "duration: want a positive duration like 2h")
			return
		}
		sl.EndsAt = sl.StartsAt.Add(d)
	default:
		writeError(w, http.StatusBadRequest, "until (RFC 3339) or duration is required")
		return
	}
	if !sl.EndsAt.After(now) {
		writeError(w, http.StatusBadRequest, "until is in the past")
		return
	}
	created, err := s.opts.Backend.Silences.AddSilence(r.Context(), sl)
	if err != nil {
		writeBackendError(w, err)
		return
	}
	s.opts.Log.Info("silence created", "id", created.ID, "by", created.CreatedBy, "until", created.EndsAt, "comment", created.Comment)
	writeJSON(w, http.StatusOK, map[string]any{"id": created.ID, "silence": silenceToJSON(created, now)})
}

func (s *Server) deleteSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.opts.Backend.Silences.ExpireSilence(r.Context(), id); err != nil {
		writeBackendError(w, err)
		return
	}
	s.opts.Log.Info("silence expired", "id", id, "by", creator(r, ""))
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "state": state.SilenceExpired})
}

func (s *Server) postAck(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TTL     string `json:"ttl"`
		Comment string `json:"comment"`
		By      string `json:"by"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be {"ttl":"2h","comment":".."}: `+err.Error())
		return
	}
	ttl := 24 * time.Hour
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "ttl: want a positive duration like 2h")
			return
		}
		ttl = d
	}
	fp := r.PathValue("fingerprint")
	ack, err := s.opts.Backend.Acks.Ack(r.Context(), fp, ttl, creator(r, req.By), req.Comment)
	if err != nil {
		writeBackendError(w, err)
		return
	}
	s.opts.Log.Info("alert acknowledged", "fingerprint", fp, "by", ack.By, "until", ack.Until)
	writeJSON(w, http.StatusOK, map[string]any{"fingerprint": fp, "ack": ackToJSON(ack)})
}

func (s *Server) deleteAck(w http.ResponseWriter, r *http.Request) {
	fp := r.PathValue("fingerprint")
	if err := s.opts.Backend.Acks.Unack(r.Context(), fp); err != nil {
		writeBackendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"fingerprint": fp, "ack": nil})
}

// writeBackendError maps the Backend's sentinel errors to status codes.
func writeBackendError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// historyQuery reads ?rule=, ?fingerprint= and ?limit= (default 100).
func historyQuery(r *http.Request) (HistoryQuery, error) {
	q := HistoryQuery{Rule: r.URL.Query().Get("rule"), Fingerprint: r.URL.Query().Get("fingerprint"), Limit: 100}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			return q, errors.New("limit must be a positive integer")
		}
		q.Limit = n
	}
	return q, nil
}
