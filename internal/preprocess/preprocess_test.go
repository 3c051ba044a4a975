package preprocess

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

func fp(f float64) *float64 { return &f }

func TestApply(t *testing.T) {
	tsMilli := time.UnixMilli(1732600000123).UTC()
	tests := []struct {
		name      string
		cfg       config.Source
		in        string
		preset    time.Time // e.Time set by the source before Apply
		wantTime  time.Time
		wantFlags event.Flag
		want      map[string]any // fields that must have these values
		absent    []string       // fields that must not exist
	}{
		{name: "unix ms", in: `{"ts":1732600000123}`, wantTime: tsMilli},
		{name: "unix s", in: `{"ts":1732600000}`, wantTime: time.Unix(1732600000, 0).UTC()},
		{name: "unix s fractional", in: `{"ts":1732600000.5}`, wantTime: time.Unix(1732600000, 5e8).UTC()},
		{name: "unix us", in: `{"ts":1732600000123456}`, wantTime: time.UnixMicro(1732600000123456).UTC()},
		{name: "unix ns", in: `{"ts":1732600000123456768}`, wantTime: time.Unix(0, 1732600000123456768).UTC()},
		{name: "rfc3339", in: `{"ts":"2024-11-26T05:46:40.123Z"}`, wantTime: tsMilli},
		{name: "rfc3339 offset", in: `{"ts":"2024-11-26T06:46:40.123+01:00"}`, wantTime: tsMilli},
		{name: "numeric string", in: `{"ts":"1732600000123"}`, wantTime: tsMilli},
		{name: "custom time field nested", cfg: config.Source{TimeField: "meta.time"},
			in: `{"meta":{"time":1732600000123},"ts":5}`, wantTime: tsMilli},
		{name: "no timestamp", in: `{"a":1}`, wantTime: arrival, wantFlags: event.FlagNoTimestamp},
		{name: "null timestamp", in: `{"ts":null}`, wantTime: arrival, wantFlags: event.FlagNoTimestamp},
		{name: "unreadable timestamp", in: `{"ts":"yesterday"}`, wantTime: arrival,
			wantFlags: event.FlagNoTimestamp | event.FlagBadType},
		{name: "source time stands", in: `{"a":1}`, preset: tsMilli, wantTime: tsMilli},
		// Times int64 nanoseconds cannot hold are set to the nearer bound
		// and flagged, never wrapped around.
		{name: "rfc3339 year 3000", in: `{"ts":"3000-01-01T00:00:00Z"}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "rfc3339 year 9999", in: `{"ts":"9999-12-31T23:59:59.999Z"}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "rfc3339 year 2262", in: `{"ts":"2262-04-12T00:00:00Z"}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "rfc3339 year 1600", in: `{"ts":"1600-01-01T00:00:00Z"}`, wantTime: MinTime, wantFlags: event.FlagOutOfRange},
		{name: "rfc3339 year 2261 kept", in: `{"ts":"2261-12-31T23:59:59Z"}`, wantTime: time.Date(2261, 12, 31, 23, 59, 59, 0, time.UTC)},
		{name: "unix s year 3000", in: `{"ts":32503680000}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "unix s year 5000", in: `{"ts":95617584000}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "unix ms year 3000", in: `{"ts":32503680000000}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "unix ns past int64", in: `{"ts":9300000000000000000}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "unix beyond every unit", in: `{"ts":1e300}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "unix negative beyond", in: `{"ts":-1e300}`, wantTime: MinTime, wantFlags: event.FlagOutOfRange},
		{name: "numeric string infinity", in: `{"ts":"Inf"}`, wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "numeric string NaN", in: `{"ts":"NaN"}`, wantTime: arrival, wantFlags: event.FlagNoTimestamp | event.FlagBadType},
		{name: "source time beyond", in: `{"a":1}`, preset: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
			wantTime: MaxTime, wantFlags: event.FlagOutOfRange},
		{name: "time field beats source time", in: `{"ts":1732600000}`, preset: tsMilli,
			wantTime: time.Unix(1732600000, 0).UTC()},

		{name: "number string converted", cfg: fields("status", config.Field{Type: "number"}),
			in: `{"ts":1,"status":"12"}`, want: map[string]any{"status": 12.0}},
		{name: "number bad type kept", cfg: fields("status", config.Field{Type: "number"}),
			in: `{"ts":1,"status":"abc"}`, wantFlags: event.FlagBadType, want: map[string]any{"status": "abc"}},
		{name: "bool is not a number", cfg: fields("status", config.Field{Type: "number"}),
			in: `{"ts":1,"status":true}`, wantFlags: event.FlagBadType, want: map[string]any{"status": true}},
		{name: "string from number", cfg: fields("code", config.Field{Type: "string"}),
			in: `{"ts":1,"code":404}`, want: map[string]any{"code": "404"}},
		{name: "string from array is bad", cfg: fields("code", config.Field{Type: "string"}),
			in: `{"ts":1,"code":[1]}`, wantFlags: event.FlagBadType, want: map[string]any{"code": []any{1.0}}},
		{name: "bool from string", cfg: fields("ok", config.Field{Type: "bool"}),
			in: `{"ts":1,"ok":"true"}`, want: map[string]any{"ok": true}},
		{name: "bool bad", cfg: fields("ok", config.Field{Type: "bool"}),
			in: `{"ts":1,"ok":"maybe"}`, wantFlags: event.FlagBadType},
		{name: "unit to new field", cfg: fields("latency_ms", config.Field{Type: "number", Unit: "ms", To: "s", As: "latency"}),
			in: `{"ts":1,"latency_ms":1500}`, want: map[string]any{"latency_ms": 1500.0, "latency": 1.5}},
		{name: "unit in place", cfg: fields("size", config.Field{Unit: "KiB", To: "b"}),
			in: `{"ts":1,"size":2}`, want: map[string]any{"size": 2048.0}},
		{name: "unit after string conversion", cfg: fields("d", config.Field{Type: "number", Unit: "s", To: "ms", As: "d_ms"}),
			in: `{"ts":1,"d":"0.25"}`, want: map[string]any{"d": 0.25, "d_ms": 250.0}},
		{name: "unit on non-number flagged", cfg: fields("d", config.Field{Unit: "s", To: "ms", As: "d_ms"}),
			in: `{"ts":1,"d":"slow"}`, wantFlags: event.FlagBadType, absent: []string{"d_ms"}},
		{name: "percent to ratio", cfg: fields("cpu", config.Field{Unit: "percent", To: "ratio", As: "cpu_ratio"}),
			in: `{"ts":1,"cpu":50}`, want: map[string]any{"cpu_ratio": 0.5}},
		{name: "required present", cfg: fields("status", config.Field{Required: true}), in: `{"ts":1,"status":200}`},
		{name: "required absent", cfg: fields("status", config.Field{Required: true}),
			in: `{"ts":1}`, wantFlags: event.FlagMissingField},
		{name: "required null", cfg: fields("status", config.Field{Required: true}),
			in: `{"ts":1,"status":null}`, wantFlags: event.FlagMissingField},
		{name: "required nested", cfg: fields("http.status", config.Field{Type: "number", Required: true}),
			in: `{"ts":1,"http":{"status":"500"}}`, want: map[string]any{"http.status": 500.0}},
		{name: "in range", cfg: fields("cpu", config.Field{Type: "number", Min: fp(0), Max: fp(100)}),
			in: `{"ts":1,"cpu":100}`},
		{name: "above max kept", cfg: fields("cpu", config.Field{Type: "number", Min: fp(0), Max: fp(100)}),
			in: `{"ts":1,"cpu":101}`, wantFlags: event.FlagOutOfRange, want: map[string]any{"cpu": 101.0}},
		{name: "below min kept", cfg: fields("cpu", config.Field{Min: fp(0)}),
			in: `{"ts":1,"cpu":-1}`, wantFlags: event.FlagOutOfRange, want: map[string]any{"cpu": -1.0}},
		{name: "several flags", cfg: config.Source{Fields: map[string]config.Field{
			"a": {Required: true}, "b": {Type: "number"}, "c": {Max: fp(1)}}},
			in: `{"b":"x","c":2}`, wantTime: arrival,
			wantFlags: event.FlagNoTimestamp | event.FlagMissingField | event.FlagBadType | event.FlagOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.cfg)
			fields, err := p.DecodeFields([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			e := &event.Event{Fields: fields, Time: tt.preset}
			p.Apply(e, arrival)
			if e.Flags != tt.wantFlags {
				t.Errorf("Flags = %v, want %v", e.Flags, tt.wantFlags)
			}
			if !tt.wantTime.IsZero() && !e.Time.Equal(tt.wantTime) {
				t.Errorf("Time = %v, want %v", e.Time, tt.wantTime)
			}
			for k, v := range tt.want {
				if !reflect.DeepEqual(e.Fields[k], v) {
					t.Errorf("field %s = %#v, want %#v", k, e.Fields[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := e.Fields[k]; ok {
					t.Errorf("field %s = %#v, want absent", k, e.Fields[k])
				}
			}
		})
	}
}

func fields(key string, f config.Field) config.Source {
	return config.Source{Fields: map[string]config.Field{key: f}}
}

func TestApplyNilFields(t *testing.T) {
	p := mustNew(t, fields("x", config.Field{Required: true}))
	e := &event.Event{}
	p.Apply(e, arrival)
	if e.Flags != event.FlagNoTimestamp|event.FlagMissingField || !e.Time.Equal(arrival) {
		t.Errorf("got flags %v time %v", e.Flags, e.Time)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		f    config.Field
		want string
	}{
		{"unknown type", config.Field{Type: "int"}, `unknown type "int"`},
		{"unknown unit", config.Field{Unit: "furlong", To: "s"}, `unknown unit "furlong"`},
		{"missing target", config.Field{Unit: "ms"}, `unknown target unit ""`},
		{"dimension mismatch", config.Field{Unit: "ms", To: "kb"}, "cannot convert ms (time) to kb (bytes)"},
		{"unit on string", config.Field{Type: "string", Unit: "ms", To: "s"}, "a unit needs type number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(fields("x", tt.f))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{"objects", `[{"a":1}, {"b":"]"} ,{"c":[1,{"d":2}]}]`, []string{`{"a":1}`, `{"b":"]"}`, `{"c":[1,{"d":2}]}`}, ""},
		{"scalars kept for Decode to refuse", ` [1, "x\"y", null] `, []string{`1`, `"x\"y"`, `null`}, ""},
		{"malformed element is cut, not fatal", `[{"a":}, {"b":2}]`, []string{`{"a":}`, `{"b":2}`}, ""},
		{"empty", `[ ]`, nil, ""},
		{"unterminated", `[{"a":1}`, nil, "unexpected end of input"},
		{"missing element", `[{"a":1},]`, nil, "missing array element"},
		{"trailing text", `[{"a":1}] x`, nil, "after the array"},
		{"unterminated string", `[{"a":"x}]`, nil, "unterminated string"},
		{"not an array", `{"a":1}`, nil, "not an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitArray([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SplitArray error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gs []string
			for _, g := range got {
				gs = append(gs, string(g))
			}
			if !reflect.DeepEqual(gs, tt.want) {
				t.Errorf("SplitArray = %q, want %q", gs, tt.want)
			}
		})
	}
}

func TestLines(t *testing.T) {
	type line struct {
		n   int
		msg string
	}
	tests := []struct {
		name string
		in   string
		want []line
	}{
		{"lf", "{\"a\":1}\n{\"b\":2}\n", []line{{1, `{"a":1}`}, {2, `{"b":2}`}}},
		{"crlf and blanks", "{\"a\":1}\r\n\r\n  \n{\"b\":2}", []line{{1, `{"a":1}`}, {4, `{"b":2}`}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []line
			Lines([]byte(tt.in), func(n int, msg []byte) { got = append(got, line{n, string(msg)}) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lines = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIsArray(t *testing.T) {
	for in, want := range map[string]bool{" \n[1]": true, `{"a":1}`: false, "": false, "  ": false} {
		if got := IsArray([]byte(in)); got != want {
			t.Errorf("IsArray(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestConcurrentDecode(t *testing.T) {
	p := mustNew(t, fields("status", config.Field{Type: "number"}))
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				e, err := p.Decode([]byte(`{"ts":1,"svc":"api","status":"200","n":{"x":1}}`), arrival)
				if err != nil || e.Fields["status"] != 200.0 || e.Fields["n.x"] != 1.0 || e.Fields["svc"] != "api" {
					t.Errorf("Decode = %v, %v", e, err)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
