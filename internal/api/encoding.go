package api

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decodeContent undoes the body's Content-Encoding: none or gzip (what
// HTTP clients and log shippers send; OTLP takes the same). The decompressed
// size is bounded by limit too, since a small gzip body can expand
// enormously. On an error it returns the HTTP status to answer.
func decodeContent(r *http.Request, wire []byte, limit int64) ([]byte, int, error) {
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return wire, 0, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("decompressing the gzip body: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(zr, limit+1))
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("decompressing the gzip body: %w", err)
		}
		if int64(len(body)) > limit {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes once decompressed", limit)
		}
		return body, 0, nil
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported content encoding %q (want gzip or none)", enc)
	}
}

// allowed lists the methods the API serves for r's path, for a 405's Allow
// header; empty when the path is no endpoint at all.
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); strings.HasPrefix(pattern, m+" /api/v1/") {
			out = append(out, m)
		}
	}
	return out
}
