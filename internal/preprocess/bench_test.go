package preprocess

import (
	"fmt"
	"testing"

	"github.com/lookout-dev/lookout/internal/config"
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
	p := mustNew(b, config.Source{Name: "push", Fields: map[string]config.Field{
		"latency_ms": {Type: "number", Unit: "ms", To: "s", As: "latency"},
	}})
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
