package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/store"
	"github.com/lookout-dev/lookout/internal/testserver"
)

// A lookout killed with entries pending in a Redis Streams group, restarted
// at once with default settings, while traffic stops 3 s after the restart:
// Redis hands the dead consumer's entries over only after claim_idle (30 s),
// and the source reads what was written meanwhile after them. Every one of
// those events must land in exactly one closed window, none late, without
// further traffic to close them.
func TestRedisReplayAfterCrashClosesItsWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out claim_idle (30 s)")
	}
	rs := testserver.Redis(t)
	addr := rs.Addr
	rdb := rs.Client(t)
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, "clicks", "lookout", "0").Err(); err != nil {
		t.Fatal(err)
	}
	sent := 0
	add := func(ts time.Time) {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "clicks",
			Values: map[string]any{"data": fmt.Sprintf(`{"ts":%d,"service":"a"}`, ts.UnixMilli())}}).Err(); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	// What the killed lookout had read and not acknowledged: 20 s of events.
	crash := time.Now()
	for i := range 200 {
		add(crash.Add(-20*time.Second + time.Duration(i)*100*time.Millisecond))
	}
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "lookout", Consumer: "killed",
		Streams: []string{"clicks", ">"}, Count: 1000}).Err(); err != nil {
		t.Fatal(err)
	}

	a := runApp(t, fmt.Sprintf(`
sources:
  - {name: src, type: redis, mode: stream, addr: %s, stream: clicks, group: lookout, time_field: ts}
pipelines:
  - {name: api, from: [src], group_by: [service], window: 10s, aggregates: {n: count()}}
`, addr))
	for range 30 { // 3 s of traffic after the restart, then none
		add(time.Now())
		time.Sleep(100 * time.Millisecond)
	}
	p := a.g.Load().pipelines[0]
	var inWindows int64
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := a.store.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		ws, err := a.store.Windows(ctx, store.WindowQuery{Pipeline: "api"})
		if err != nil {
			t.Fatal(err)
		}
		inWindows = 0
		for _, w := range ws {
			inWindows += w.Count
		}
		s := p.Stats()
		if inWindows == int64(sent) && s.OpenWindows == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events in closed windows, %d late, %d windows open, 90 s after the restart",
				inWindows, sent, s.Late, s.OpenWindows)
		}
	}
	if late := p.Stats().Late; late != 0 {
		t.Errorf("%d replayed events counted late", late)
	}
}
