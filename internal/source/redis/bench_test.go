package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

// BenchmarkRedisStreamSource measures events per second from a Redis stream
// (redis-server on loopback) through the source, XACKs included, into a
// window pipeline. b.N entries are added before the timer starts.
func BenchmarkRedisStreamSource(b *testing.B) {
	srv := startRedis(b)
	rdb := client(b, srv)
	n := max(b.N, 1000)
	now := time.Now()
	pipe := rdb.Pipeline()
	for i := range n {
		pipe.XAdd(context.Background(), &goredis.XAddArgs{Stream: "clicks", Values: map[string]any{
			"data": fmt.Sprintf(`{"service":"svc-%d","status":200,"latency":%d,"ts":%d}`, i%10, i%300, now.Add(time.Duration(i)*time.Microsecond).UnixMilli())}})
		if i%10000 == 9999 {
			if _, err := pipe.Exec(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		b.Fatal(err)
	}
	s := newSource(b, srv, nil)
	sourcetest.Bench(b, s, sourcetest.NewPipelineSink(b, "src", n), n)
}
