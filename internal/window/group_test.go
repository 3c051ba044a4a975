package window

import (
	"testing"
	"unsafe"
)

// TestGroupIsOneCacheLine: a lookup reads one group; past 64 bytes it
// would read two cache lines at a million groups.
func TestGroupIsOneCacheLine(t *testing.T) {
	if n := unsafe.Sizeof(group{}); n != 64 {
		t.Errorf("group is %d bytes, want 64", n)
	}
}
