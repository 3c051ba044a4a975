package window

import "hash/maphash"

// groupIndex maps group keys to group indexes: an open-addressing hash
// table of 8-byte entries with linear probing, the keys themselves kept in
// the groups. It replaces a map[string]int32 for two reasons. At a million
// groups a lookup in Go's map costs several cache misses (control word,
// slot, key), and a lookup here one (the entry) besides the group the
// engine reads anyway. And the hash of a key can be computed ahead, so that
// Add can touch the entries of a whole batch before it needs them and the
// CPU overlaps those misses instead of waiting for each in turn (see
// Pipeline.prefetch).
//
// An entry is the key's 32-bit hash in the high half and the group index
// plus one in the low half; 0 is an empty entry. The same 32 bits give the
// entry's home position, which lets a delete shift later entries back
// instead of leaving tombstones.
type groupIndex struct {
	seed    maphash.Seed
	entries []uint64
	mask    uint32
	n       int
}

func newGroupIndex() groupIndex {
	return groupIndex{seed: maphash.MakeSeed(), entries: make([]uint64, 16), mask: 15}
}

// hash returns the hash the index files key under.
func (x *groupIndex) hash(key []byte) uint32 {
	h := maphash.Bytes(x.seed, key)
	return uint32(h) ^ uint32(h>>32)
}

// find returns the group of key, whose hash is h.
func (x *groupIndex) find(key []byte, h uint32, groups []group) (int32, bool) {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		e := x.entries[i]
		if e == 0 {
			return 0, false
		}
		if uint32(e>>32) == h {
			if g := int32(uint32(e)) - 1; groups[g].is(key) {
				return g, true
			}
		}
	}
}

// peek returns the group the first entry with hash h names, without
// comparing keys: a guess for prefetching, -1 when there is none.
func (x *groupIndex) peek(h uint32) int32 {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		e := x.entries[i]
		if e == 0 {
			return -1
		}
		if uint32(e>>32) == h {
			return int32(uint32(e)) - 1
		}
	}
}

// insert files group g, whose key is not in the index, under hash h.
func (x *groupIndex) insert(h uint32, g int32) {
	if 2*(x.n+1) > len(x.entries) {
		x.grow()
	}
	x.put(uint64(h)<<32 | uint64(uint32(g+1)))
	x.n++
}

func (x *groupIndex) put(e uint64) {
	i := uint32(e>>32) & x.mask
	for x.entries[i] != 0 {
		i = (i + 1) & x.mask
	}
	x.entries[i] = e
}

// grow doubles the table. The hashes are in the entries, so no key is
// hashed again.
func (x *groupIndex) grow() {
	old := x.entries
	x.entries = make([]uint64, 2*len(old))
	x.mask = uint32(len(x.entries) - 1)
	for _, e := range old {
		if e != 0 {
			x.put(e)
		}
	}
}

// remove deletes group g, filed under hash h, and shifts back the entries
// after it that would no longer be found across the hole.
func (x *groupIndex) remove(h uint32, g int32) {
	want := uint64(h)<<32 | uint64(uint32(g+1))
	i := h & x.mask
	for x.entries[i] != want {
		if x.entries[i] == 0 {
			return // not filed
		}
		i = (i + 1) & x.mask
	}
	x.n--
	for j := i; ; {
		x.entries[i] = 0
		for {
			j = (j + 1) & x.mask
			e := x.entries[j]
			if e == 0 {
				return
			}
			// e may fill the hole at i unless its home lies cyclically
			// in (i, j]: then it must stay at or after its home.
			home := uint32(e>>32) & x.mask
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				x.entries[i] = e
				i = j
				break
			}
		}
	}
}

// len returns the number of groups filed.
func (x *groupIndex) len() int { return x.n }
