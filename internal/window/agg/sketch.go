package agg

import (
	"encoding/binary"
	"math"
	"slices"
)

// sketch is a DDSketch-style log-bucketed quantile sketch with relative
// accuracy quantileAccuracy, laid out for memory: a sorted sparse array of
// (bucket key, count) pairs, 8 bytes a bucket, that holds only the buckets
// actually hit. Bucket i of positive values covers (γ^(i−1), γ^i] with
// γ = (1+α)/(1−α); answering with 2γ^i/(γ+1) is within α of every value in
// it. Negative values mirror that, zero is its own bucket. Keys are chosen so
// that key order is value order. Beyond maxBuckets the two lowest buckets are
// merged, so memory is bounded and the high quantiles (p90, p99) stay
// accurate.
type sketch struct {
	b []bucketCount
	n uint64
}

type bucketCount struct {
	key int32
	n   uint32
}

const (
	quantileAccuracy = 0.01
	maxBuckets       = 2048
	keyOffset        = 1 << 20 // |log_γ v| < 2^20 for every finite float64
)

var (
	gamma       = (1 + quantileAccuracy) / (1 - quantileAccuracy)
	invLogGamma = 1 / math.Log(gamma)
)

// keyOf returns the bucket key of v: 0 for zero, positive above, negative
// below, ordered like the values. ok is false for values the sketch cannot
// hold (±Inf, NaN).
func keyOf(v float64) (int32, bool) {
	switch {
	case v == 0:
		return 0, true
	case math.IsInf(v, 0) || v != v:
		return 0, false
	case v > 0:
		return int32(math.Ceil(math.Log(v)*invLogGamma)) + keyOffset, true
	}
	return -(int32(math.Ceil(math.Log(-v)*invLogGamma)) + keyOffset), true
}

// valueOf is the representative value of a bucket key.
func valueOf(k int32) float64 {
	switch {
	case k == 0:
		return 0
	case k > 0:
		return 2 * math.Pow(gamma, float64(k-keyOffset)) / (gamma + 1)
	}
	return -2 * math.Pow(gamma, float64(-k-keyOffset)) / (gamma + 1)
}

func (s *sketch) reset() { s.b, s.n = s.b[:0], 0 }

func (s *sketch) add(v float64) {
	k, ok := keyOf(v)
	if ok {
		s.addKey(k, 1)
	}
}

func (s *sketch) addKey(k int32, n uint32) {
	s.n += uint64(n)
	i, found := s.find(k)
	if found {
		s.b[i].n += n
		return
	}
	s.b = slices.Insert(s.b, i, bucketCount{k, n})
	if len(s.b) > maxBuckets {
		s.b[1].n += s.b[0].n
		s.b = slices.Delete(s.b, 0, 1)
	}
}

// find is a binary search for k in s.b: the index of k's bucket, or where
// it goes. Written out rather than slices.BinarySearchFunc, whose comparator
// is a call per step in its generic instantiation: this search was 13 % of
// lookout's CPU in push-10k-groups (perf), a latency quantile per event.
func (s *sketch) find(k int32) (int, bool) {
	b := s.b
	lo, hi := 0, len(b)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if b[m].key < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(b) && b[lo].key == k
}

func (s *sketch) merge(o *sketch) {
	for _, b := range o.b {
		s.addKey(b.key, b.n)
	}
}

// quantile returns the value at fractional rank h = q·(n−1), linear between
// the (bucket) values at ranks ⌊h⌋ and ⌊h⌋+1: quantile_cont's definition,
// the same as the exact path, within the sketch's relative accuracy.
func (s *sketch) quantile(q float64) float64 {
	if s.n == 0 {
		return math.NaN()
	}
	h := q * float64(s.n-1)
	rank := uint64(h)
	frac := h - float64(rank)
	var seen uint64
	for i, b := range s.b {
		seen += uint64(b.n)
		if seen <= rank {
			continue
		}
		lo := valueOf(b.key)
		if frac == 0 || seen > rank+1 || i+1 == len(s.b) {
			return lo // rank+1 is in the same bucket (or there is none)
		}
		return lo + frac*(valueOf(s.b[i+1].key)-lo)
	}
	return valueOf(s.b[len(s.b)-1].key)
}

func (s *sketch) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s.b)))
	for _, x := range s.b {
		b = binary.AppendVarint(b, int64(x.key))
		b = binary.AppendUvarint(b, uint64(x.n))
	}
	return b
}

func (s *sketch) read(b []byte) ([]byte, error) {
	n, b, err := readUvarint(b)
	if err != nil || n > maxBuckets {
		return nil, errShort
	}
	for range n {
		var k int64
		var c uint64
		if k, b, err = readVarint(b); err != nil {
			return nil, err
		}
		if c, b, err = readUvarint(b); err != nil {
			return nil, err
		}
		s.addKey(int32(k), uint32(c))
	}
	return b, nil
}
