package source

import (
	"strings"
	"testing"
)

// The name survives a restart (it is read back from the data directory), is
// distinct per source and per data directory, and is empty without one.
func TestMemberName(t *testing.T) {
	dir := t.TempDir()
	a, err := MemberName(dir, "orders")
	if err != nil {
		t.Fatal(err)
	}
	again, err := MemberName(dir, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if a != again || !strings.HasSuffix(a, "-orders") {
		t.Errorf("names %q then %q, want one stable name ending in -orders", a, again)
	}
	if b, _ := MemberName(dir, "clicks"); b == a || strings.TrimSuffix(b, "-clicks") != strings.TrimSuffix(a, "-orders") {
		t.Errorf("source clicks got %q beside %q, want the same member and another source", b, a)
	}
	if other, _ := MemberName(t.TempDir(), "orders"); other == a {
		t.Errorf("two data directories share the name %q", a)
	}
	if none, err := MemberName("", "orders"); none != "" || err != nil {
		t.Errorf("no data directory: %q, %v, want no name", none, err)
	}
}
