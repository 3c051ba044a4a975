// Package offheap keeps the window engine's large arrays of plain numbers
// outside the Go heap.
//
// The engine's per-group state is long-lived: a million groups' aggregate
// rows and pane records live as long as the groups. On the Go heap such
// state costs twice its size in RSS, because the garbage collector lets the
// heap grow to twice the live heap (GOGC=100) before it collects, and
// append-style growth leaves up to half of each array as slack. A Slice
// starts on the Go heap and, once larger than HeapMax, moves into an
// address range reserved once from the operating system and made usable
// as it grows: it never moves again, so pointers into it stay valid, the
// pages cost RSS only once written, and the collector's headroom is
// computed on the much smaller rest of the heap.
//
// Only types without Go pointers may be kept in a Slice: the collector does
// not scan the memory, so a pointer stored there would not keep its target
// alive. New checks this.
package offheap

import (
	"fmt"
	"reflect"
	"runtime"
	"unsafe"
)

// HeapMax is the size in bytes up to which a Slice stays on the Go heap:
// small arrays (tests, small pipelines) are not worth a mapping of their own.
const HeapMax = 1 << 20

// Slice is a growable array of T. The zero value is not usable: use New.
type Slice[T any] struct {
	s    []T
	res  []byte // the current reservation; nil while on the Go heap
	used uintptr
}

// New returns an empty Slice. It panics if T holds Go pointers.
func New[T any]() *Slice[T] {
	if t := reflect.TypeFor[T](); hasPointers(t) {
		panic(fmt.Sprintf("offheap: %s holds pointers", t))
	}
	return &Slice[T]{}
}

// Items returns the elements. The returned slice is valid until the next
// Grow, which may return a longer one at another address (the memory of the
// old one stays valid but is no longer written).
func (a *Slice[T]) Items() []T { return a.s }

// Len returns the number of elements.
func (a *Slice[T]) Len() int { return len(a.s) }

// Grow makes the Slice n elements long, the new ones zero, and returns its
// elements. A smaller n changes nothing.
func (a *Slice[T]) Grow(n int) []T {
	if n <= len(a.s) {
		return a.s
	}
	if n <= cap(a.s) {
		old := len(a.s)
		a.s = a.s[:n]
		clear(a.s[old:]) // memory beyond len may hold what an earlier grow copied
		return a.s
	}
	size := unsafe.Sizeof(*new(T))
	c := max(2*cap(a.s), n, 16)
	if uintptr(c)*size <= HeapMax || size == 0 {
		s := make([]T, n, c)
		copy(s, a.s)
		a.s = s
		return a.s
	}
	a.s = a.growMapped(n, c, size)
	return a.s
}

// growMapped grows into the reservation, reserving one first (or a larger
// one when it is full), and falls back to the Go heap when the system
// refuses.
func (a *Slice[T]) growMapped(n, c int, size uintptr) []T {
	need := uintptr(c) * size
	if a.res == nil || need > uintptr(len(a.res)) {
		res, err := reserve(max(reservation, 4*need))
		if err != nil {
			s := make([]T, n, c)
			copy(s, a.s)
			return s
		}
		// The old memory (heap or an earlier reservation) stays as it is
		// until the Slice is collected: a pointer into it taken before
		// this Grow must not fault.
		runtime.AddCleanup(a, release, res)
		if err := commit(res, 0, need); err != nil {
			s := make([]T, n, c)
			copy(s, a.s)
			return s
		}
		old := a.s
		a.res, a.used = res, need
		a.s = unsafe.Slice((*T)(unsafe.Pointer(&res[0])), c)[:n]
		copy(a.s, old)
		return a.s
	}
	if need > a.used {
		if err := commit(a.res, a.used, need); err != nil {
			panic(fmt.Sprintf("offheap: making %d bytes usable: %v", need, err))
		}
		a.used = need
	}
	// Fresh pages read as zero, and the elements between the old length
	// and n have never been written.
	a.s = unsafe.Slice((*T)(unsafe.Pointer(&a.res[0])), c)[:n]
	return a.s
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Chan, reflect.Func,
		reflect.Interface, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
