package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"time"
)

// DefaultQueryMaxBytes is the default cap on the rows of a /api/v1/query
// answer (config query.max_bytes).
const DefaultQueryMaxBytes = 16 << 20

// streamQuery answers /api/v1/query row by row as the store hands the rows
// over, so the encoding holds one row and a write buffer however large the
// answer is (the store bounds what DuckDB makes, see store.Stream). The
// rows stop before their JSON would pass QueryMaxBytes, with "truncated":
// true, as at the row cap. An error before the first byte is sent is a
// 400; one after it (the deadline passing mid-answer) ends the JSON with an
// "error" member.
func (s *Server) streamQuery(w http.ResponseWriter, r *http.Request, sql string) {
	// The store's deadline covers reading rows; this one covers a client
	// too slow to take them.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.QueryTimeout))
	bw := bufio.NewWriterSize(w, 64<<10)
	started := false
	var size int64
	n := 0
	truncated, err := s.opts.Backend.QueryStream(r.Context(), sql, s.opts.QueryMaxBytes, func(cols, _ []string) error {
		c, err := json.Marshal(cols)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		started = true
		_, _ = bw.WriteString(`{"columns":`)
		_, _ = bw.Write(c)
		_, err = bw.WriteString(`,"rows":[`)
		return err
	}, func(row []any) (bool, error) {
		b, err := json.Marshal(row)
		if err != nil {
			return false, err
		}
		if size += int64(len(b)) + 1; size > s.opts.QueryMaxBytes {
			return false, nil
		}
		if n > 0 {
			_ = bw.WriteByte(',')
		}
		n++
		_, err = bw.Write(b)
		return true, err // a write error: the client is gone or too slow
	})
	switch {
	case err != nil && !started:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		msg, _ := json.Marshal(err.Error())
		_, _ = bw.WriteString(`],"error":`)
		_, _ = bw.Write(msg)
		_, _ = bw.WriteString("}\n")
	case truncated:
		_, _ = bw.WriteString("],\"truncated\":true}\n")
	default:
		_, _ = bw.WriteString("]}\n")
	}
	_ = bw.Flush()
}
