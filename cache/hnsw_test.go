package cache

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func randomUnit(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	normalize(v)
	return v
}

// checkGraph verifies that every out-link has its in-link and back, that no
// link points at a free slot, and that the link bounds hold.
func checkGraph(t *testing.T, g *hnswGraph) {
	t.Helper()
	live := 0
	for id := range g.nodes {
		n := &g.nodes[id]
		if !n.used {
			if len(n.out) != 0 || len(n.in) != 0 {
				t.Fatalf("free slot %d has links", id)
			}
			continue
		}
		live++
		for l := range n.out {
			if len(n.out[l]) > maxLinks(l) {
				t.Fatalf("node %d layer %d has %d links", id, l, len(n.out[l]))
			}
			for _, o := range n.out[l] {
				if !g.nodes[o].used {
					t.Fatalf("node %d links to free slot %d", id, o)
				}
				if !slices.Contains(g.nodes[o].in[l], int32(id)) {
					t.Fatalf("edge %d->%d on layer %d has no in-link", id, o, l)
				}
			}
			for _, u := range n.in[l] {
				if !slices.Contains(g.nodes[u].out[l], int32(id)) {
					t.Fatalf("in-link %d<-%d on layer %d has no edge", id, u, l)
				}
			}
		}
	}
	if live != g.live {
		t.Fatalf("live = %d, counted %d", g.live, live)
	}
	if live > 0 && (g.entry < 0 || !g.nodes[g.entry].used) {
		t.Fatalf("entry %d is not a live node", g.entry)
	}
}

func bruteBest(g *hnswGraph, q []float32) int32 {
	best, bestSim := int32(-1), float32(-2)
	for id := range g.nodes {
		if n := &g.nodes[id]; n.used {
			if s := n.vec.dotQ(q); s > bestSim {
				best, bestSim = int32(id), s
			}
		}
	}
	return best
}

// TestHNSWRecallAfterDeletes builds a graph, deletes half of it (with slot
// reuse by later inserts) and checks that the nearest neighbour is still found
// for almost every query, and that the graph stays consistent.
func TestHNSWRecallAfterDeletes(t *testing.T) {
	t.Parallel()
	const n, dims = 4000, 32
	r := rand.New(rand.NewPCG(1, 2))
	g, vs, ids := randomGraph(r, dims, 7, n)
	checkGraph(t, g)
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for _, id := range ids[:n/2] {
		g.remove(id)
	}
	checkGraph(t, g)
	for range n / 4 {
		g.insert(randomUnit(r, dims), nil, vs, nil)
	}
	checkGraph(t, g)
	found := 0
	const queries = 500
	for range queries {
		q := randomUnit(r, dims)
		res := g.search(q, hnswEfSearch, vs)
		if len(res) > 0 && res[0].id == bruteBest(g, q) {
			found++
		}
	}
	if recall := float64(found) / queries; recall < 0.9 {
		t.Fatalf("recall@1 = %.3f, want >= 0.9", recall)
	}
	for _, id := range slices.Clone(ids[n/2:]) {
		g.remove(id)
	}
	checkGraph(t, g)
}

func TestHNSWRemoveAll(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	g, vs, ids := randomGraph(r, 8, 1, 300)
	for _, id := range ids {
		g.remove(id)
		checkGraph(t, g)
	}
	if g.entry != -1 || g.live != 0 {
		t.Fatalf("entry %d live %d after removing everything", g.entry, g.live)
	}
	if res := g.search(randomUnit(r, 8), 10, vs); len(res) != 0 {
		t.Fatalf("search of an empty graph returned %v", res)
	}
	g.insert(randomUnit(r, 8), nil, vs, nil)
	checkGraph(t, g)
}

// TestHNSWStalePlan: an insert planned before other inserts and deletes
// links only to candidates that still exist, and the graph stays consistent.
func TestHNSWStalePlan(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 9))
	g, vs, ids := randomGraph(r, 16, 3, 500)
	for range 200 {
		v := randomUnit(r, 16)
		p := g.plan(v, vs)
		// The planned candidates go away (their slots are reused) before
		// the insert.
		for _, c := range p.cands[:len(p.cands)/2] {
			g.remove(c.id)
			ids = slices.DeleteFunc(ids, func(id int32) bool { return id == c.id })
			ids = append(ids, g.insert(randomUnit(r, 16), nil, vs, nil))
		}
		ids = append(ids, g.insert(v, nil, vs, p))
	}
	checkGraph(t, g)
	found := 0
	for range 200 {
		q := randomUnit(r, 16)
		if res := g.search(q, hnswEfSearch, vs); len(res) > 0 && res[0].id == bruteBest(g, q) {
			found++
		}
	}
	if found < 180 {
		t.Fatalf("recall@1 %d/200 after planned inserts", found)
	}
}

// randomGraph is a graph of dims dimensions built with seed by inserting n
// random unit vectors; it returns the visit set it used and the ids.
func randomGraph(r *rand.Rand, dims int, seed uint64, n int) (*hnswGraph, *visitSet, []int32) {
	g := newHNSWGraph(dims, seed)
	vs := new(visitSet)
	ids := make([]int32, 0, n)
	for range n {
		ids = append(ids, g.insert(randomUnit(r, dims), nil, vs, nil))
	}
	return g, vs, ids
}
