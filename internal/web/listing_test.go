package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNoDirectoryListing: the dashboard's directories are not listed; the
// page and its files still load.
func TestNoDirectoryListing(t *testing.T) {
	h := Handler()
	get := func(p string) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		return w.Code, w.Body.String()
	}
	for _, p := range []string{"/vendor/", "/vendor", "/js/", "/js/views/", "/js/views"} {
		if code, body := get(p); code != http.StatusNotFound {
			t.Errorf("GET %s = %d %.80q, want 404", p, code, body)
		}
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("GET / = %d %.80q, want the page", code, body)
	}
	if code, _ := get("/vendor/uPlot.iife.min.js"); code != 200 {
		t.Errorf("GET /vendor/uPlot.iife.min.js = %d, want 200", code)
	}
}
