package promtext

import (
	"slices"
	"strings"
)

// Flat is one sample in the shape expfmt's metric families give when each
// is flattened into samples: a summary's quantiles, _sum and _count, a
// histogram's buckets, _sum and _count. Its strings are valid during the
// callback only.
type Flat struct {
	// Name is the sample's metric name: the family's, or with _bucket,
	// _sum or _count.
	Name   string
	Labels []Label
	// BoundName is "le" for a bucket, "quantile" for a quantile, else
	// empty; Bound is then its value, as parsed.
	BoundName string
	Bound     float64
	Value     float64
	// Timestamp is in milliseconds when HasTimestamp.
	Timestamp    int64
	HasTimestamp bool
	Exemplar     *Exemplar
}

// item is a plain sample or a summary or histogram metric, in the order
// expfmt's families would hold them.
type item struct {
	fam    *family
	name   string
	lo, hi int // labels, in Parser.arena
	value  float64
	ts     int64
	hasTS  bool
	group  int // index in Parser.grps, or -1
}

type bound struct{ bound, value float64 }

type grp struct {
	summary    bool
	bounds     []bound
	sum, count float64
	ts         int64
	hasTS      bool
}

// flatState is the buffers of Flatten, reused from one call to the next.
type flatState struct {
	items, sorted []item
	fams          []*family
	at            []int
	arena         []Label
	grps          []grp
	flat          Flat
}

// Flatten parses body like Parse and calls fn for each sample as expfmt's
// families flatten (the http source's events have always had this shape):
// for the text format, families in name order, each family's samples in
// the order of its lines, except that the lines of one summary or histogram
// (same labels but quantile or le) are merged into one metric, given as
// quantiles or buckets, then _sum and _count (0 when the body has none;
// the last one when it has several), all at the last timestamp among its
// lines. OpenMetrics samples are given in the order of their lines, each
// as it is.
func (p *Parser) Flatten(body []byte, f Format, fn func(*Flat)) error {
	fl := &p.flat
	if f == OpenMetrics {
		return p.Parse(body, f, func(s *Sample) {
			*fl = Flat{Name: s.Name, Labels: s.Labels, Value: s.Value, Timestamp: s.Timestamp, HasTimestamp: s.HasTimestamp, Exemplar: s.Exemplar}
			fn(fl)
		})
	}
	st := &p.fs
	st.items, st.arena, st.grps = st.items[:0], st.arena[:0], st.grps[:0]
	err := p.Parse(body, f, func(s *Sample) {
		if s.Group < 0 {
			lo := len(st.arena)
			st.arena = append(st.arena, s.Labels...)
			st.items = append(st.items, item{fam: p.cur, name: s.Name, lo: lo, hi: len(st.arena), value: s.Value, ts: s.Timestamp, hasTS: s.HasTimestamp, group: -1})
			return
		}
		if s.Group == len(st.grps) {
			lo := len(st.arena)
			st.arena = append(st.arena, s.Labels...)
			st.items = append(st.items, item{fam: p.cur, lo: lo, hi: len(st.arena), group: s.Group})
			if len(st.grps) < cap(st.grps) {
				st.grps = st.grps[:len(st.grps)+1]
				g := &st.grps[s.Group]
				*g = grp{bounds: g.bounds[:0]}
			} else {
				st.grps = append(st.grps, grp{})
			}
			st.grps[s.Group].summary = p.cur.summary()
		}
		g := &st.grps[s.Group]
		switch s.Role {
		case Quantile, Bucket:
			v := s.Value
			if s.Role == Bucket && v == 0 {
				v = 0 // expfmt keeps counts as integers: no -0
			}
			g.bounds = append(g.bounds, bound{s.Bound, v})
		case Sum:
			g.sum = s.Value
		case Count:
			if g.summary {
				g.count = float64(uint64(s.Value)) // expfmt's summary count is an integer
			} else {
				g.count = s.Value
				if g.count == 0 {
					g.count = 0
				}
			}
		}
		if s.HasTimestamp {
			g.ts, g.hasTS = s.Timestamp, true
		}
	})
	if err != nil {
		return err
	}
	items := st.items
	for i := 1; i < len(items); i++ {
		if items[i].fam.name < items[i-1].fam.name {
			items = st.byFamily()
			break
		}
	}
	for i := range items {
		it := &items[i]
		if it.group < 0 {
			*fl = Flat{Name: it.name, Labels: st.arena[it.lo:it.hi], Value: it.value, Timestamp: it.ts, HasTimestamp: it.hasTS}
			fn(fl)
			continue
		}
		g := &st.grps[it.group]
		fam := it.fam
		if fam.sumName == "" {
			fam.sumName, fam.countName, fam.bucketName = p.suffixed(fam.name, "_sum"), p.suffixed(fam.name, "_count"), p.suffixed(fam.name, "_bucket")
		}
		labels := st.arena[it.lo:it.hi]
		name, boundName := fam.bucketName, "le"
		if g.summary {
			name, boundName = fam.name, "quantile"
		}
		for _, b := range g.bounds {
			*fl = Flat{Name: name, Labels: labels, BoundName: boundName, Bound: b.bound, Value: b.value, Timestamp: g.ts, HasTimestamp: g.hasTS}
			fn(fl)
		}
		*fl = Flat{Name: fam.sumName, Labels: labels, Value: g.sum, Timestamp: g.ts, HasTimestamp: g.hasTS}
		fn(fl)
		*fl = Flat{Name: fam.countName, Labels: labels, Value: g.count, Timestamp: g.ts, HasTimestamp: g.hasTS}
		fn(fl)
	}
	return nil
}

// suffixed returns name+suffix, interned: the same string from one parse to
// the next, without allocating once made.
func (p *Parser) suffixed(name, suffix string) string {
	p.key = append(append(p.key[:0], name...), suffix...)
	return p.intern(str(p.key))
}

// byFamily orders the items by family name, keeping the order of each
// family's items: a counting sort over the families, which are far fewer
// than the samples.
func (st *flatState) byFamily() []item {
	st.fams = st.fams[:0]
	for i := range st.items {
		if f := st.items[i].fam; f.ord == 0 {
			st.fams = append(st.fams, f)
			f.ord = len(st.fams)
		}
	}
	slices.SortFunc(st.fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	// at[rank] is where the family of that rank starts in sorted; ord
	// becomes rank+1.
	st.at = slices.Grow(st.at[:0], len(st.fams)+1)[:len(st.fams)+1]
	clear(st.at)
	for r, f := range st.fams {
		f.ord = r + 1
	}
	for i := range st.items {
		st.at[st.items[i].fam.ord]++
	}
	for r := 1; r < len(st.at); r++ {
		st.at[r] += st.at[r-1]
	}
	st.sorted = slices.Grow(st.sorted[:0], len(st.items))[:len(st.items)]
	for i := range st.items {
		f := st.items[i].fam
		st.sorted[st.at[f.ord-1]] = st.items[i]
		st.at[f.ord-1]++
	}
	for _, f := range st.fams {
		f.ord = 0
	}
	return st.sorted
}
