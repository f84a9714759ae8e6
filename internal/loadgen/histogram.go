package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power-of-two range of values
// is split into 2^subBits buckets, so a bucket is at most 1/2^subBits
// (0.8%) of its values wide.
const subBits = 7

const (
	subCount = 1 << subBits // buckets per power of two
	// maxExp is the largest shift of a recorded value: values are capped at
	// 2^(maxExp+subBits+1)-1 nanoseconds (about 18 minutes).
	maxExp     = 32
	maxValue   = int64(1)<<(maxExp+subBits+1) - 1
	numBuckets = 2*subCount + (maxExp-1)*subCount + subCount
)

// Histogram counts latencies in log-linear buckets, as HdrHistogram does:
// values below 256 ns are exact, larger ones fall in buckets at most 0.8%
// of their value wide. Its memory is fixed (about 35 KiB) whatever it
// records. The zero value is ready to use; it is not safe for concurrent
// use (give each worker its own and Merge them).
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max int64
}

// bucketOf returns the index of the bucket holding v (v >= 0).
func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - (subBits + 1) // v>>e is in [subCount, 2*subCount)
	return 2*subCount + (e-1)*subCount + int(v>>e) - subCount
}

// valueOf returns the middle of bucket i's range of values.
func valueOf(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	e := (i-2*subCount)/subCount + 1
	m := int64((i-2*subCount)%subCount + subCount)
	return m<<e + int64(1)<<(e-1)
}

// Record adds one latency. Negative values count as 0; values above about
// 18 minutes count as that.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if v > maxValue {
		v = maxValue
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every latency o recorded to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest latency recorded, 0 when there is none.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest latency recorded, 0 when there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean latency, 0 when there is none.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the latency below or at which a fraction q (0..1) of
// the recorded latencies lie, to the histogram's precision (the middle of
// the bucket holding that rank, kept within the exact minimum and
// maximum). It returns 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = max(0, min(1, q))
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := min(max(valueOf(i), h.min), h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
