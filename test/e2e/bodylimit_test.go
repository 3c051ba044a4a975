package e2e

import (
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// TestBodyLimit: a push body over server.max_body_bytes gets 413; one under it
// is taken, with or without a Content-Length.
func TestBodyLimit(t *testing.T) {
	cfg := lookouttest.NewConfig(t)
	cfg.Server["max_body_bytes"] = 1000
	p := cfg.Start(t, binary)
	line := `{"service":"api","status":200}` + "\n"
	big := strings.Repeat(line, 1000/len(line)+1)
	if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte(big)); code != 413 {
		t.Errorf("%d-byte body: %d %s, want 413", len(big), code, out)
	}
	small := strings.Repeat(line, 3)
	if code, out := lookouttest.Post(t, p.URL("/api/v1/events?source=push"), "application/x-ndjson", []byte(small)); code != 200 || !strings.Contains(string(out), `"accepted":3`) {
		t.Errorf("%d-byte body: %d %s, want 200 with 3 accepted", len(small), code, out)
	}
}
