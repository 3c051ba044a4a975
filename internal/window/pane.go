package window

import (
	"slices"

	"github.com/lookout-dev/lookout/internal/event"
)

// Time windows are computed from panes: the events of one group are folded
// into the pane of `every` their time falls in, and a window [s, s+size) is
// the merge of its size/every panes when it closes. An event is folded once,
// whatever the number of windows it is in; closing a window costs
// size/every merges of aggregate states, never a rescan of events. Tumbling
// windows are the case every == size, where a window is one pane and
// nothing is merged.

// paneStart returns the start of the pane holding time t.
func (p *Pipeline) paneStart(t int64) int64 {
	r := t % p.every
	if r < 0 {
		r += p.every
	}
	return t - r
}

// addTimed folds one event into its pane. late reports that a window it falls
// into had already closed; overflowed that it went to the overflow group.
// i is the event's index in p.batch, key its group key and h the key's hash;
// known is its group when already looked up, else -1.
func (p *Pipeline) addTimed(e *event.Event, i int32, t int64, key []byte, h uint32, known int32) (late, overflowed bool) {
	ps := p.lastPane
	if t < ps || t-ps >= p.every {
		// Most events fall into the pane of the one before: a 64-bit
		// division saved per event.
		ps = p.paneStart(t)
		p.lastPane = ps
	}
	firstEnd, lastEnd := ps+p.every, ps+p.size
	closed := p.closed
	if p.resumed != nil && firstEnd <= p.resumeEnd && lastEnd >= p.resumeEnd && p.resumedAt(key, p.resumeEnd) {
		closed = p.resumeEnd // this group's window ending there is stored (ResumeGroups)
	}
	late = firstEnd <= closed
	if late {
		e.Flags |= event.FlagLate
	}
	if lastEnd+p.keep <= closed {
		// Every window of the event is closed (and no longer kept for
		// updates): count it for the group's next window, if it has one.
		if known >= 0 {
			p.groups[known].late++
		} else if g, ok := p.lookupGroup(key, h); ok {
			p.groups[g].late++
		}
		return late, false
	}
	g, of := known, false
	if g < 0 {
		g, of = p.groupOf(key, h)
	} else if p.groups[g].idle {
		p.wake(g)
	}
	if gr := &p.groups[g]; gr.npane == 0 {
		gr.origin, gr.mixed = e.Origin, false
	} else if gr.origin != e.Origin {
		gr.mixed = true
	}
	s := p.paneOf(g, ps)
	p.panes[s].count++
	p.queued = append(p.queued, pending{s, i, t}) // pushed by flush
	if late {
		if !p.update {
			p.groups[g].late++
			return late, of
		}
		// Re-emit the closed windows that are still kept, corrected.
		for end := firstEnd; end <= min(lastEnd, p.closed); end += p.every {
			if end+p.keep > p.closed {
				k := winKey{g, end}
				p.lateWin[k]++
				p.dirty[k] = struct{}{}
			}
		}
	}
	return late, of
}

