package cache

import "math"

// hvec is a unit vector as the graph stores it: dense, or, when at most a
// third of its components are non-zero (the lexical embedder's vectors have
// about a hundred of 512), as sorted (index, value) pairs, which makes every
// similarity computed against it several times cheaper. A pair is 4 bytes: a
// uint16 index (dimensions are at most 65536) and the value in 1/32767ths
// (components of a unit vector are within [-1, 1]), so a search, which is
// bound by reading the vectors it visits, reads half as much; similarities
// are then accurate to about 1e-4.
type hvec struct {
	dense  []float32 // nil when sparse
	sparse []sparseEntry
	dims   int
}

type sparseEntry struct {
	idx uint16
	val int16
}

const sparseScale = 32767

func (e sparseEntry) value() float32 { return float32(e.val) / sparseScale }

func makeHvec(v []float32) hvec {
	nnz, big := 0, false
	for _, x := range v {
		if x != 0 {
			nnz++
		}
		big = big || x > 1 || x < -1
	}
	if nnz*3 > len(v) || len(v) > 1<<16 || big {
		return hvec{dense: v, dims: len(v)}
	}
	h := hvec{sparse: make([]sparseEntry, 0, nnz), dims: len(v)}
	for i, x := range v {
		if x != 0 {
			h.sparse = append(h.sparse, sparseEntry{uint16(i), int16(math.Round(float64(x) * sparseScale))})
		}
	}
	return h
}

// size is the bytes the vector's components take.
func (h *hvec) size() int { return 4*len(h.dense) + 4*len(h.sparse) }

// dotQ is the similarity of a dense query q (of the same length) to h.
func (h *hvec) dotQ(q []float32) float32 {
	if h.dense != nil {
		return dot(q, h.dense)
	}
	sp := h.sparse
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(sp); i += 4 {
		s0 += q[sp[i].idx] * float32(sp[i].val)
		s1 += q[sp[i+1].idx] * float32(sp[i+1].val)
		s2 += q[sp[i+2].idx] * float32(sp[i+2].val)
		s3 += q[sp[i+3].idx] * float32(sp[i+3].val)
	}
	for ; i < len(sp); i++ {
		s0 += q[sp[i].idx] * float32(sp[i].val)
	}
	return (s0 + s1 + s2 + s3) / sparseScale
}

// dotH is the similarity of two stored vectors.
func dotH(a, b *hvec) float32 {
	switch {
	case a.dense != nil:
		return b.dotQ(a.dense)
	case b.dense != nil:
		return a.dotQ(b.dense)
	}
	var s float32
	x, y := a.sparse, b.sparse
	for i, j := 0, 0; i < len(x) && j < len(y); {
		switch {
		case x[i].idx == y[j].idx:
			s += float32(x[i].val) * float32(y[j].val)
			i++
			j++
		case x[i].idx < y[j].idx:
			i++
		default:
			j++
		}
	}
	return s / (sparseScale * sparseScale)
}

// toDense returns h as a dense vector (a new slice when h is sparse).
func (h *hvec) toDense() []float32 {
	if h.dense != nil {
		return h.dense
	}
	v := make([]float32, h.dims)
	for _, e := range h.sparse {
		v[e.idx] = e.value()
	}
	return v
}
