package cache

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// HNSW parameters (Malkov & Yashunin): M links per node on the upper layers,
// 2M on layer 0, and the candidate list sizes for building and searching.
const (
	hnswM              = 16
	hnswM0             = 2 * hnswM
	hnswEfConstruction = 64
	hnswEfSearch       = 48
)

var hnswLevelMult = 1 / math.Log(hnswM)

// hnswGraph is a hierarchical navigable small world graph over unit vectors
// (similarity = dot product). Edges are directed, as in the paper; every node
// also records its in-edges so that a delete can unlink and repair the nodes
// pointing at it, and its slot can be reused. A graph is not safe for
// concurrent use: the owner (memIndex) locks around writes and lets searches
// run concurrently under a read lock.
type hnswGraph struct {
	dims  int
	nodes []hnode
	free  []int32
	entry int32 // -1 when empty
	top   int   // level of entry
	live  int
	rng   *rand.Rand
	// serials numbers the nodes ever allocated.
	serials uint64
}

type hnode struct {
	vec  hvec
	used bool // false for a free slot
	// serial tells a reused slot from the node that held it before.
	serial uint64
	out    [][]int32   // out[l]: links on layer l
	sim    [][]float32 // sim[l][i]: similarity of out[l][i] to this node
	in     [][]int32   // in[l]: nodes linking here on layer l
	rec    *memRecord
}

type cand struct {
	id  int32
	sim float32
}

