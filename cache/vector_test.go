package cache

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHvecDots: sparse and dense storage give the same similarities.
func TestHvecDots(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	mk := func(nnz int) []float32 {
		v := make([]float32, 97)
		for range nnz {
			v[r.IntN(len(v))] = float32(r.NormFloat64())
		}
		normalize(v)
		return v
	}
	for range 200 {
		a, b, q := mk(1+r.IntN(20)), mk(1+r.IntN(90)), mk(97)
		ha, hb := makeHvec(a), makeHvec(b)
		if sparse := countNonZero(b)*3 <= len(b); sparse != (hb.dense == nil) {
			t.Fatalf("%d non-zero of %d stored sparse=%v", countNonZero(b), len(b), hb.dense == nil)
		}
		// Sparse values are stored in 1/32767ths.
		near := func(x, y float32) bool { return math.Abs(float64(x-y)) < 1e-3*(1+math.Abs(float64(y))) }
		if !near(ha.dotQ(q), dot(a, q)) || !near(hb.dotQ(q), dot(b, q)) || !near(dotH(&ha, &hb), dot(a, b)) || !near(dotH(&hb, &ha), dot(a, b)) {
			t.Fatalf("dots differ: %v %v / %v %v / %v %v", ha.dotQ(q), dot(a, q), hb.dotQ(q), dot(b, q), dotH(&ha, &hb), dot(a, b))
		}
		da := ha.toDense()
		for i := range a {
			if math.Abs(float64(da[i]-a[i])) > 1.0/32767 {
				t.Fatalf("toDense differs: %v vs %v", da[i], a[i])
			}
		}
	}
}

func countNonZero(v []float32) int {
	n := 0
	for _, x := range v {
		if x != 0 {
			n++
		}
	}
	return n
}
