package preprocess

// Keep limits the fields Decode and Decoder.Decode store in an event's
// Fields to the named ones (flattened names, as pipelines read them), so
// that a source whose events only feed pipelines builds a small map of what
// those pipelines read instead of one of everything the producer sent
// (ARCHITECTURE.md: "decode once, only what is used"). The field map is the
// largest cost of decoding an event: every stored field is a hashed insert
// and often an allocation.
//
// Preprocessing is unchanged: the time field and the fields keys are still
// read, checked, flagged and converted the same whether or not they are
// kept; a conversion's "as" target is stored when it is kept. Every other
// value is still checked as JSON, so a message Decode rejects with Keep is
// exactly one it rejects without (with the same reason), and Raw still
// holds the whole message for the raw view. nil (the default) keeps every
// field, which is what a store of the events' fields needs.
//
// Keep is safe to call while other goroutines decode (a reload changes
// what the pipelines read); a message is decoded with the set in force when
// its decoding started. DecodeFields always returns every field.
func (p *Processor) Keep(fields []string) {
	if fields == nil {
		p.keep.Store(nil)
		return
	}
	ks := &keepSet{class: make(map[string]uint8, len(fields)+2*len(p.fields)+1), prefixes: map[string]bool{}}
	for _, f := range fields {
		ks.class[f] = classKeep
	}
	need := func(k string) bool {
		if c, ok := ks.class[k]; ok {
			return c == classKeep
		}
		ks.class[k] = classScratch
		return false
	}
	ks.timeIn = need(p.timeField)
	ks.keyIn = make([]bool, len(p.fields))
	ks.asIn = make([]bool, len(p.fields))
	for i, r := range p.fields {
		ks.keyIn[i] = need(r.key)
		if r.as != "" {
			ks.asIn[i] = need(r.as)
		}
	}
	for k := range ks.class {
		for i := 0; i < len(k); i++ {
			if k[i] == '.' {
				ks.prefixes[k[:i]] = true
			}
		}
	}
	p.keep.Store(ks)
}

// keepSet is a compiled Keep: what the scanner does with each field.
type keepSet struct {
	// class says what to do with a field by its flattened name; a name
	// not in it is skipped (checked as JSON, not stored).
	class map[string]uint8
	// prefixes holds every proper dotted prefix of a name in class, so a
	// nested object none of whose fields is wanted is skipped whole.
	prefixes map[string]bool
	// timeIn, keyIn[i] and asIn[i] say whether the time field and the
	// key and "as" target of Processor.fields[i] live in the event's map
	// (kept) or only in the decoding's scratch list.
	timeIn      bool
	keyIn, asIn []bool
}

// Field classes. classUnknown marks a cached position whose class was not
// yet looked up for the current keepSet.
const (
	classKeep    uint8 = iota // stored in the event's Fields
	classScratch              // read by preprocessing only: kept aside
	classSkip                 // checked as JSON and dropped
	classUnknown
)

func (ks *keepSet) classOf(k string) uint8 {
	if c, ok := ks.class[k]; ok {
		return c
	}
	return classSkip
}

// kv is a field preprocessing reads that is not kept in the event. A
// number is held unboxed in f (num set), since it is only read, never
// stored in an interface: that saves an allocation per such field.
type kv struct {
	k   string
	v   any
	f   float64
	num bool
}

// lookup returns field k from the event's map when inMap, else from the
// scratch list (the last occurrence wins, as in a map). A number comes back
// in f with num set (v may then be nil); ok reports whether k is present.
func lookup(m map[string]any, scratch []kv, inMap bool, k string) (v any, f float64, num, ok bool) {
	if inMap {
		v, ok = m[k]
	} else {
		for i := len(scratch) - 1; i >= 0; i-- {
			if scratch[i].k == k {
				if scratch[i].num {
					return nil, scratch[i].f, true, true
				}
				v, ok = scratch[i].v, true
				break
			}
		}
	}
	f, num = v.(float64)
	return v, f, num, ok
}
