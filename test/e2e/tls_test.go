package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// TestTLSAndRateLimit: the API is served over HTTPS with the configured pair,
// and a client over its rate gets 429 with Retry-After.
func TestTLSAndRateLimit(t *testing.T) {
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	crt, _ := filepath.Abs("../../internal/config/testdata/server.crt")
	key, _ := filepath.Abs("../../internal/config/testdata/server.key")
	cfg := lookouttest.WriteFile(t, dir, "tls.yaml", fmt.Sprintf(`
server:
  listen: %s
  tls: {cert_file: %s, key_file: %s}
  rate_limit: {per_second: 1, burst: 2}
storage: {path: %s}
sources: [{name: push, type: push}]
`, addr, crt, key, dir+"/data"))
	cmd := exec.Command(binary, "run", "-config", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(mustRead(t, crt))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + addr
	lookouttest.WaitFor(t, 60*time.Second, "lookout over HTTPS", func() bool {
		r, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	if _, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/readyz"); err == nil {
		// Go's TLS server answers plain HTTP with a 400, not a page.
		r, _ := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/api/v1/alerts")
		if r != nil && r.StatusCode == 200 {
			t.Error("plain HTTP served the API")
		}
	}
	var codes []int
	var retry string
	for range 4 {
		r, err := client.Get(base + "/api/v1/alerts")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		codes = append(codes, r.StatusCode)
		if r.StatusCode == 429 {
			retry = r.Header.Get("Retry-After")
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[3] != 429 || retry == "" {
		t.Fatalf("4 quick requests at 1/s with a burst of 2: %v (Retry-After %q), want 200, 200, …, 429 with Retry-After", codes, retry)
	}
	// Health probes are never limited.
	r, err := client.Get(base + "/healthz")
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("/healthz under the limit: %v %v", r, err)
	}
	r.Body.Close()
}
