package window

// Forget drops, without emitting them, the open windows of every group whose
// events all came from an origin match accepts (event.Origin), and returns
// how many groups it dropped and how many it kept because their windows
// also hold events of other origins.
//
// It is for scale-out on Kafka: when a partition moves to another lookout,
// that lookout re-reads the partition from its committed offset, which lies
// before every event of a window not yet closed here (the app commits a
// message only once its windows have closed and been stored). Emitting those
// windows here as well would emit them twice; forgetting them leaves them to
// the new owner. A group is fed by one partition when producers key messages
// by the group_by values, as docs/operations.md asks. A group fed by several
// cannot be split, so it is kept and counted in mixed: its window may then
// count the moved partition's events twice.
func (p *Pipeline) Forget(match func(origin int32) bool) (dropped, mixed int) {
	if p.count > 0 {
		return 0, 0 // {count: N} windows emit on every event: nothing is pending
	}
	p.forgetMarks(match)
	var drop []int32
	for g := range p.groups {
		gr := &p.groups[g]
		if gr.npane == 0 || !match(gr.origin) {
			continue
		}
		if gr.mixed {
			mixed++
			continue
		}
		drop = append(drop, int32(g))
	}
	if len(drop) == 0 {
		return 0, mixed
	}
	// Unlink the groups' panes from the buckets in one pass over them.
	gone := map[int32]bool{}
	for _, g := range drop {
		gr := &p.groups[g]
		for s := gr.head; s >= 0; s = p.panes[s].next {
			gone[s] = true
		}
	}
	for i := range p.buckets {
		b := &p.buckets[i]
		kept := b.slots[:0]
		for _, s := range b.slots {
			if !gone[s] {
				kept = append(kept, s)
			}
		}
		b.slots = kept
	}
	for _, g := range drop {
		gr := &p.groups[g]
		for s := gr.head; s >= 0; {
			next := p.panes[s].next
			p.freeSlot(s)
			p.openWindows.Add(-1)
			s = next
		}
		gr.head, gr.npane, gr.late = -1, 0, 0
		if p.update {
			for k := range p.lateWin {
				if k.g == g {
					delete(p.lateWin, k)
				}
			}
			for k := range p.dirty {
				if k.g == g {
					delete(p.dirty, k)
				}
			}
		}
		p.retire(g)
	}
	return len(drop), mixed
}
