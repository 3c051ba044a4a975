package api

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Failed token attempts are limited per client address, so guessing tokens
// costs a second a guess after the first few: failBurst wrong tokens in a
// row, then one a second (failRate). A client over it gets 429 for every
// token, right or wrong, until its budget refills.
const (
	failRate  = 1.0
	failBurst = 20
)

// exhausted says whether client has used up its failed attempts, and how
// long until it has one again.
func (l *limiter) exhausted(client string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[client]
	if b == nil {
		return false, 0
	}
	tokens := math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / l.rate * float64(time.Second))
}

// tooManyFailures answers 429 when the request's client has failed too
// often; it reports whether it did.
func (s *Server) tooManyFailures(w http.ResponseWriter, r *http.Request) bool {
	over, wait := s.failed.exhausted(clientAddr(r))
	if !over {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeError(w, http.StatusTooManyRequests, "too many failed token attempts from "+clientAddr(r)+", retry later")
	return true
}

// bearerToken is the token of an Authorization header; the scheme is
// case-insensitive (RFC 7235 §2.1), so "bearer x" is as good as "Bearer x".
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}
