package window

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

func baselineConfig() config.Pipeline {
	return config.Pipeline{
		GroupBy: []string{"service"}, Window: config.Window{Size: 10 * time.Second}, Baseline: 6, MinBaseline: 3,
		Aggregates: aggs("n", "count()", "lat", "avg(latency)",
			"z", "zscore(latency)", "e", "ewma(latency, 0.3)", "m", "mad_score(lat)", "c", "change(n)"),
	}
}

// feedWindows adds windows from..to-1 (10 s each) of two services to every
// pipeline, the same events to each, and closes them.
func feedWindows(rng *rand.Rand, from, to int, ps ...*Pipeline) {
	for w := from; w < to; w++ {
		var batch []*event.Event
		for _, svc := range []string{"api", "db"} {
			for range 1 + rng.IntN(5) {
				batch = append(batch, ev(time.Duration(w)*10*time.Second+time.Duration(rng.IntN(9000))*time.Millisecond,
					"service", svc, "latency", rng.Float64()))
			}
		}
		for _, p := range ps {
			// Each pipeline writes the events' flags: give each its own copies.
			own := make([]*event.Event, len(batch))
			for i, e := range batch {
				c := *e
				own[i] = &c
			}
			p.Add(own, time.Time{})
			p.Advance(at(time.Duration(w+1) * 10 * time.Second))
		}
	}
}

// A pipeline restored from a checkpoint judges the next windows exactly as
// the one that wrote it would have; one started cold does not.
func TestBaselineCheckpointRestoresHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	orig, origOut := mustNew(t, baselineConfig())
	feedWindows(rng, 0, 8, orig)
	origOut.take()

	var ckpt bytes.Buffer
	if err := orig.SaveBaselines(&ckpt); err != nil {
		t.Fatal(err)
	}
	restored, restoredOut := mustNew(t, baselineConfig())
	n, err := restored.LoadBaselines(bytes.NewReader(ckpt.Bytes()))
	if err != nil || n != 2 {
		t.Fatalf("LoadBaselines = %d, %v; want 2 groups", n, err)
	}
	restored.Resume(at(80 * time.Second))
	cold, coldOut := mustNew(t, baselineConfig())
	cold.Resume(at(80 * time.Second))

	feedWindows(rng, 8, 12, orig, restored, cold)
	want, got, colds := origOut.take(), restoredOut.take(), coldOut.take()
	if len(want) != 8 || len(got) != len(want) {
		t.Fatalf("emitted %d and %d windows, want 8 each", len(want), len(got))
	}
	differs := false
	for i, w := range want {
		for j, name := range w.Names {
			if !sameFloat(got[i].Values[j], w.Values[j]) {
				t.Errorf("window %d %v %s = %v after restore, want %v", i, w.Group, name, got[i].Values[j], w.Values[j])
			}
			if !sameFloat(colds[i].Values[j], w.Values[j]) {
				differs = true
			}
		}
	}
	if !differs {
		t.Error("a cold pipeline gave the same values: the test does not show the histories")
	}

	// Saving the restored state again gives the same bytes as the
	// original's: nothing was lost or reordered on the way.
	var a, b bytes.Buffer
	if err := orig.SaveBaselines(&a); err != nil {
		t.Fatal(err)
	}
	if err := restored.SaveBaselines(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the restored pipeline's checkpoint differs from the original's")
	}
}

func TestBaselineCheckpointRefusesWhatItCannotUse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p, _ := mustNew(t, baselineConfig())
	feedWindows(rng, 0, 4, p)
	var ckpt bytes.Buffer
	if err := p.SaveBaselines(&ckpt); err != nil {
		t.Fatal(err)
	}
	good := ckpt.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40

	other := baselineConfig()
	other.Baseline = 8
	for _, tc := range []struct {
		name string
		cfg  config.Pipeline
		data []byte
		want string
	}{
		{"another baseline length", other, good, ErrBaselineMismatch.Error()},
		{"a damaged byte", baselineConfig(), flipped, "checksum mismatch"},
		{"cut short", baselineConfig(), good[:len(good)-9], "checksum mismatch"},
		{"not a checkpoint", baselineConfig(), []byte("hello, world"), "not a baseline checkpoint"},
		{"empty", baselineConfig(), nil, "not a baseline checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := mustNew(t, tc.cfg)
			n, err := q.LoadBaselines(bytes.NewReader(tc.data))
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("LoadBaselines = %d, %v; want an error with %q", n, err, tc.want)
			}
			if tc.want == ErrBaselineMismatch.Error() && !errors.Is(err, ErrBaselineMismatch) {
				t.Errorf("error %v is not ErrBaselineMismatch", err)
			}
			if n != 0 || len(q.hist) != 0 {
				t.Errorf("loaded %d groups (%d histories) from a checkpoint it refused", n, len(q.hist))
			}
		})
	}
}

// FuzzLoadBaselines: whatever the bytes, loading returns an error or
// histories a pipeline can use, never a panic. The fuzzer mutates the body
// and the test appends its right checksum, so that mutations reach the
// decoder instead of stopping at the checksum.
func FuzzLoadBaselines(f *testing.F) {
	p, _ := New(baselineConfig(), func(*event.Window) {})
	feedWindows(rand.New(rand.NewPCG(3, 3)), 0, 9, p)
	var ckpt bytes.Buffer
	p.SaveBaselines(&ckpt)
	f.Add(ckpt.Bytes()[:ckpt.Len()-4])
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.ChecksumIEEE(body))
		q, _ := New(baselineConfig(), func(*event.Window) {})
		if _, err := q.LoadBaselines(bytes.NewReader(data)); err != nil {
			return
		}
		feedWindows(rand.New(rand.NewPCG(4, 4)), 9, 11, q)
	})
}
