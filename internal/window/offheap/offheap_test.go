package offheap

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"
)

type row struct {
	a float64
	b int32
	c [3]uint8
}

// A Slice behaves as a slice grown by append: values kept, new elements
// zero, whether it is still on the heap or has moved to its reservation.
func TestSliceKeepsValuesAcrossGrowth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := New[row]()
	var want []row
	for len(want) < 3*HeapMax/int(unsafe.Sizeof(row{})) {
		n := len(want) + 1 + rng.IntN(5000)
		got := s.Grow(n)
		for len(want) < n {
			want = append(want, row{})
		}
		if len(got) != n || s.Len() != n {
			t.Fatalf("Grow(%d) gave %d elements, Len %d", n, len(got), s.Len())
		}
		for i, w := range want {
			if got[i] != w {
				t.Fatalf("after Grow(%d): element %d = %+v, want %+v", n, i, got[i], w)
			}
		}
		// Write some, old and new, as the engine does.
		for range 100 {
			i := rng.IntN(n)
			v := row{rng.Float64(), rng.Int32(), [3]uint8{uint8(i), 1, 2}}
			got[i], want[i] = v, v
		}
		if s.Grow(n - 1); s.Len() != n {
			t.Fatal("a smaller Grow shrank the Slice")
		}
	}
	if s.res == nil && reservation > 0 {
		t.Errorf("a Slice of %d bytes is still on the Go heap", uintptr(s.Len())*unsafe.Sizeof(row{}))
	}
	runtime.KeepAlive(s)
}

// Memory of a Slice that left the heap stays usable through pointers taken
// before a Grow (the engine holds such pointers across a new slot).
func TestSliceOldPointersStayValid(t *testing.T) {
	s := New[uint64]()
	items := s.Grow(10)
	p := &items[3]
	*p = 42
	s.Grow(4 * HeapMax / 8) // moves to a reservation
	*p = 43                 // must not fault
	s.Grow(8 * HeapMax / 8) // grows in place
	if s.Items()[3] != 42 {
		t.Errorf("element 3 = %d, want the value it had when the Slice moved (42)", s.Items()[3])
	}
}

func TestNewRefusesPointers(t *testing.T) {
	for name, f := range map[string]func(){
		"string": func() { New[string]() },
		"struct": func() { New[struct{ a []int }]() },
		"array":  func() { New[[2]*int]() },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New accepted a type with pointers")
				}
			}()
			f()
		})
	}
}
