package segment

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

func TestAppendFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"empty", map[string]any{}, `{}`},
		{"sorted keys and scalar types", map[string]any{"status": 503.0, "service": "api", "ok": false, "gone": nil},
			`{"gone":null,"ok":false,"service":"api","status":503}`},
		{"numbers as encoding/json writes them", map[string]any{"a": 0.1, "b": -2.5e-7, "c": 1e21, "d": 123456789012345678.0, "e": 1e20, "f": math.Copysign(0, -1), "g": 1.5e300},
			`{"a":0.1,"b":-2.5e-7,"c":1e+21,"d":123456789012345680,"e":100000000000000000000,"f":-0,"g":1.5e+300}`},
		{"NaN and infinities become null", map[string]any{"nan": math.NaN(), "inf": math.Inf(1), "arr": []any{math.Inf(-1), 1.0}},
			`{"arr":[null,1],"inf":null,"nan":null}`},
		{"escapes", map[string]any{"q\"k": "line\nbreak\ttab \\ \x01 <&> \u2028"},
			`{"q\"k":"line\nbreak\ttab \\ \u0001 <&> \u2028"}`},
		{"invalid UTF-8 becomes U+FFFD (keys sorted by their bytes)", map[string]any{"k": "a\xffb", "\xfe": "x"},
			`{"k":"a\ufffdb","\ufffd":"x"}`},
		{"arrays and objects inside arrays", map[string]any{"tags": []any{"a", 1.0, true, nil, []any{}, map[string]any{"z": 1.0, "y": "v"}}},
			`{"tags":["a",1,true,null,[],{"y":"v","z":1}]}`},
		{"types preprocessing never makes are null", map[string]any{"ch": make(chan int)}, `{"ch":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := appendFields(nil, tc.fields, nil)
			if string(got) != tc.want {
				t.Errorf("appendFields\n got %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

// TestAppendFieldsReusesKeys encodes a run of maps through the same scratch
// keys, as the writer does, so the names remembered from one event must
// never be used for the next unless they are exactly its names.
func TestAppendFieldsReusesKeys(t *testing.T) {
	var keys []fieldKV
	var buf []byte
	for _, tc := range []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"b": 1.0, "a": 2.0}, `{"a":2,"b":1}`},
		{map[string]any{"a": 3.0, "b": 4.0}, `{"a":3,"b":4}`},
		{map[string]any{"a": 3.0, "c": 4.0}, `{"a":3,"c":4}`},
		{map[string]any{"a": 1.0, "c": 2.0, "b": 3.0}, `{"a":1,"b":3,"c":2}`},
		{map[string]any{"c": 1.0}, `{"c":1}`},
		{map[string]any{}, `{}`},
		{map[string]any{"z": "x"}, `{"z":"x"}`},
	} {
		buf, keys = appendFields(buf[:0], tc.fields, keys)
		if string(buf) != tc.want {
			t.Errorf("appendFields(%v) = %s, want %s", tc.fields, buf, tc.want)
		}
	}
}

// FuzzEncodeFields checks appendFields against encoding/json: for any fields
// built from a JSON document (the shapes decoding produces) plus a key, a
// string and a number of the fuzzer's choosing (which may be invalid UTF-8,
// NaN or infinite), the output is valid JSON that decodes to the same value
// as encoding/json's encoding of the same fields with NaN and infinities
// replaced by null.
func FuzzEncodeFields(f *testing.F) {
	f.Add([]byte(`{"service":"api","status":503,"latency":0.012}`), "k", "v", 1.5)
	f.Add([]byte(`{"a":[1,"x",{"b":null}],"c":true}`), "\xff", "\xfe\x00\"", math.NaN())
	f.Add([]byte(`{}`), "", "\u2028<>&", math.Inf(-1))
	f.Add([]byte(`{"n":1e300,"m":-0,"s":"\u00e9\ud83d\ude00"}`), "x.y", "tab\t", 5e-324)
	f.Fuzz(func(t *testing.T, doc []byte, key, str string, num float64) {
		var m map[string]any
		if json.Unmarshal(doc, &m) != nil || m == nil {
			m = map[string]any{}
		}
		m[key+"_s"] = str
		m[key+"_n"] = num
		got, _ := appendFields(nil, m, nil)
		if !json.Valid(got) {
			t.Fatalf("not valid JSON: %q", got)
		}
		want, err := json.Marshal(finiteOnly(m))
		if err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		var gv, wv any
		if err := json.Unmarshal(got, &gv); err != nil {
			t.Fatalf("decoding %q: %v", got, err)
		}
		if err := json.Unmarshal(want, &wv); err != nil {
			t.Fatalf("decoding %q: %v", want, err)
		}
		if !reflect.DeepEqual(gv, wv) {
			t.Fatalf("decoded values differ\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkAppendFields(b *testing.B) {
	fields := map[string]any{"ts": 1.75e12, "service": "svc-01234", "status": 200.0, "latency_ms": 12.34, "latency": 0.01234}
	b.Run("appendFields", func(b *testing.B) {
		var buf []byte
		var keys []fieldKV
		for b.Loop() {
			buf, keys = appendFields(buf[:0], fields, keys)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(fields); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendEventLine: encoding one event as its segment line, what
// storing an event costs the writer besides the write itself.
func BenchmarkAppendEventLine(b *testing.B) {
	evs := benchEvents(10000)
	var buf []byte
	var keys []fieldKV
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := evs[i%len(evs)]
		buf, keys = appendEventLine(buf[:0], e.Time.UnixMicro(), e, keys)
	}
	b.SetBytes(int64(len(buf)))
}

// TestShortDecimalMatchesStrconv: the fast path for numbers like 0.123
// writes exactly what strconv's shortest formatting writes, for decimals of
// every length it handles, the values next to them and random doubles.
func TestShortDecimalMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(f float64) {
		t.Helper()
		got := string(appendJSONFloat(nil, f))
		if want := strconv.FormatFloat(f, 'f', -1, 64); got != want {
			t.Fatalf("appendJSONFloat(%v) = %s, want %s", f, got, want)
		}
	}
	for range 200000 {
		k := r.IntN(7)
		n := r.Int64N(1_000_000_000 * int64(pow10[k]))
		f := float64(n) / pow10[k]
		if f < 1e-6 || f >= 1e9 || f == math.Trunc(f) {
			continue
		}
		check(f)
		check(-f)
		check(math.Nextafter(f, 0))
		check(math.Nextafter(f, 2e9))
		if g := r.Float64() * math.Pow(10, float64(r.IntN(15)-6)); g >= 1e-6 && g < 1e9 {
			check(g)
		}
	}
	for _, f := range []float64{0.1, 0.2, 0.3, 1e-6, 0.000001, 0.0000015, 999999999.5, 123456.789012, 0.01234, 12.34} {
		check(f)
	}
}

// TestNeedsEscape: every byte value at every position of a word is found
// when JSON escapes it or it is not ASCII, and a word without such a byte
// passes.
func TestNeedsEscape(t *testing.T) {
	for c := range 256 {
		want := c < 0x20 || c == '"' || c == '\\' || c >= 0x80
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			if got := needsEscape(load64(string(b), 0)); got && !want || !got && want {
				t.Errorf("needsEscape(%q) = %v, want %v", b, got, want)
			}
		}
	}
}
