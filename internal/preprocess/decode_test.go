package preprocess

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

var arrival = time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC)

func mustNew(t testing.TB, cfg config.Source) *Processor {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestDecodeFields(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]any
	}{
		{"flat", `{"a":1,"b":"x","c":true,"d":false,"e":null}`,
			map[string]any{"a": 1.0, "b": "x", "c": true, "d": false, "e": nil}},
		{"nested flattened", `{"http":{"status":500,"req":{"path":"/x"}},"svc":"api"}`,
			map[string]any{"http.status": 500.0, "http.req.path": "/x", "svc": "api"}},
		{"empty nested object adds nothing", `{"a":{},"b":1}`, map[string]any{"b": 1.0}},
		{"arrays kept", `{"tags":["a",1,{"k":[true]}],"e":[]}`,
			map[string]any{"tags": []any{"a", 1.0, map[string]any{"k": []any{true}}}, "e": []any{}}},
		{"white space", " \t\r\n{ \"a\" : 1 , \"b\" : [ 1 , 2 ] }\n ", map[string]any{"a": 1.0, "b": []any{1.0, 2.0}}},
		{"escapes", `{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`, map[string]any{"s": "a\"b\\c/d\b\f\n\r\té😀"}},
		{"escaped key", `{"a\u002eb":1}`, map[string]any{"a.b": 1.0}},
		{"lone surrogate becomes U+FFFD", `{"s":"\ud800x"}`, map[string]any{"s": "\ufffdx"}},
		{"invalid UTF-8 becomes U+FFFD", "{\"s\":\"a\xffb\"}", map[string]any{"s": "a\ufffdb"}},
		{"utf-8 kept", `{"s":"日本"}`, map[string]any{"s": "日本"}},
		{"numbers", `{"a":-0.5,"b":1e3,"c":1.5E-2,"d":12345678901234567890,"e":0,"f":-12,"g":1732600000123,"h":0.1}`,
			map[string]any{"a": -0.5, "b": 1000.0, "c": 0.015, "d": 12345678901234567890.0, "e": 0.0, "f": -12.0, "g": 1732600000123.0, "h": 0.1}},
		{"duplicate key last wins", `{"a":1,"a":2}`, map[string]any{"a": 2.0}},
	}
	p := mustNew(t, config.Source{Name: "s"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.DecodeFields([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeFields(%s): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeFields(%s)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"array", `[1,2]`, "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"number", `42`, "not a JSON object"},
		{"empty", ``, "empty message"},
		{"spaces only", "  \n", "empty message"},
		{"garbage", `hello`, `invalid JSON at offset 0: unexpected character 'h'`},
		{"almost null", `nul`, `invalid JSON at offset 3: unexpected end of input`},
		{"two values", `1 2`, `unexpected character '2' after the value`},
		{"missing value", `{"a":}`, `invalid JSON at offset 5: unexpected character '}'`},
		{"truncated", `{"a":1`, `invalid JSON at offset 6: unexpected end of input`},
		{"trailing", `{"a":1} x`, `invalid JSON at offset 8: unexpected character 'x' after the object`},
		{"two objects", `{"a":1}{"b":2}`, `after the object`},
		{"unquoted key", `{a:1}`, `invalid JSON at offset 1`},
		{"trailing comma", `{"a":1,}`, `invalid JSON at offset 7`},
		{"bad literal", `{"a":tru}`, `invalid JSON at offset 8`},
		{"leading zero", `{"a":01}`, `invalid JSON at offset 6`},
		{"bare minus", `{"a":-}`, `invalid JSON at offset 6`},
		{"dot without digits", `{"a":1.}`, `invalid JSON at offset 7`},
		{"exponent without digits", `{"a":1e}`, `invalid JSON at offset 7`},
		{"overflow", `{"a":1e400}`, `number 1e400 out of range`},
		{"control character", "{\"a\":\"x\ny\"}", `control character`},
		{"bad escape", `{"a":"\x"}`, `invalid escape \x`},
		{"bad unicode escape", `{"a":"\u12g4"}`, `invalid \u escape`},
		{"unterminated string", `{"a":"xyz`, `unterminated string`},
		{"unclosed array", `{"a":[1,2}`, `unexpected character '}'`},
		{"deep nesting", strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1), "nested too deeply"},
	}
	p := mustNew(t, config.Source{Name: "s"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := p.Decode([]byte(tt.in), arrival)
			if err == nil {
				t.Fatalf("Decode(%q) = %v, want error %q", tt.in, e.Fields, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
			}
			if _, rerr := flattenReference([]byte(tt.in)); rerr == nil {
				t.Errorf("encoding/json accepts %q as an object", tt.in)
			}
		})
	}
}

func TestDecodeKeepsRawAndSource(t *testing.T) {
	p := mustNew(t, config.Source{Name: "orders"})
	raw := []byte(`{"ts":1732600000123,"service":"api"}`)
	e, err := p.Decode(raw, arrival)
	if err != nil {
		t.Fatal(err)
	}
	if &e.Raw[0] != &raw[0] || len(e.Raw) != len(raw) {
		t.Error("Raw is not the message as given")
	}
	if e.Source != "orders" {
		t.Errorf("Source = %q, want orders", e.Source)
	}
	if want := time.UnixMilli(1732600000123).UTC(); !e.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", e.Time, want)
	}
	if e.Flags != 0 {
		t.Errorf("Flags = %v, want none", e.Flags)
	}
}

