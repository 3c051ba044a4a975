package preprocess

import (
	"reflect"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// keepCfg is a source whose preprocessing reads fields that the pipelines
// of the tests below do not: the time field, a unit conversion into
// "latency" and a required, range-checked "status".
var keepCfg = config.Source{Name: "push", Fields: map[string]config.Field{
	"latency_ms": {Type: "number", Unit: "ms", To: "s", As: "latency"},
	"status":     {Type: "number", Required: true, Min: fp(100), Max: fp(599)},
}}

func TestKeep(t *testing.T) {
	ts := time.UnixMilli(1732600000123).UTC()
	tests := []struct {
		name      string
		keep      []string
		in        string
		want      map[string]any
		wantTime  time.Time
		wantFlags event.Flag
	}{
		{name: "only what pipelines read", keep: []string{"service", "status", "latency"},
			in:   `{"ts":1732600000123,"service":"api","status":200,"latency_ms":12.5,"path":"/v1/orders"}`,
			want: map[string]any{"service": "api", "status": 200.0, "latency": 0.0125}, wantTime: ts},
		{name: "conversion input kept too", keep: []string{"latency_ms", "latency"},
			in:   `{"ts":1732600000123,"latency_ms":1500,"status":200}`,
			want: map[string]any{"latency_ms": 1500.0, "latency": 1.5}, wantTime: ts},
		{name: "time field kept", keep: []string{"ts"},
			in:   `{"ts":1732600000123,"status":200}`,
			want: map[string]any{"ts": 1732600000123.0}, wantTime: ts},
		{name: "nothing kept, still flagged", keep: []string{},
			in:   `{"ts":"2024-11-26T05:46:40.123Z","status":"abc"}`,
			want: map[string]any{}, wantTime: ts, wantFlags: event.FlagBadType},
		{name: "missing required field flagged", keep: []string{"service"},
			in:   `{"service":"api"}`,
			want: map[string]any{"service": "api"}, wantTime: arrival,
			wantFlags: event.FlagNoTimestamp | event.FlagMissingField},
		{name: "out of range flagged, not kept", keep: []string{"latency"},
			in:   `{"ts":1732600000123,"status":700,"latency_ms":2}`,
			want: map[string]any{"latency": 0.002}, wantTime: ts, wantFlags: event.FlagOutOfRange},
		{name: "nested kept, sibling objects skipped", keep: []string{"http.status", "a.b.c"},
			in:   `{"ts":1732600000123,"status":200,"http":{"status":500,"path":"/x","h":{"k":[1,{"z":2}]}},"a":{"b":{"c":"deep","d":1}},"x":{"y":1}}`,
			want: map[string]any{"http.status": 500.0, "a.b.c": "deep"}, wantTime: ts},
		{name: "arrays and nested values kept whole", keep: []string{"tags", "obj"},
			in:   `{"ts":1732600000123,"status":200,"tags":["a",{"b":null}],"obj":[{"k":1}]}`,
			want: map[string]any{"tags": []any{"a", map[string]any{"b": nil}}, "obj": []any{map[string]any{"k": 1.0}}}, wantTime: ts},
		{name: "duplicate key: the last wins", keep: []string{"service", "latency"},
			in:   `{"ts":1732600000123,"status":200,"latency_ms":1,"service":"a","latency_ms":3,"service":"b"}`,
			want: map[string]any{"service": "b", "latency": 0.003}, wantTime: ts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, keepCfg)
			p.Keep(tc.keep)
			e, err := p.Decode([]byte(tc.in), arrival)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(e.Fields, tc.want) || !e.Time.Equal(tc.wantTime) || e.Flags != tc.wantFlags {
				t.Errorf("Decode(%s)\n got %v, time %v, flags %v\nwant %v, time %v, flags %v",
					tc.in, e.Fields, e.Time, e.Flags, tc.want, tc.wantTime, tc.wantFlags)
			}
			if string(e.Raw) != tc.in {
				t.Errorf("Raw = %s, want the whole message", e.Raw)
			}
		})
	}
}

// TestKeepRejectsTheSame checks that a skipped field is still checked as
// JSON: every message Decode rejects without Keep it rejects with Keep,
// with the same reason.
func TestKeepRejectsTheSame(t *testing.T) {
	for _, in := range []string{
		`{"path":"x`, `{"path":"a\qb"}`, `{"path":"\u12"}`, "{\"path\":\"a\x01\"}",
		`{"n":1e400}`, `{"n":-}`, `{"n":1.}`, `{"n":tru}`, `{"n":nul}`, `{"o":{"a":1,}}`,
		`{"o":{"a" 1}}`, `{"o":[1,2}`, `{"o":[1 2]}`, `{"o":{"a":{"b":[}}}`, `{"o":{1:2}}`,
		`{"service":"a"} x`, `{"o":` + string(make([]byte, 0)) + `}`, `{"o":[`,
	} {
		full := mustNew(t, keepCfg)
		kept := mustNew(t, keepCfg)
		kept.Keep([]string{"service"})
		_, werr := full.Decode([]byte(in), arrival)
		_, err := kept.Decode([]byte(in), arrival)
		if werr == nil || err == nil || err.Error() != werr.Error() {
			t.Errorf("Decode(%q) with Keep: %v, without: %v", in, err, werr)
		}
	}
}

