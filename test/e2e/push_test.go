package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// TestPushAsClientsSendIt: a gzip body (what log shippers send) is taken,
// one that inflates past the body limit is refused; a message with invalid
// UTF-8 is kept and flagged bad_utf8; a pipeline typo answers 404 and a GET
// on the push endpoint 405 with Allow.
func TestPushAsClientsSendIt(t *testing.T) {
	cfg := lookouttest.NewConfig(t)
	cfg.Pipelines = []lookouttest.Pipeline{{Name: "api", From: []string{"push"}, GroupBy: []string{"service"}, Window: "1s",
		Aggregates: map[string]string{"n": "count()"}}}
	p := cfg.Start(t, binary)

	send := func(enc string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.URL("/api/v1/events"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	if code, out := send("gzip", gz(`{"service":"gz","msg":"zipped"}`+"\n"+`{"service":"gz","msg":"zipped"}`)); code != 200 || !strings.Contains(out, `"accepted":2`) {
		t.Errorf("gzip body: %d %s, want 200 with 2 accepted", code, out)
	}
	// 17 MB of one repeated line inflate past the default 16 MiB limit.
	bomb := gz(strings.Repeat(`{"service":"gz","msg":"x"}`+"\n", 17<<20/27+1))
	if code, out := send("gzip", bomb); code != 413 {
		t.Errorf("%d-byte gzip body inflating past the limit: %d %s, want 413", len(bomb), code, out)
	}
	if code, out := send("gzip", []byte("not gzip at all")); code != 400 || !strings.Contains(out, "gzip") {
		t.Errorf("broken gzip: %d %s, want 400 saying gzip", code, out)
	}
	if code, out := send("br", []byte("{}")); code != 415 {
		t.Errorf("unsupported encoding: %d %s, want 415", code, out)
	}
	if code, out := send("", []byte("{\"service\":\"utf\",\"msg\":\"caf\xe9\"}")); code != 200 {
		t.Errorf("invalid UTF-8: %d %s, want 200", code, out)
	}

	// What the store holds.
	var got [][]any
	lookouttest.WaitFor(t, 30*time.Second, "the pushed events in the store", func() bool {
		code, out := lookouttest.Post(t, p.URL("/api/v1/query"), "application/json",
			[]byte(`{"sql":"SELECT fields->>'service', fields->>'msg', flags FROM events ORDER BY 1"}`))
		var r struct {
			Rows [][]any `json:"rows"`
		}
		if code != 200 || json.Unmarshal(out, &r) != nil {
			return false
		}
		got = r.Rows
		return len(got) == 3
	})
	want := "[[gz zipped no_timestamp] [gz zipped no_timestamp] [utf caf\uFFFD no_timestamp,bad_utf8]]"
	if fmt.Sprint(got) != want {
		t.Errorf("stored %v, want %s", got, want)
	}

	resp, err := http.Get(p.URL("/api/v1/windows?pipeline=apy"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("windows of a pipeline typo: %d, want 404", resp.StatusCode)
	}
	resp, err = http.Get(p.URL("/api/v1/events"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /api/v1/events: %d, Allow %q; want 405, Allow POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
