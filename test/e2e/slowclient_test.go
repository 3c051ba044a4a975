package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// TestSlowClientsCut: a client that sends a push body a byte at a time, or
// keeps an idle connection, is disconnected after server.timeouts.read or
// .idle instead of holding its connection for ever. The timeouts are set
// short here so the test takes seconds; their defaults are in the config
// tests.
func TestSlowClientsCut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts lookout; skipped with -short")
	}
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "slow.yaml", fmt.Sprintf(`
server: {listen: %s, timeouts: {read: 2s, idle: 2s}}
storage: {path: %s}
sources: [{name: push, type: push}]
`, addr, dir+"/data"))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)

	const slow = 4
	closed := make(chan string, slow+1)
	for i := range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /api/v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n", addr)
		go func() {
			// A byte every 300 ms until the server hangs up: a write
			// fails, or the answer (408/400) arrives.
			go func() {
				for {
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
					time.Sleep(300 * time.Millisecond)
				}
			}()
			_, _ = bufio.NewReader(c).ReadString(0) // returns when the connection closes
			closed <- fmt.Sprintf("slow body %d", i)
		}()
	}
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle.Close() })
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	go func() {
		br := bufio.NewReader(idle)
		line, _ := br.ReadString('\n')
		if !strings.Contains(line, "200") {
			closed <- "idle: no answer: " + line
			return
		}
		_, _ = br.ReadString(0) // the rest of the answer, then EOF when closed
		closed <- "idle"
	}()

	// Generous for a loaded machine: without the timeouts nothing closes.
	deadline := time.After(30 * time.Second)
	for n := 0; n < slow+1; n++ {
		select {
		case who := <-closed:
			if strings.HasPrefix(who, "idle: ") {
				t.Fatal(who)
			}
		case <-deadline:
			t.Fatalf("after 30 s only %d of %d slow or idle connections were closed by lookout", n, slow+1)
		}
	}
	// lookout still serves others.
	var h map[string]string
	lookouttest.GetJSON(t, p.URL("/healthz"), &h)
	if h["status"] != "ok" {
		t.Errorf("/healthz = %v", h)
	}
}
