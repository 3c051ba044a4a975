package api

import (
	"mime"
	"net"
	"net/http"
	"strings"
)

// What a web page of another site can make a browser do to lookout. Without
// a token the API trusts whoever reaches the listener, which is loopback by
// default, and a browser on the same machine reaches it: a page can send
// "simple" cross-origin requests (a POST of text/plain, no preflight), and a
// page whose own host name it rebinds to 127.0.0.1 (DNS rebinding) can read
// the answers too. So guard refuses three things before any handler runs:
//
//   - a Host that is neither an IP address, localhost, the listen host nor
//     in server.allowed_hosts (a rebinding page's requests carry its own
//     name): checked when no token is configured, or always when
//     allowed_hosts is set; "*" turns it off;
//   - a write (any method but GET, HEAD, OPTIONS) a browser marks as coming
//     from another origin (Sec-Fetch-Site, else Origin against Host); clients
//     that are not browsers send neither header and are not affected;
//   - a body of another type than JSON on the JSON endpoints, the types a
//     browser may send cross-origin without asking first. The push endpoint
//     (NDJSON) and the receivers of other sources (OTLP, remote write)
//     keep their types.
type guard struct {
	next    http.Handler
	anyHost bool
	hosts   map[string]bool
	checked http.Handler // next behind the cross-origin and content type checks
	// receivers are the paths of other sources' receivers, which keep
	// their own content types (remote write's protobuf at /api/v1/write).
	receivers map[string]bool
}

func newGuard(next http.Handler, opts Options) *guard {
	g := &guard{next: next, hosts: map[string]bool{}, receivers: map[string]bool{}}
	for pattern := range opts.Receivers {
		if _, path, ok := strings.Cut(pattern, " "); ok {
			g.receivers[path] = true
		} else {
			g.receivers[pattern] = true
		}
	}
	// With tokens a rebinding page has none to send, so any host will do
	// unless the user listed some.
	g.anyHost = len(opts.Tokens) > 0 && len(opts.AllowedHosts) == 0
	for _, h := range opts.AllowedHosts {
		if h == "*" {
			g.anyHost = true
		}
		g.hosts[normHost(h)] = true
	}
	if h, _, err := net.SplitHostPort(opts.Listen); err == nil && h != "" {
		g.hosts[normHost(h)] = true
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused: a page of another site may not change lookout")
	}))
	g.checked = cop.Handler(http.HandlerFunc(g.serveJSONChecked))
	return g
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.hostAllowed(r.Host) {
		writeError(w, http.StatusForbidden, "host "+r.Host+" is not allowed: list it in server.allowed_hosts")
		return
	}
	g.checked.ServeHTTP(w, r)
}

func (g *guard) serveJSONChecked(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) && !g.receivers[r.URL.Path] {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json (with curl: -H 'Content-Type: application/json')")
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// hostAllowed says whether a request's Host header may be served. An IP
// address is always fine: a page at an address is its own origin, and
// rebinding needs a name. So are localhost and its subdomains, which
// browsers resolve to loopback themselves.
func (g *guard) hostAllowed(host string) bool {
	if g.anyHost || host == "" {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = normHost(h)
	if net.ParseIP(h) != nil || h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	return g.hosts[h]
}

func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// wantsJSON says whether r is a write with a body to one of the API's JSON
// endpoints: everything under /api/v1/ but the push endpoint (and the
// receivers, which guard leaves out).
func wantsJSON(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete:
		return false
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v1/") || r.URL.Path == "/api/v1/events" {
		return false
	}
	return r.ContentLength != 0 // -1: unknown length, a body may follow
}
