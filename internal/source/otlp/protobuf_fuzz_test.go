package otlp

import (
	"encoding/json"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

// FuzzProtobuf posts arbitrary bytes as an OTLP/HTTP protobuf request: the
// receiver never panics, answers 200 with a decodable response whose partial
// success counts exactly the rejected points, or 400 with the body rejected
// whole; every event it makes has a metric name, a time and a JSON raw form.
func FuzzProtobuf(f *testing.F) {
	s := newSource(f, config.Source{})
	f.Add(encode(f, sampleRequest(), ContentTypeProtobuf, false))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		sink := &sourcetest.Sink{}
		w := post(s, sink, ContentTypeProtobuf, false, body)
		switch w.Code {
		case http.StatusOK:
			var resp colmetricpb.ExportMetricsServiceResponse
			if err := proto.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatalf("200 with an undecodable answer %q", w.Body)
			}
			if int(resp.GetPartialSuccess().GetRejectedDataPoints()) != len(sink.Rejected()) {
				t.Fatalf("partial success %v but %d rejected", resp.GetPartialSuccess(), len(sink.Rejected()))
			}
			for _, e := range sink.Events() {
				if _, ok := e.Fields["metric"].(string); !ok || !json.Valid(e.Raw) || e.Time.IsZero() {
					t.Fatalf("bad event %+v", e)
				}
			}
		case http.StatusBadRequest:
			if len(sink.Rejected()) != 1 || len(sink.Events()) != 0 {
				t.Fatalf("400 with events %v, rejected %v", sink.Events(), sink.Rejected())
			}
		default:
			t.Fatalf("status %d for %x", w.Code, body)
		}
	})
}