func newHNSWGraph(dims int, seed uint64) *hnswGraph {
	return &hnswGraph{dims: dims, entry: -1, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

func maxLinks(level int) int {
	if level == 0 {
		return hnswM0
	}
	return hnswM
}

// insertPlan is the expensive part of an insert, the layer-0 candidate
// search, done beforehand under a read lock (concurrently with searches);
// insert then only links, once it has checked that the candidates still exist.
type insertPlan struct {
	cands   []cand // best first
	serials []uint64
}

// plan searches the layer-0 neighbours of vec. It only reads the graph.
func (g *hnswGraph) plan(vec []float32, vs *visitSet) *insertPlan {
	if g.entry < 0 {
		return nil
	}
	ep := cand{g.entry, g.nodes[g.entry].vec.dotQ(vec)}
	for l := g.top; l > 0; l-- {
		ep = g.greedy(vec, ep, l)
	}
	p := &insertPlan{cands: slices.Clone(g.searchLayer(vec, ep, hnswEfConstruction, 0, vs))}
	p.serials = make([]uint64, len(p.cands))
	for i, c := range p.cands {
		p.serials[i] = g.nodes[c.id].serial
	}
	return p
}

// valid returns the planned candidates that are still the nodes planned.
func (g *hnswGraph) valid(p *insertPlan) []cand {
	out := p.cands[:0:0]
	for i, c := range p.cands {
		if int(c.id) < len(g.nodes) && g.nodes[c.id].used && g.nodes[c.id].serial == p.serials[i] {
			out = append(out, c)
		}
	}
	return out
}

// insert adds unit vector vec and returns its slot. With a plan (made by
// plan on this graph, possibly before other changes) a layer-0 node is linked
// to the planned candidates that still exist.
func (g *hnswGraph) insert(vec []float32, rec *memRecord, vs *visitSet, p *insertPlan) int32 {
	level := int(-math.Log(1-g.rng.Float64()) * hnswLevelMult)
	if level > 16 {
		level = 16
	}
	if p != nil && level == 0 && g.entry >= 0 {
		if cands := g.valid(p); len(cands) > 0 {
			id := g.alloc(vec, rec, 0)
			g.live++
			g.connect(id, cands, 0)
			return id
		}
	}
	id := g.alloc(vec, rec, level)
	g.live++
	if g.entry < 0 {
		g.entry, g.top = id, level
		return id
	}
	ep := cand{g.entry, g.nodes[g.entry].vec.dotQ(vec)}
	for l := g.top; l > level; l-- {
		ep = g.greedy(vec, ep, l)
	}
	for l := min(level, g.top); l >= 0; l-- {
		cands := g.searchLayer(vec, ep, hnswEfConstruction, l, vs)
		g.connect(id, cands, l)
		ep = cands[0]
	}
	if level > g.top {
		g.entry, g.top = id, level
	}
	return id
}

// connect links node id both ways with the neighbours the heuristic selects
// from cands (best first) on layer l.
func (g *hnswGraph) connect(id int32, cands []cand, l int) {
	for _, n := range g.selectNeighbors(cands, hnswM) {
		g.link(id, n.id, n.sim, l)
		g.link(n.id, id, n.sim, l)
		if len(g.nodes[n.id].out[l]) > maxLinks(l) {
			g.dropFarthest(n.id, l)
		}
	}
}

func (g *hnswGraph) alloc(vec []float32, rec *memRecord, level int) int32 {
	var id int32
	if n := len(g.free); n > 0 {
		id = g.free[n-1]
		g.free = g.free[:n-1]
	} else {
		id = int32(len(g.nodes))
		g.nodes = append(g.nodes, hnode{})
	}
	nd := &g.nodes[id]
	g.serials++
	nd.vec, nd.rec, nd.used, nd.serial = makeHvec(vec), rec, true, g.serials
	nd.out = make([][]int32, level+1)
	nd.sim = make([][]float32, level+1)
	nd.in = make([][]int32, level+1)
	return id
}

// link adds the edge from→to of similarity sim on layer l.
func (g *hnswGraph) link(from, to int32, sim float32, l int) {
	f := &g.nodes[from]
	f.out[l] = append(f.out[l], to)
	f.sim[l] = append(f.sim[l], sim)
	g.nodes[to].in[l] = append(g.nodes[to].in[l], from)
}

// removeOut drops the link from→to on layer l (not the in-link).
func (g *hnswGraph) removeOut(from, to int32, l int) {
	f := &g.nodes[from]
	if i := slices.Index(f.out[l], to); i >= 0 {
		last := len(f.out[l]) - 1
		f.out[l][i], f.sim[l][i] = f.out[l][last], f.sim[l][last]
		f.out[l], f.sim[l] = f.out[l][:last], f.sim[l][:last]
	}
}

// dropFarthest removes the least similar link of node id on layer l, once
// the links exceed the bound. (A heuristic re-selection here would cost a dot
// product per pair of links on every insert.)
func (g *hnswGraph) dropFarthest(id int32, l int) {
	nd := &g.nodes[id]
	worst := 0
	for i, s := range nd.sim[l] {
		if s < nd.sim[l][worst] {
			worst = i
		}
	}
	o := nd.out[l][worst]
	g.removeOut(id, o, l)
	g.nodes[o].in[l] = removeID(g.nodes[o].in[l], id)
}

func removeID(s []int32, id int32) []int32 {
	if i := slices.Index(s, id); i >= 0 {
		s[i] = s[len(s)-1]
		return s[:len(s)-1]
	}
	return s
}

// selectNeighbors is the paper's heuristic: walk the candidates best first and
// keep one only when it is closer to the query than to every one kept, so the
// links spread in different directions. cands must be sorted best first.
func (g *hnswGraph) selectNeighbors(cands []cand, m int) []cand {
	if len(cands) <= m {
		return slices.Clone(cands)
	}
	kept := make([]cand, 0, m)
	for _, c := range cands {
		good := true
		for _, k := range kept {
			if dotH(&g.nodes[c.id].vec, &g.nodes[k.id].vec) > c.sim {
				good = false
				break
			}
		}
		if good {
			kept = append(kept, c)
			if len(kept) == m {
				break
			}
		}
	}
	return kept
}

// remove deletes the node in slot id, repairing the nodes that linked to it
// with its own links, and frees the slot.
func (g *hnswGraph) remove(id int32) {
	nd := &g.nodes[id]
	for l := range nd.out {
		// Unlink id from its targets' in-lists.
		for _, o := range nd.out[l] {
			g.nodes[o].in[l] = removeID(g.nodes[o].in[l], id)
		}
		// Repair every node that linked to id: it takes, in place of id, the
		// most similar of id's own links that it does not link to yet. (A full
		// re-selection would cost a heuristic run per in-link.)
		for _, u := range nd.in[l] {
			un := &g.nodes[u]
			g.removeOut(u, id, l)
			best, bestSim := int32(-1), float32(-2)
			for _, o := range nd.out[l] {
				if o == u || slices.Contains(un.out[l], o) {
					continue
				}
				if s := dotH(&un.vec, &g.nodes[o].vec); s > bestSim {
					best, bestSim = o, s
				}
			}
			if best >= 0 {
				g.link(u, best, bestSim, l)
			}
		}
	}
	*nd = hnode{}
	g.free = append(g.free, id)
	g.live--
	if g.entry == id {
		g.entry, g.top = -1, 0
		for i := range g.nodes {
			if n := &g.nodes[i]; n.used && (g.entry < 0 || len(n.out)-1 > g.top) {
				g.entry, g.top = int32(i), len(n.out)-1
			}
		}
	}
}

// greedy walks layer l from ep to the node most similar to q.
func (g *hnswGraph) greedy(q []float32, ep cand, l int) cand {
	for changed := true; changed; {
		changed = false
		for _, o := range g.nodes[ep.id].out[l] {
			if s := g.nodes[o].vec.dotQ(q); s > ep.sim {
				ep, changed = cand{o, s}, true
			}
		}
	}
	return ep
}

// searchLayer returns up to ef nodes of layer l most similar to q, best first.
func (g *hnswGraph) searchLayer(q []float32, ep cand, ef, l int, vs *visitSet) []cand {
	vs.reset(len(g.nodes))
	vs.visit(ep.id)
	frontier := candHeap{items: vs.frontier[:0], max: true}
	results := candHeap{items: vs.results[:0]}
	frontier.push(ep)
	results.push(ep)
	for frontier.len() > 0 {
		c := frontier.pop()
		if results.len() >= ef && c.sim < results.peek().sim {
			break
		}
		for _, o := range g.nodes[c.id].out[l] {
			if !vs.visit(o) {
				continue
			}
			s := g.nodes[o].vec.dotQ(q)
			if results.len() < ef || s > results.peek().sim {
				frontier.push(cand{o, s})
				results.push(cand{o, s})
				if results.len() > ef {
					results.pop()
				}
			}
		}
	}
	// Keep the grown buffers for the next search; the result aliases
	// vs.results until then.
	vs.frontier, vs.results = frontier.items, results.items
	out := results.items
	sortCands(out)
	return out
}

// search returns up to ef candidates most similar to q, best first.
func (g *hnswGraph) search(q []float32, ef int, vs *visitSet) []cand {
	if g.entry < 0 {
		return nil
	}
	ep := cand{g.entry, g.nodes[g.entry].vec.dotQ(q)}
	for l := g.top; l > 0; l-- {
		ep = g.greedy(q, ep, l)
	}
	return g.searchLayer(q, ep, ef, 0, vs)
}

func sortCands(c []cand) {
	slices.SortFunc(c, func(a, b cand) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return int(a.id - b.id)
	})
}

// candHeap is a binary heap of candidates: the most similar on top when max,
// else the least similar.
type candHeap struct {
	items []cand
	max   bool
}

func (h *candHeap) len() int   { return len(h.items) }
func (h *candHeap) peek() cand { return h.items[0] }
func (h *candHeap) less(i, j int) bool {
	if h.max {
		return h.items[i].sim > h.items[j].sim
	}
	return h.items[i].sim < h.items[j].sim
}

func (h *candHeap) push(c cand) {
	h.items = append(h.items, c)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *candHeap) pop() cand {
	top := h.items[0]
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	h.items = h.items[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}

// visitSet marks visited slots with a generation number, so resetting it is
// free, and keeps the search heaps' buffers. Searches take one from
// visitPool; what searchLayer returns is valid until the next search with it.
type visitSet struct {
	marks             []uint32
	gen               uint32
	frontier, results []cand
}

var visitPool = sync.Pool{New: func() any { return new(visitSet) }}

func (v *visitSet) reset(n int) {
	if len(v.marks) < n {
		v.marks = make([]uint32, n+n/4)
		v.gen = 0
	}
	v.gen++
	if v.gen == 0 {
		clear(v.marks)
		v.gen = 1
	}
}

// visit marks id and reports whether it was unvisited.
func (v *visitSet) visit(id int32) bool {
	if v.marks[id] == v.gen {
		return false
	}
	v.marks[id] = v.gen
	return true
}
