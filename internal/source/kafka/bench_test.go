package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

// BenchmarkKafkaSource measures events per second from a Kafka topic
// (in-process cluster, 4 partitions) through the source, JSON decoding and
// preprocessing included, into a window pipeline. b.N events are produced
// before the timer starts.
func BenchmarkKafkaSource(b *testing.B) {
	c := cluster(b, "orders", 4)
	n := max(b.N, 1000)
	vals := make([][]byte, n)
	now := time.Now()
	for i := range vals {
		vals[i] = fmt.Appendf(nil, `{"service":"svc-%d","status":200,"latency":%d,"ts":%d}`, i%10, i%300, now.Add(time.Duration(i)*time.Microsecond).UnixMilli())
	}
	produce(b, c, "orders", vals...)
	s := newSource(b, c, nil)
	sourcetest.Bench(b, s, sourcetest.NewPipelineSink(b, "orders", n), n)
}
