package nats

import (
	"testing"

	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

// BenchmarkNATSJetStreamSource measures events per second from a JetStream
// stream (embedded server) through the durable consumer, acks included, into
// a window pipeline. b.N messages are published before the timer starts.
func BenchmarkNATSJetStreamSource(b *testing.B) {
	ns := startServer(b, 0, b.TempDir())
	js := withStream(b, ns)
	n := max(b.N, 1000)
	publish(b, js, 0, n)
	s := newSource(b, ns.ClientURL(), nil)
	sourcetest.Bench(b, s, sourcetest.NewPipelineSink(b, "src", n), n)
}
