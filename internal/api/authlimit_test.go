package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func authGet(srv http.Handler, auth, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "http://127.0.0.1:9470/api/v1/sources", nil)
	r.RemoteAddr = remote
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w
}

// TestBearerSchemeCaseInsensitive: "bearer", "BEARER" are the same scheme
// as "Bearer" (RFC 7235).
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	srv := New(Options{Backend: &writeBackend{}, Tokens: []Token{{Name: "t", Secret: "s3cr3t", Scopes: []Scope{ScopeRead}}}})
	for _, h := range []string{"Bearer s3cr3t", "bearer s3cr3t", "BEARER s3cr3t"} {
		if w := authGet(srv, h, "192.0.2.1:1000"); w.Code != 200 {
			t.Errorf("Authorization: %s → %d %s, want 200", h, w.Code, w.Body)
		}
	}
	if w := authGet(srv, "Basic s3cr3t", "192.0.2.1:1000"); w.Code != 401 {
		t.Errorf("Basic scheme → %d, want 401", w.Code)
	}
}

// TestFailedAuthLimited: after 20 wrong tokens a client address gets 429
// with Retry-After, even with the right token, until a second has passed;
// other addresses are not affected.
func TestFailedAuthLimited(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	srv := New(Options{Backend: &writeBackend{}, Now: func() time.Time { return now },
		Tokens: []Token{{Name: "t", Secret: "s3cr3t", Scopes: []Scope{ScopeRead}}}})
	const guesser = "192.0.2.7:4000"
	for i := range failBurst {
		if w := authGet(srv, "Bearer guess", guesser); w.Code != 401 {
			t.Fatalf("wrong token %d: %d, want 401", i+1, w.Code)
		}
	}
	w := authGet(srv, "Bearer guess", guesser)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("wrong token %d: %d Retry-After %q, want 429 with Retry-After 1", failBurst+1, w.Code, w.Header().Get("Retry-After"))
	}
	if w := authGet(srv, "Bearer s3cr3t", "192.0.2.7:4001"); w.Code != http.StatusTooManyRequests {
		t.Errorf("right token from the guessing address: %d, want 429", w.Code)
	}
	if w := authGet(srv, "Bearer s3cr3t", "198.51.100.1:4000"); w.Code != 200 {
		t.Errorf("right token from another address: %d, want 200", w.Code)
	}
	now = now.Add(time.Second)
	if w := authGet(srv, "Bearer s3cr3t", guesser); w.Code != 200 {
		t.Errorf("right token a second later: %d, want 200", w.Code)
	}
}
