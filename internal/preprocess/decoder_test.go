package preprocess

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// manyServiceLines are events shaped like lookout-load's (the push-10k-groups
// scenario): 10,000 services in turn, a millisecond time stamp, a status and
// a latency in ms with two decimals.
var manyServiceLines = func() [][]byte {
	out := make([][]byte, 10_000)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"ts":%d,"service":"svc-%05d","status":%d,"latency_ms":%.2f}`,
			1_750_000_000_000+int64(i), i, 200+300*(i%50/49), 3.7+float64(i%977)/7)
	}
	return out
}()

// BenchmarkDecodeManyServices decodes manyServiceLines with the unit
// conversion of the scenario's push source, one event per op. Unlike
// BenchmarkDecode, the string values do not repeat from one message to the
// next, so it shows what high-cardinality values cost.
func BenchmarkDecodeManyServices(b *testing.B) {
	for _, keep := range []bool{false, true} {
		b.Run(fmt.Sprintf("keep=%v", keep), func(b *testing.B) { benchDecodeManyServices(b, keep) })
	}
}

// benchDecodeManyServices is BenchmarkDecodeManyServices, with keep the
// event keeping only the fields the scenario's pipeline reads.
func benchDecodeManyServices(b *testing.B, keep bool) {
	p := mustNew(b, config.Source{Name: "push", Fields: map[string]config.Field{
		"latency_ms": {Type: "number", Unit: "ms", To: "s", As: "latency"},
	}})
	if keep {
		p.Keep([]string{"latency", "service", "status"})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := p.Decode(manyServiceLines[i], arrival); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(manyServiceLines) {
			i = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestDecoderAcrossMessages decodes messages whose fields come in changing
// orders, counts and nestings through one Decoder, the way push.Ingest does
// with a body, so the position-predicted names must never leak from one
// message into the next.
func TestDecoderAcrossMessages(t *testing.T) {
	p := mustNew(t, config.Source{Name: "push"})
	d := p.Decoder()
	defer d.Release()
	for _, tc := range []struct {
		msg  string
		want map[string]any
	}{
		{`{"a":1,"b":"x","c":true}`, map[string]any{"a": 1.0, "b": "x", "c": true}},
		{`{"b":"y","a":2}`, map[string]any{"a": 2.0, "b": "y"}},
		{`{"a":3,"b":"x","c":false,"d":null}`, map[string]any{"a": 3.0, "b": "x", "c": false, "d": nil}},
		{`{"h":{"a":1,"b":2},"a":4}`, map[string]any{"h.a": 1.0, "h.b": 2.0, "a": 4.0}},
		{`{"a":5,"b":"x","c":true}`, map[string]any{"a": 5.0, "b": "x", "c": true}},
	} {
		var e event.Event
		if err := d.Decode([]byte(tc.msg), arrival, &e); err != nil {
			t.Fatalf("Decode(%s): %v", tc.msg, err)
		}
		if !reflect.DeepEqual(e.Fields, tc.want) || e.Source != "push" || string(e.Raw) != tc.msg {
			t.Errorf("Decode(%s) = %v (source %q), want %v", tc.msg, e.Fields, e.Source, tc.want)
		}
	}
	// A message that fails leaves the caller's event as it was.
	e := event.Event{Source: "kept"}
	if err := d.Decode([]byte(`{"a":`), arrival, &e); err == nil || e.Source != "kept" || e.Fields != nil {
		t.Errorf("Decode of a broken message: err %v, event %+v", err, e)
	}
}
