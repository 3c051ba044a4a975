package store

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lookout-dev/lookout/internal/event"
)

// validString turns raw bytes into text DuckDB accepts: VARCHAR must be UTF-8.
// Segment lines get the same from package segment's encoder.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// The JSON columns of windows and alerts get json.RawMessage because the
// appender runs json.Marshal over whatever it is given for a JSON column: a
// string would be stored as a JSON string, and RawMessage passes through as
// it is. Their rows are few; events, which are many, are not rows at all
// (package segment).

// appendGroup appends the group as a JSON object with its keys in order, as
// encoding/json wrote it (GroupMap + json.Marshal) before: Windows gives the
// keys back in that order, and a re-emitted window finds its stored row by
// this text.
func appendGroup(b []byte, w *event.Window) []byte {
	b = append(b, '{')
	n := min(len(w.GroupKeys), len(w.Group))
	sorted := true
	for i := 1; i < n; i++ {
		if w.GroupKeys[i] < w.GroupKeys[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		for i := range n {
			b = appendGroupPair(b, i > 0, w.GroupKeys[i], w.Group[i])
		}
		return append(b, '}')
	}
	m := w.GroupMap() // rare: group_by keys out of order
	for i, k := range sortedKeys(m) {
		b = appendGroupPair(b, i > 0, k, m[k])
	}
	return append(b, '}')
}

func appendGroupPair(b []byte, comma bool, k, v string) []byte {
	if comma {
		b = append(b, ',')
	}
	b = appendHTMLSafeString(b, k)
	b = append(b, ':')
	return appendHTMLSafeString(b, v)
}

// appendHTMLSafeString appends s as a JSON string exactly as encoding/json
// writes it (it escapes <, > and &, and U+2028/U+2029), so group text stays
// what earlier versions stored; only strings that need it take the slow way.
func appendHTMLSafeString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// encodeExemplars encodes the window's exemplars as a JSON array, or
// returns nil (SQL NULL) when it has none, which is most windows.
func encodeExemplars(w *event.Window) any {
	if len(w.Exemplars) == 0 {
		return nil
	}
	xs := make([]event.Exemplar, len(w.Exemplars))
	for i, x := range w.Exemplars {
		if math.IsNaN(x.Value) || math.IsInf(x.Value, 0) {
			x.Value = 0 // json.Marshal refuses them; an exemplar's value is an event's, always finite
		}
		xs[i] = x
	}
	b, err := json.Marshal(xs)
	if err != nil {
		return nil
	}
	return json.RawMessage(b)
}

// appendValues appends the values as a JSON object in the order of w.Names,
// so Windows can give them back in the order the pipeline declared them.
func appendValues(b []byte, w *event.Window) []byte {
	b = append(b, '{')
	for i, name := range w.Names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendHTMLSafeString(b, name)
		b = append(b, ':')
		v := math.NaN()
		if i < len(w.Values) {
			v = w.Values[i]
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
	}
	return append(b, '}')
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