// TestKeepChanges decodes through one Decoder while Keep changes, the way a
// reload changes what the pipelines read: the cached classes of recurring
// names must follow.
func TestKeepChanges(t *testing.T) {
	p := mustNew(t, keepCfg)
	d := p.Decoder()
	defer d.Release()
	msg := []byte(`{"ts":1732600000123,"service":"api","status":200,"latency_ms":12.5,"path":"/v1/orders"}`)
	for _, tc := range []struct {
		keep []string
		want []string
	}{
		{[]string{"service"}, []string{"service"}},
		{[]string{"service"}, []string{"service"}},
		{[]string{"path", "latency"}, []string{"latency", "path"}},
		{nil, []string{"latency", "latency_ms", "path", "service", "status", "ts"}},
		{[]string{"status"}, []string{"status"}},
	} {
		p.Keep(tc.keep)
		var e event.Event
		if err := d.Decode(msg, arrival, &e); err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range e.Fields {
			got = append(got, k)
		}
		if !sameSet(got, tc.want) {
			t.Errorf("Keep(%v): fields %v, want %v", tc.keep, got, tc.want)
		}
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// FuzzDecodeKeep checks Keep against decoding everything: the same messages
// are rejected with the same reason, and an accepted one has the same
// time, flags and kept values, and nothing else.
func FuzzDecodeKeep(f *testing.F) {
	for _, s := range []string{
		`{"ts":1732600000123,"service":"api","status":200,"latency_ms":12.5,"path":"/v1/orders"}`,
		`{"http":{"status":500,"req":{"path":"/x"}},"tags":["a",{"b":null}],"status":"7"}`,
		`{"s":"\ud83d\ude00\u00e9\n","n":-1.5e-7,"b":true,"z":null,"ts":"2024-11-26T05:46:40Z"}`,
		`{"a":{"b":1},"a.b":2,"latency_ms":"3","latency":4}`,
		`{"latency":1,"latency_ms":2,"latency":3}`,
		`[1]`, `{"a":1e400}`, `{"a":"x`, ``, `{"x":{"y":[1,{"z":"\q"}]}}`,
	} {
		f.Add([]byte(s))
	}
	// The second source chains conversions (a's "as" target is b, whose
	// type is string), converts to bool and reads a nested time field,
	// none of them kept but c.
	chain := config.Source{Name: "chain", TimeField: "t.x", Fields: map[string]config.Field{
		"a": {Unit: "ms", To: "s", As: "b"},
		"b": {Type: "string"},
		"c": {Type: "bool", Required: true},
		"d": {Type: "number", Min: fp(0)},
	}}
	var checks []keepCheck
	for _, tc := range []struct {
		cfg  config.Source
		keep []string
	}{
		{keepCfg, []string{"service", "status", "latency", "http.status", "a.b", "tags", "s"}},
		{chain, []string{"c", "x.y", "tags"}},
	} {
		full := mustNew(f, tc.cfg)
		kept := mustNew(f, tc.cfg)
		kept.Keep(tc.keep)
		checks = append(checks, keepCheck{full, kept, tc.keep})
	}
	f.Add([]byte(`{"t":{"x":"1732600000"},"a":1500,"b":7,"c":"true","d":-1}`))
	f.Add([]byte(`{"a":"12","c":1,"x":{"y":[null]},"t":{"x":1e3}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range checks {
			c.check(t, data)
		}
	})
}

type keepCheck struct {
	full, kept *Processor
	keep       []string
}

func (c keepCheck) check(t *testing.T, data []byte) {
	want, werr := c.full.Decode(data, arrival)
	got, err := c.kept.Decode(data, arrival)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
		t.Fatalf("Decode(%q) with Keep: %v, without: %v", data, err, werr)
	}
	if err != nil {
		return
	}
	restricted := map[string]any{}
	for _, k := range c.keep {
		if v, ok := want.Fields[k]; ok {
			restricted[k] = v
		}
	}
	if !reflect.DeepEqual(got.Fields, restricted) || !got.Time.Equal(want.Time) || got.Flags != want.Flags {
		t.Fatalf("Decode(%q) with Keep\n got %#v, %v, %v\nwant %#v, %v, %v",
			data, got.Fields, got.Time, got.Flags, restricted, want.Time, want.Flags)
	}
}
