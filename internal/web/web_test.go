package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// maxOwnGzip is the budget for the dashboard's own code (everything but
// vendor/), gzipped: a phone on a slow link should load it in seconds.
const maxOwnGzip = 300 << 10

func get(t *testing.T, h http.Handler, p string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
	return rec
}

func TestHandlerServesTheDashboard(t *testing.T) {
	h := Handler()
	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html", `<script type="module" src="app.js">`},
		{"/app.js", "text/javascript", "hashchange"},
		{"/app.css", "text/css", "prefers-color-scheme: dark"},
		{"/js/i18n.js", "text/javascript", `"zh-CN"`},
		{"/vendor/uPlot.iife.min.js", "text/javascript", "uPlot"},
		{"/vendor/uPlot.min.css", "text/css", ".uplot"},
		{"/vendor/uPlot.LICENSE", "", "MIT License"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := get(t, h, tt.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s = %d", tt.path, rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.contentType)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

var (
	htmlRef   = regexp.MustCompile(`(?:src|href)="([^"#]+)"`)
	importRef = regexp.MustCompile(`(?m)(?:^import\s[^"]*?from\s+|^import\s+|import\()"([^"]+)"`)
	remoteRef = regexp.MustCompile(`^(?:[a-z]+:)?//`)
)

// TestEveryReferenceIsEmbedded follows index.html's links and every module's
// imports: each must be a local file in the embedded tree (no CDN), so the
// binary alone serves a working page.
func TestEveryReferenceIsEmbedded(t *testing.T) {
	fsys := Static()
	seen := map[string]bool{}
	var walk func(file string)
	walk = func(file string) {
		if seen[file] {
			return
		}
		seen[file] = true
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			t.Errorf("%s is referenced but not embedded: %v", file, err)
			return
		}
		re := importRef
		if strings.HasSuffix(file, ".html") {
			re = htmlRef
		}
		if !strings.HasSuffix(file, ".html") && !strings.HasSuffix(file, ".js") || strings.HasPrefix(file, "vendor/") {
			return
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			ref := m[1]
			if strings.HasPrefix(ref, "data:") {
				continue
			}
			if remoteRef.MatchString(ref) {
				t.Errorf("%s loads %s from the network; vendor it instead", file, ref)
				continue
			}
			walk(path.Clean(path.Join(path.Dir(file), ref)))
		}
	}
	walk("index.html")
	for _, want := range []string{"app.js", "js/core.js", "js/i18n.js", "js/chart.js", "js/views/pipeline.js", "vendor/uPlot.iife.min.js", "favicon.svg"} {
		if !seen[want] {
			t.Errorf("%s is not reachable from index.html", want)
		}
	}
}

// TestOwnCodeSize keeps the page's own HTML, JS and CSS under the budget, gzipped.
func TestOwnCodeSize(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	n := 0
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == "vendor" {
				return fs.SkipDir
			}
			return nil
		}
		switch path.Ext(p) {
		case ".js", ".css", ".html", ".svg":
		default:
			return nil
		}
		f, err := Static().Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n++
		_, err = io.Copy(zw, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d files measured; is the tree embedded?", n)
	}
	t.Logf("own code: %d files, %d bytes gzipped (budget %d)", n, buf.Len(), maxOwnGzip)
	if buf.Len() > maxOwnGzip {
		t.Errorf("the dashboard's own code is %d bytes gzipped, over the %d budget", buf.Len(), maxOwnGzip)
	}
}
