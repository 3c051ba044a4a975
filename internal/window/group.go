package window

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// group returns the index of the event's group, creating it when new;
// overflowed is true when the event went to the overflow group instead.
func (p *Pipeline) group(fields map[string]any) (g int32, overflowed bool) {
	key := p.key(fields)
	return p.groupOf(key, p.index.hash(key))
}

// groupOf is group for a key whose hash is already known.
func (p *Pipeline) groupOf(key []byte, h uint32) (g int32, overflowed bool) {
	if g, ok := p.index.find(key, h, p.groups); ok {
		if p.groups[g].idle {
			p.wake(g)
		}
		return g, false
	}
	if p.index.len() >= p.maxGroups && len(p.idleGroups) > 0 {
		// Retired groups do not hold a place against max_groups.
		p.freeIdle(len(p.idleGroups))
	}
	if p.index.len() >= p.maxGroups {
		ok, oh := p.overflowKey, p.overflowHash
		if g, found := p.index.find(ok, oh, p.groups); found {
			if p.groups[g].idle {
				p.wake(g)
			}
			return g, true
		}
		return p.newGroup(p.overflow, oh), true
	}
	return p.newGroup(string(key), h), false
}

// key returns the event's group key, in a buffer reused by the next call.
// With one group_by key the key is the value itself (a string value is not
// even copied); with several, the values joined by appendKey.
func (p *Pipeline) key(fields map[string]any) []byte {
	if len(p.groupKeys) == 1 {
		v := fields[p.groupKeys[0]]
		if s, ok := v.(string); ok {
			return unsafe.Slice(unsafe.StringData(s), len(s))
		}
		p.keyBytes = appendValue(p.keyBytes[:0], v)
		return p.keyBytes
	}
	buf := p.keyBytes[:0]
	for _, k := range p.groupKeys {
		p.valueBytes = appendValue(p.valueBytes[:0], fields[k])
		buf = appendKey(buf, p.valueBytes)
	}
	p.keyBytes = buf
	return buf
}

// lookupGroup returns the event's group when it exists, without creating it.
// key is the event's group key and h its hash.
func (p *Pipeline) lookupGroup(key []byte, h uint32) (int32, bool) {
	g, ok := p.index.find(key, h, p.groups)
	if !ok && p.index.len() >= p.maxGroups {
		return p.index.find(p.overflowKey, p.overflowHash, p.groups)
	}
	return g, ok
}

func (p *Pipeline) newGroup(key string, h uint32) int32 {
	var g int32
	if n := len(p.freeGroups); n > 0 {
		g = p.freeGroups[n-1]
		p.freeGroups = p.freeGroups[:n-1]
	} else {
		p.groups = append(p.groups, group{})
		g = int32(len(p.groups) - 1)
	}
	p.groups[g] = group{key: key, head: -1, ring: -1}
	copy(p.groups[g].pre[:], key)
	if p.size != p.every {
		for len(p.marked) <= int(g) {
			p.marked = append(p.marked, 0)
		}
		p.marked[g] = 0
	}
	p.index.insert(h, g)
	p.nGroups.Add(1)
	return g
}

// retire is called when group g's last pane is released. The group is kept
// until the next release, and freed then only if it has had no event since:
// a group that reports every window keeps its index entry and key instead
// of being deleted and re-created (a map delete, insert and key allocation)
// once per window.
// Stats.Groups does not count retired groups; max_groups does, until they
// are freed.
func (p *Pipeline) retire(g int32) {
	p.groups[g].idle = true
	p.idleGroups = append(p.idleGroups, g)
	p.nGroups.Add(-1)
}

// wake takes a retired group back into use.
func (p *Pipeline) wake(g int32) {
	p.groups[g].idle = false
	p.nGroups.Add(1)
}

// freeIdle frees the groups retired before the current release that still
// have no pane.
func (p *Pipeline) freeIdle(n int) {
	for _, g := range p.idleGroups[:n] {
		if gr := &p.groups[g]; gr.idle && gr.npane == 0 && gr.ring < 0 {
			p.freeGroup(g)
		}
	}
	rest := copy(p.idleGroups, p.idleGroups[n:])
	p.idleGroups = p.idleGroups[:rest]
}

// freeGroup forgets a retired group.
func (p *Pipeline) freeGroup(g int32) {
	key := p.groups[g].key
	p.index.remove(p.index.hash(unsafe.Slice(unsafe.StringData(key), len(key))), g)
	p.groups[g] = group{}
	p.freeGroups = append(p.freeGroups, g)
	p.freed++
}

// appendKey appends one group value so that no value can run into the next
// (a value may contain any byte) and byte order of keys is the order of
// their value lists, which is the order windows are emitted in: each 0x00 in
// the value becomes 0x00 0xff, and 0x00 0x01 ends the value.
func appendKey(buf, v []byte) []byte {
	for _, c := range v {
		if c == 0 {
			buf = append(buf, 0, 0xff)
		} else {
			buf = append(buf, c)
		}
	}
	return append(buf, 0, 1)
}

// splitKey returns the n values of a group key.
func splitKey(key string, n int) []string {
	if n == 1 {
		return []string{key}
	}
	out := make([]string, 0, n)
	for range n {
		// The end marker is the first 0x00 not followed by 0xff.
		j := 0
		for j < len(key) {
			if key[j] == 0 {
				if j+1 < len(key) && key[j+1] == 0xff {
					j += 2
					continue
				}
				break
			}
			j++
		}
		v := key[:j]
		if strings.IndexByte(v, 0) >= 0 {
			v = strings.ReplaceAll(v, "\x00\xff", "\x00")
		}
		out = append(out, v)
		key = key[min(j+2, len(key)):]
	}
	return out
}

// appendValue appends a group_by value: numbers as strconv 'f' -1 (500, not
// 5e+02), missing as "".
func appendValue(buf []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return buf
	case string:
		return append(buf, v...)
	case float64:
		return strconv.AppendFloat(buf, v, 'f', -1, 64)
	case bool:
		return strconv.AppendBool(buf, v)
	}
	// Arrays and other rare kinds: fmt is slow, but only reached for them.
	return fmt.Append(buf, v)
}
