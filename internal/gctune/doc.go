// Package gctune gives the Go garbage collector a fixed minimum of headroom.
//
// With Go's default GOGC=100 the heap may grow to twice the live heap before
// a collection. When the live heap is small — lookout with ten thousand
// groups keeps ~30 MB live while decoding ~800,000 events a second — that
// means a collection every ~25 MB allocated, 20–25 a second, and marking
// was a sixth of lookout's CPU in push-10k-groups. A floor under the
// headroom (the heap may grow by at least Floor between collections) makes
// collections rare while the live heap is small and changes nothing once it
// is larger than the floor, where GOGC=100 applies as before. The memory it
// costs is bounded by the floor: a fixed amount, not a per-group one.
//
// The floor is applied by adjusting the GC percentage (debug.SetGCPercent)
// from the live heap that runtime/metrics reports. An operator who sets GOGC
// in the environment keeps their setting: the tuner then does nothing.
package gctune