// flattenReference decodes with encoding/json and flattens nested objects the
// way Decode promises. It is the oracle for FuzzDecode.
func flattenReference(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil { // "null" unmarshals into a nil map without error
		return nil, errors.New("null")
	}
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			if sub, ok := v.(map[string]any); ok {
				walk(k, sub)
				continue
			}
			out[k] = v
		}
	}
	walk("", m)
	return out, nil
}

// ambiguous reports whether the flattened result depends on member order,
// which encoding/json's map does not keep: duplicate names in one object, or
// two paths that flatten to the same dotted key ({"a":{"b":1},"a.b":2}).
// On such input Decode is only required not to panic and to accept it.
func ambiguous(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj    bool
		prefix string
		names  map[string]bool
		key    string
		expect bool // the next string token is a key
	}
	var stack []*frame
	leaves := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.expect {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].expect = true
				}
				continue
			}
			k := tok.(string)
			if top.names[k] {
				return true
			}
			top.names[k] = true
			top.key = k
			top.expect = false
			continue
		}
		path := ""
		inFlat := top != nil && top.obj && top.prefix != "\x00"
		if inFlat {
			path = top.key
			if top.prefix != "" {
				path = top.prefix + "." + top.key
			}
		}
		switch d := tok.(type) {
		case json.Delim:
			switch d {
			case '{':
				prefix := "\x00" // inside an array: not flattened
				if top == nil {
					prefix = ""
				} else if inFlat {
					prefix = path
				}
				stack = append(stack, &frame{obj: true, prefix: prefix, names: map[string]bool{}, expect: true})
				continue
			case '[':
				if inFlat {
					if leaves[path] {
						return true
					}
					leaves[path] = true
				}
				stack = append(stack, &frame{})
				continue
			case ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].expect = true
				}
				continue
			}
		default:
			if inFlat {
				if leaves[path] {
					return true
				}
				leaves[path] = true
			}
		}
		if top != nil && top.obj {
			top.expect = true
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"ts":1732600000123,"service":"api","status":200,"latency_ms":12.5,"path":"/v1/orders"}`,
		`{"http":{"status":500,"req":{"path":"/x"}},"tags":["a",{"b":null}]}`,
		`{"s":"\ud83d\ude00\u00e9\n","n":-1.5e-7,"b":true,"z":null}`,
		`{"a":{"b":1},"a.b":2}`,
		`[1]`, `{"a":1e400}`, `{"a":"x`, ``,
	} {
		f.Add([]byte(s))
	}
	p, err := New(config.Source{Name: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := p.DecodeFields(data)
		want, werr := flattenReference(data)
		if werr != nil {
			if err == nil {
				t.Fatalf("DecodeFields(%q) accepted input encoding/json rejects (%v): %#v", data, werr, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("DecodeFields(%q) = %v, encoding/json accepts it", data, err)
		}
		// Whatever the time field holds, the event time is one that int64
		// nanoseconds (the windows' clock) hold.
		e, err := p.Decode(data, arrival)
		if err != nil {
			t.Fatalf("Decode(%q) = %v, DecodeFields accepts it", data, err)
		}
		if e.Time.Before(MinTime) || e.Time.After(MaxTime) || !time.Unix(0, e.Time.UnixNano()).Equal(e.Time) {
			t.Fatalf("Decode(%q).Time = %v, outside what int64 nanoseconds hold", data, e.Time)
		}
		if ambiguous(data) {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeFields(%q)\n got %#v\nwant %#v", data, got, want)
		}
	})
}

func TestNumbersMatchStrconv(t *testing.T) {
	p := mustNew(t, config.Source{Name: "s"})
	for _, n := range []string{"0.1", "0.3", "123.456", "9007199254740993", "1e22", "1e23", "4.9e-324",
		"1.7976931348623157e308", "0.000001", "-0", "123456789012345.678", "2.2250738585072014e-308",
		"0.1234567890123456789", "100000000000000000000000", "1e-22", "3.14159265358979323846"} {
		t.Run(n, func(t *testing.T) {
			got, err := p.DecodeFields([]byte(`{"n":` + n + `}`))
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(`{"n":`+n+`}`), &want); err != nil {
				t.Fatal(err)
			}
			g, w := got["n"].(float64), want["n"].(float64)
			if math.Float64bits(g) != math.Float64bits(w) {
				t.Errorf("%s: got %v (%x), want %v (%x)", n, g, math.Float64bits(g), w, math.Float64bits(w))
			}
		})
	}
}

