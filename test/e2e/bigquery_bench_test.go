package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// BenchmarkBigQueryAnswer asks a running lookout for a 1 GB answer
// (SELECT repeat('x', 100000) FROM range(10000), under the row cap) while
// /healthz is polled every 20 ms, and reports lookout's peak RSS (VmHWM),
// /healthz's p99 and max latency during the query, and the answer's size.
// "default" is the default config, "memory_limit_512MB" gives DuckDB more
// memory; either way the answer stops at query.max_bytes (16 MiB),
// truncated, and DuckDB never makes the whole gigabyte.
//
//	go test -run '^$' -bench BigQueryAnswer -benchtime 1x ./test/e2e
func BenchmarkBigQueryAnswer(b *testing.B) {
	for _, tc := range []struct{ name, query string }{
		{"default", ""},
		{"memory_limit_512MB", "storage: {path: %[2]s, memory_limit: 512MB}\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			addr := lookouttest.FreeAddr(b)
			storage := "storage: {path: %[2]s}\n"
			if tc.query != "" {
				storage = tc.query
			}
			cfg := lookouttest.WriteFile(b, dir, "big.yaml", fmt.Sprintf("server: {listen: %[1]s}\n"+storage+"sources: [{name: push, type: push}]\n",
				addr, dir+"/data"))
			p := lookouttest.Start(b, binary, addr, "run", "-config", cfg)
			pid := p.Cmd.Process.Pid

			var answer int64
			var status int
			var lat []time.Duration
			b.ResetTimer()
			for range b.N {
				stop := make(chan struct{})
				var wg sync.WaitGroup
				var mu sync.Mutex
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						t0 := time.Now()
						r, err := http.Get(p.URL("/healthz"))
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, r.Body)
						r.Body.Close()
						mu.Lock()
						lat = append(lat, time.Since(t0))
						mu.Unlock()
					}
				})
				req, _ := http.NewRequest("POST", p.URL("/api/v1/query"),
					strings.NewReader(`{"sql":"SELECT repeat('x', 100000) AS s FROM range(10000)"}`))
				req.Header.Set("Content-Type", "application/json")
				r, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if err != nil {
					b.Fatalf("query: %d after %d bytes: %v", r.StatusCode, n, err)
				}
				answer, status = n, r.StatusCode
				close(stop)
				wg.Wait()
			}
			b.StopTimer()
			if len(lat) == 0 {
				b.Fatal("no /healthz sample during the query")
			}
			slices.Sort(lat)
			p99 := lat[(len(lat)*99+99)/100-1]
			b.ReportMetric(float64(peakRSS(b, pid))/(1<<20), "peak_rss_MiB")
			b.ReportMetric(float64(p99.Microseconds())/1000, "healthz_p99_ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "healthz_max_ms")
			b.ReportMetric(float64(answer)/(1<<20), "answer_MiB")
			b.ReportMetric(float64(status), "http_status")
		})
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
