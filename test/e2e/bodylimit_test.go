package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// TestBodyLimit: a push body over server.max_body_bytes gets 413; one under it
// is taken, with or without a Content-Length.
func TestBodyLimit(t *testing.T) {
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "limit.yaml", fmt.Sprintf(`
server: {listen: %s, max_body_bytes: 1000}
storage: {path: %s}
sources: [{name: push, type: push}]
`, addr, dir+"/data"))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)
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
