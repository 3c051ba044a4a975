// Package gctune gives the Go garbage collector a fixed minimum of headroom.
//
// With Go's default GOGC=100 the heap may grow to twice the live heap before
// a collection. When the live heap is small — lookout with ten thousand
// groups keeps ~30 MB live while decoding ~800,000 events a second — that
// means a collection every ~25 MB allocated, 20–25 a second, and marking
// was a sixth of lookout's CPU in push-10k-groups. A floor under the
// headroom (the heap may grow by at least Floor between collections) makes
// collections rare while the live heap is small. Beyond the floor the
// headroom stays the floor until the live heap is twice as large, and is
// half the live heap from there on (GOGC=50), not all of it as with Go's
// default: a large live heap is the window state of many groups, where
// memory per group is what matters (the RSS slope between 50,000 and 200,000
// groups: ~825 → ~757 bytes; 9 % fewer events per CPU-second at 200,000
// groups and full load). The memory the floor costs is bounded: a fixed
// amount, not a per-group one.
//
// The floor is applied by adjusting the GC percentage (debug.SetGCPercent)
// from the live heap that runtime/metrics reports. An operator who sets GOGC
// in the environment keeps their setting: the tuner then does nothing.
package gctune
