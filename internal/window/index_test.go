package window

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestGroupIndexMatchesMap inserts and removes random keys and checks every
// lookup against a Go map. In the clustered case all hashes fall into 1,024
// values at the top of the table, so probe runs are long and wrap around
// its end, which is where removing with backward shifts can go wrong.
func TestGroupIndexMatchesMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		mix  func(uint32) uint32
	}{
		{"spread", func(h uint32) uint32 { return h }},
		{"clustered", func(h uint32) uint32 { return h&0x3ff | 0xfffffc00 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			x := newGroupIndex()
			var groups []group
			want := map[string]int32{}
			var free []int32
			hash := func(k string) uint32 { return tc.mix(x.hash([]byte(k))) }
			for step := range 100_000 {
				// Every third key is longer than a group's inline
				// prefix, and those share their first 14 bytes.
				n := rng.IntN(3000)
				k := "k" + strconv.Itoa(n)
				if n%3 == 0 {
					k = "a-longer-group-key-" + strconv.Itoa(n)
				}
				g, ok := x.find([]byte(k), hash(k), groups)
				wg, wok := want[k]
				if ok != wok || ok && g != wg {
					t.Fatalf("step %d: find(%q) = %d, %v; want %d, %v", step, k, g, ok, wg, wok)
				}
				switch {
				case !ok:
					var ng int32
					if n := len(free); n > 0 {
						ng, free = free[n-1], free[:n-1]
					} else {
						groups = append(groups, group{})
						ng = int32(len(groups) - 1)
					}
					groups[ng] = group{key: k}
					copy(groups[ng].pre[:], k)
					x.insert(hash(k), ng)
					want[k] = ng
				case rng.IntN(2) == 0:
					x.remove(hash(groups[g].key), g)
					delete(want, k)
					groups[g] = group{}
					free = append(free, g)
				}
				if x.len() != len(want) {
					t.Fatalf("step %d: len %d, want %d", step, x.len(), len(want))
				}
			}
			for k, g := range want {
				if got, ok := x.find([]byte(k), hash(k), groups); !ok || got != g {
					t.Fatalf("final find(%q) = %d, %v; want %d", k, got, ok, g)
				}
			}
		})
	}
}
