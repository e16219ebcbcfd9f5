package cache

// hvec is a unit vector as the graph stores it: dense, or, when at most a
// third of its components are non-zero (the lexical embedder's vectors have
// about a hundred of 512), as sorted indexes and values, which makes every
// similarity computed against it several times cheaper.
type hvec struct {
	dense []float32 // nil when sparse
	idx   []int32
	val   []float32
	dims  int
}

func makeHvec(v []float32) hvec {
	nnz := 0
	for _, x := range v {
		if x != 0 {
			nnz++
		}
	}
	if nnz*3 > len(v) {
		return hvec{dense: v, dims: len(v)}
	}
	h := hvec{idx: make([]int32, 0, nnz), val: make([]float32, 0, nnz), dims: len(v)}
	for i, x := range v {
		if x != 0 {
			h.idx = append(h.idx, int32(i))
			h.val = append(h.val, x)
		}
	}
	return h
}

// dotQ is the similarity of a dense query q (of the same length) to h.
func (h *hvec) dotQ(q []float32) float32 {
	if h.dense != nil {
		return dot(q, h.dense)
	}
	idx, val := h.idx, h.val[:len(h.idx)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(idx); i += 4 {
		s0 += q[idx[i]] * val[i]
		s1 += q[idx[i+1]] * val[i+1]
		s2 += q[idx[i+2]] * val[i+2]
		s3 += q[idx[i+3]] * val[i+3]
	}
	for ; i < len(idx); i++ {
		s0 += q[idx[i]] * val[i]
	}
	return s0 + s1 + s2 + s3
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
	for i, j := 0, 0; i < len(a.idx) && j < len(b.idx); {
		switch {
		case a.idx[i] == b.idx[j]:
			s += a.val[i] * b.val[j]
			i++
			j++
		case a.idx[i] < b.idx[j]:
			i++
		default:
			j++
		}
	}
	return s
}

// toDense returns h as a dense vector (a new slice when h is sparse).
func (h *hvec) toDense() []float32 {
	if h.dense != nil {
		return h.dense
	}
	v := make([]float32, h.dims)
	for i, j := range h.idx {
		v[j] = h.val[i]
	}
	return v
}