// paneOf returns group g's pane starting at start, opening it when needed.
func (p *Pipeline) paneOf(g int32, start int64) int32 {
	gr := &p.groups[g]
	if gr.head >= 0 && gr.headStart == start {
		return gr.head // the usual case: the group's newest pane
	}
	for s := gr.head; s >= 0; s = p.panes[s].next {
		if p.panes[s].start == start {
			return s
		}
	}
	s := p.newSlot()
	gr = &p.groups[g] // newSlot does not move groups, but keep it obvious
	p.panes[s] = pane{start: start, g: g, next: gr.head}
	gr.head, gr.headStart = s, start
	gr.npane++
	i, found := slices.BinarySearchFunc(p.buckets, start, func(b bucket, t int64) int { return cmp64(b.start, t) })
	if !found {
		p.buckets = slices.Insert(p.buckets, i, bucket{start: start})
	}
	p.buckets[i].slots = append(p.buckets[i].slots, s)
	p.openWindows.Add(1)
	return s
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// closeThrough emits every window with end <= bound, in order of end (see
// emitWindow for the order of groups), remembers bound so later events for those windows count as
// late, and frees the panes no window needs any more.
func (p *Pipeline) closeThrough(bound int64) {
	if bound <= p.closed {
		return
	}
	if p.update && len(p.dirty) > 0 {
		p.flushDirty() // corrections first: they may be about to be freed
	}
	for {
		// The next window to emit is the first one after closed that holds
		// an open pane.
		j := 0
		for j < len(p.buckets) && p.buckets[j].start+p.size <= p.closed {
			j++
		}
		if j == len(p.buckets) {
			break
		}
		end := p.buckets[j].start + p.every
		if p.closed != minInt64 {
			end = max(end, p.closed-p.paneStartOffset(p.closed)+p.every)
		}
		if end > bound {
			break
		}
		p.emitWindow(j, end)
		p.closed = end
	}
	p.closed = bound
	if p.resumed != nil && p.closed >= p.resumeEnd {
		p.resumed = nil // what it kept out is emitted past now
	}
	p.release()
	// Nothing is emitted before the next pane boundary after closed
	// (windows end on boundaries; an event not late has its first end
	// after closed), nor released before the oldest pane's time is up.
	// A pane opened later for a late update may have an earlier release
	// time: it is released at the next work instead, a little later.
	p.nextWork = p.closed - p.paneStartOffset(p.closed) + p.every
	if len(p.buckets) > 0 {
		p.nextWork = min(p.nextWork, p.buckets[0].start+p.size+p.keep)
	}
}

// paneStartOffset returns how far t is past the start of its pane.
func (p *Pipeline) paneStartOffset(t int64) int64 { return t - p.paneStart(t) }

// emitWindow emits window [end-size, end) of every group with a pane in it;
// its panes are in buckets from j on. Groups are emitted in the order their
// first pane in the window was opened: no sort, which at a million groups
// would cost more than the events themselves.
func (p *Pipeline) emitWindow(j int, end int64) {
	start := end - p.size
	if p.size == p.every {
		b := &p.buckets[j]
		if b.start != start {
			return
		}
		for _, s := range b.slots {
			pn := &p.panes[s]
			p.emitOne(pn.g, s, start, end, pn.count)
		}
		return
	}
	for k := j; k < len(p.buckets) && p.buckets[k].start < end; k++ {
		if p.buckets[k].start < start {
			continue
		}
		for _, s0 := range p.buckets[k].slots {
			g := p.panes[s0].g
			gr := &p.groups[g]
			if p.marked[g] == end {
				continue // emitted from an earlier pane of this window
			}
			p.marked[g] = end
			n := int64(0)
			for s := gr.head; s >= 0; s = p.panes[s].next {
				pn := &p.panes[s]
				if pn.start < start || pn.start >= end {
					continue
				}
				for _, c := range p.cols {
					c.Merge(0, s)
				}
				p.mergeExemplars(0, s)
				n += pn.count
			}
			p.emitOne(g, 0, start, end, n)
			for _, c := range p.cols {
				c.Reset(0)
			}
			p.resetExemplars(0)
		}
	}
}

// emitOne emits one group's window from slot s, with the late and future
// events the group saw since its last window.
func (p *Pipeline) emitOne(g int32, s int32, start, end, count int64) {
	gr := &p.groups[g]
	if p.resumed != nil && end == p.resumeEnd {
		if _, ok := p.resumed[gr.key]; ok {
			return // stored before the restart: this copy holds only redelivered events
		}
	}
	w := p.result(gr, s, start, end, count, false)
	w.Late, gr.late = gr.late, 0
	if len(p.futureOf) > 0 {
		if n, ok := p.futureOf[gr.key]; ok {
			w.Future = n
			delete(p.futureOf, gr.key)
		}
	}
	p.emit(w)
}

// flushDirty re-emits the windows corrected by late events (late: update),
// in order of end and group key.
func (p *Pipeline) flushDirty() {
	keys := make([]winKey, 0, len(p.dirty))
	for k := range p.dirty {
		keys = append(keys, k)
	}
	clear(p.dirty)
	slices.SortFunc(keys, func(a, b winKey) int {
		if c := cmp64(a.end, b.end); c != 0 {
			return c
		}
		return p.compareGroups(a.g, b.g)
	})
	for _, k := range keys {
		start := k.end - p.size
		var n int64
		for s := p.groups[k.g].head; s >= 0; s = p.panes[s].next {
			if pn := &p.panes[s]; pn.start >= start && pn.start < k.end {
				for _, c := range p.cols {
					c.Merge(0, s)
				}
				p.mergeExemplars(0, s)
				n += pn.count
			}
		}
		w := p.result(&p.groups[k.g], 0, start, k.end, n, true)
		w.Late = p.lateWin[k]
		for _, c := range p.cols {
			c.Reset(0)
		}
		p.resetExemplars(0)
		p.updates.Add(1)
		p.emit(w)
	}
}

// release frees the panes whose windows have all closed and are no longer
// kept for updates, and the groups left without panes.
func (p *Pipeline) release() {
	n := 0
	retired := p.retiredGroups[:0]
	defer func() { p.retiredGroups = retired[:0] }()
	for n < len(p.buckets) && p.buckets[n].start+p.size+p.keep <= p.closed {
		for _, s := range p.buckets[n].slots {
			g := p.panes[s].g
			gr := &p.groups[g]
			// Unlink s from its group's list.
			if gr.head == s {
				gr.head = p.panes[s].next
			} else {
				for x := gr.head; x >= 0; x = p.panes[x].next {
					if p.panes[x].next == s {
						p.panes[x].next = p.panes[s].next
						break
					}
				}
			}
			gr.npane--
			if gr.head >= 0 {
				gr.headStart = p.panes[gr.head].start
			}
			p.freeSlot(s)
			p.openWindows.Add(-1)
			if gr.npane == 0 {
				retired = append(retired, g)
			}
		}
		n++
	}
	if n > 0 {
		// Free the groups retired last time that stayed without events,
		// then retire this release's.
		p.freeIdle(len(p.idleGroups))
		for _, g := range retired {
			p.retire(g)
		}
		p.forgetSeries()
	}
	if n > 0 {
		// Keep the slots slices' memory for the buckets still to come.
		rest := copy(p.buckets, p.buckets[n:])
		for i := rest; i < len(p.buckets); i++ {
			p.buckets[i] = bucket{}
		}
		p.buckets = p.buckets[:rest]
	}
	if p.update && len(p.lateWin) > 0 {
		for k := range p.lateWin {
			if k.end+p.keep <= p.closed {
				delete(p.lateWin, k)
			}
		}
	}
}