func TestCacheBounded(t *testing.T) {
	var c cache
	for i := 0; i < maxCached+100; i++ {
		name := []byte(fmt.Sprintf("key-%d", i))
		if got := c.key(name); got != string(name) {
			t.Fatalf("key(%s) = %q", name, got)
		}
		if got := c.val(name); got != string(name) {
			t.Fatalf("val(%s) = %q", name, got)
		}
	}
	// The value table is an array, bounded by its type; what it returns
	// must be right however values collide.
	for i := 0; i < 4*valSlots; i++ {
		v := fmt.Appendf(nil, "v%d", i%(2*valSlots))
		if got := c.val(v); got != string(v) {
			t.Fatalf("val(%s) = %q", v, got)
		}
	}
	if len(c.keys) > maxCached {
		t.Errorf("cache holds %d keys, want at most %d", len(c.keys), maxCached)
	}
	for i := 0; i < maxCached+100; i++ {
		name := fmt.Appendf(nil, "key-%d", i)
		if got := c.keyAt(i, name); got != string(name) {
			t.Fatalf("keyAt(%d, %s) = %q", i, name, got)
		}
	}
	if len(c.order) > maxCached {
		t.Errorf("cache remembers %d field positions, want at most %d", len(c.order), maxCached)
	}
	long := []byte(strings.Repeat("v", maxCachedVal+1))
	if got := c.val(long); got != string(long) {
		t.Errorf("val(long) = %q", got)
	}
}

func TestBoxFloat(t *testing.T) {
	for _, f := range []float64{0, 1, 200, 1023, 1024, 0.5, -1, math.Copysign(0, -1), 1e300} {
		got := boxFloat(f).(float64)
		if math.Float64bits(got) != math.Float64bits(f) {
			t.Errorf("boxFloat(%v) = %v", f, got)
		}
	}
}

var benchEvent = []byte(`{"ts":1732600000123,"service":"api","status":200,"latency_ms":12.5,"path":"/v1/orders"}`)

// BenchmarkDecode measures parse + preprocess of one typical event; events/s
// is reported as a metric.
func BenchmarkDecode(b *testing.B) {
	lo, hi := 0.0, 100000.0
	p := mustNew(b, config.Source{Name: "bench", Fields: map[string]config.Field{
		"latency_ms": {Type: "number", Unit: "ms", To: "s", As: "latency", Min: &lo, Max: &hi},
		"status":     {Type: "number", Required: true},
	}})
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEvent)))
	for b.Loop() {
		e, err := p.Decode(benchEvent, arrival)
		if err != nil || e.Flags != 0 {
			b.Fatal(err, e.Flags)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeEncodingJSON is the baseline Decode replaces.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(benchEvent, &m); err != nil {
			b.Fatal(err)
		}
		_ = event.Event{Fields: m}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
