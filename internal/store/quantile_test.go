package store

import (
	"database/sql"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the reference quantile_cont

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

// TestPipelineQuantileMatchesDuckDB is a property test: random latencies for
// groups of 1 to 300 events go through a tumbling and a sliding pipeline, and
// every emitted quantile is checked against DuckDB's quantile_cont over the
// same events of that group and window: equal up to 8 values (the exact
// path), within the sketch's 1% beyond: a query over the stored events
// answers what the alert said.
func TestPipelineQuantileMatchesDuckDB(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	if _, err := db.Exec(`CREATE TABLE ev (grp VARCHAR, ts BIGINT, v DOUBLE)`); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(18, 1))
	var evs []*event.Event
	ins, err := db.Prepare(`INSERT INTO ev VALUES (?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	for g := range 40 {
		grp := string(rune('a'+g%26)) + string(rune('a'+g/26))
		n := 1 + rng.IntN(12)
		if g%3 == 0 {
			n = 9 + rng.IntN(300)
		}
		for range n {
			v := math.Exp(rng.NormFloat64()) * 100 // latency-like, ms
			if rng.IntN(10) == 0 {
				v = float64(rng.IntN(5)) + 1 // ties
			}
			ts := base.Add(time.Duration(rng.Int64N(int64(3 * time.Minute))))
			evs = append(evs, &event.Event{Time: ts, Source: "push", Fields: map[string]any{"g": grp, "latency": v}})
			if _, err := ins.Exec(grp, ts.UnixNano(), v); err != nil {
				t.Fatal(err)
			}
		}
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	ref, err := db.Prepare(`SELECT count(*), quantile_cont(v, ?) FROM ev WHERE grp = ? AND ts >= ? AND ts < ?`)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []config.Window{{Size: time.Minute}, {Size: time.Minute, Every: 20 * time.Second}} {
		for _, q := range []float64{0.5, 0.9, 0.99} {
			var got []*event.Window
			p, err := window.New(config.Pipeline{
				Name: "p", GroupBy: []string{"g"}, Window: w, Lateness: config.Duration(5 * time.Minute), // the events come shuffled
				Aggregates: config.Aggregates{{Name: "p", Expr: "quantile(latency, " + strconv.FormatFloat(q, 'g', -1, 64) + ")"}},
			}, func(w *event.Window) { got = append(got, w) })
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(evs); i += 50 {
				p.Add(evs[i:min(i+50, len(evs))], base)
			}
			p.Advance(base.Add(time.Hour))
			if len(got) == 0 {
				t.Fatal("no window emitted")
			}
			for _, win := range got {
				var n int64
				var want float64
				if err := ref.QueryRow(q, win.Group[0], win.Start.UnixNano(), win.End.UnixNano()).Scan(&n, &want); err != nil {
					t.Fatal(err)
				}
				v := win.Values[0]
				tol := 1e-9 * want
				if n > 8 {
					tol = 0.01 * want
				}
				if n != win.Count || math.Abs(v-want) > tol {
					t.Errorf("window %v every %v, group %s [%s, %s): %d events, p%v = %v, DuckDB quantile_cont: %d events, %v",
						w.Size, w.Every, win.Group[0], win.Start.Format("15:04:05"), win.End.Format("15:04:05"), win.Count, q*100, v, n, want)
				}
			}
		}
	}
}
