package segment

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lookout-dev/lookout/internal/event"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// finiteOnly copies v with NaN and infinities replaced by null, which is how
// appendFields writes them; the fuzz test compares against encoding/json
// over its result.
func finiteOnly(v any) any {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return v
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = finiteOnly(x)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = finiteOnly(x)
		}
		return a
	}
	return v
}

// benchEvents returns n events like the ones lookout-load's push scenarios
// send, after preprocessing: latency_ms became latency in seconds.
func benchEvents(n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		svc := fmt.Sprintf("svc-%05d", i%10000)
		status, lat := 200.0, 10+(i*7919)%490
		if i%100 == 0 {
			status = 503
		}
		raw := fmt.Appendf(nil, `{"ts":%d,"service":%q,"status":%v,"latency_ms":%d,"path":"/v1/orders"}`, 1740000000000+i, svc, status, lat)
		evs[i] = &event.Event{Time: t0.Add(time.Duration(i) * time.Microsecond), Source: "push", Raw: raw,
			Fields: map[string]any{"service": svc, "status": status, "latency": float64(lat) / 1000, "path": "/v1/orders"}}
	}
	return evs
}

// TestPlainRaw: a raw message follows the line's JSON as it is only when
// it is UTF-8 without a byte below 0x20 (a newline, the mark, the
// delimiter), eight-byte steps or not.
func TestPlainRaw(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		plain bool
	}{{"abc", true}, {"ab\nc", false}, {"12345678\x1f", false}, {"é\x01", false}, {"\xff", false}, {"12345678é12345678", true}} {
		if got := plainRaw([]byte(tc.raw)); got != tc.plain {
			t.Errorf("plainRaw(%q) = %v, want %v", tc.raw, got, tc.plain)
		}
	}
}

// FuzzPlainRaw checks the word-at-a-time test against its definition: UTF-8
// without a byte below 0x20.
func FuzzPlainRaw(f *testing.F) {
	for _, s := range []string{"", "abc", "12345678\x1f", "é日本語 123456789", "\xff\xfe", "1234567\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := utf8.Valid(raw) && !slices.ContainsFunc(raw, func(c byte) bool { return c < 0x20 })
		if got := plainRaw(raw); got != want {
			t.Errorf("plainRaw(%q) = %v, want %v", raw, got, want)
		}
	})
}
