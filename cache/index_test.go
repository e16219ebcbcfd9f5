package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache/qdranttest"
)

// indexBackend builds a fresh Index for the contract tests with the given
// clock, plus a run-unique suffix for names (a real Qdrant is shared).
type indexBackend struct {
	name string
	make func(t *testing.T, now func() time.Time) Index
}

func indexBackends() []indexBackend {
	return []indexBackend{
		{"memory", func(t *testing.T, now func() time.Time) Index {
			return NewMemoryIndex(MemoryIndexOptions{Now: now})
		}},
		{"qdranttest", func(t *testing.T, now func() time.Time) Index {
			srv := qdranttest.NewServer(t)
			return newTestQdrant(t, srv.Addr(), "contract", now)
		}},
		{"qdrant", func(t *testing.T, now func() time.Time) Index {
			addr := os.Getenv("JUNCTION_TEST_QDRANT")
			if addr == "" {
				t.Skip("JUNCTION_TEST_QDRANT is not set (host:port of a real Qdrant's gRPC API, e.g. 127.0.0.1:6334)")
			}
			return newTestQdrant(t, addr, fmt.Sprintf("contract-%d", time.Now().UnixNano()), now)
		}},
	}
}

func newTestQdrant(t *testing.T, addr, embedder string, now func() time.Time) Index {
	t.Helper()
	idx, err := NewQdrantIndex(context.Background(), QdrantConfig{URL: addr, Timeout: 5 * time.Second, CollectionPrefix: "junction_test"}, embedder, 0, QdrantOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return idx
}

func vec(xs ...float32) []float32 { return xs }

// TestIndexContract runs the Index contract against the memory index, the
// in-process fake Qdrant and, with JUNCTION_TEST_QDRANT, a real Qdrant.
func TestIndexContract(t *testing.T) {
	t.Parallel()
	for _, b := range indexBackends() {
		t.Run(b.name, func(t *testing.T) {
			clock := newFakeClock()
			idx := b.make(t, clock.Now)
			ctx := context.Background()
			a := Scope{Tenant: "team:a", Model: "m"}
			bb := Scope{Tenant: "team:b", Model: "m"}
			pts := []Point{
				{ID: "p1", Vector: vec(1, 0, 0, 0), Scope: a, Context: "c", Payload: []byte("one")},
				{ID: "p2", Vector: vec(0.9, 0.1, 0, 0), Scope: a, Context: "c", Payload: []byte("two"), ExpiresAt: clock.Now().Add(time.Minute)},
				{ID: "p3", Vector: vec(1, 0, 0, 0), Scope: bb, Context: "c", Payload: []byte("three")},
				{ID: "p4", Vector: vec(0, 1, 0, 0), Scope: a, Payload: []byte("four")},
				{ID: "p5", Vector: vec(1, 0.05, 0, 0), Scope: Scope{Tenant: "team:a", Model: "m", Tools: "t1"}, Context: "c", Payload: []byte("five")},
			}
			for _, p := range pts {
				if err := idx.Upsert(ctx, p); err != nil {
					t.Fatalf("upsert %s: %v", p.ID, err)
				}
			}
			ids := func(ms []Match) string {
				s := ""
				for _, m := range ms {
					s += m.ID + ":" + string(m.Payload) + " "
				}
				return s
			}
			search := func(f IndexFilter, k int, min float64) []Match {
				t.Helper()
				ms, err := idx.Search(ctx, vec(1, 0, 0, 0), f, k, min)
				if err != nil {
					t.Fatal(err)
				}
				for i := 1; i < len(ms); i++ {
					if ms[i].Score > ms[i-1].Score {
						t.Fatalf("not best first: %v", ids(ms))
					}
				}
				return ms
			}
			if got := ids(search(ExactFilter(a, "c"), 10, 0.5)); got != "p1:one p2:two " {
				t.Fatalf("exact filter: %q", got)
			}
			if got := ids(search(ExactFilter(a, "c"), 1, 0.5)); got != "p1:one " {
				t.Fatalf("k=1: %q", got)
			}
			if got := ids(search(IndexFilter{Tenant: "team:a"}, 10, 0.5)); got != "p1:one p5:five p2:two " {
				t.Fatalf("tenant filter: %q", got)
			}
			if got := ids(search(IndexFilter{}, 10, 0.995)); got != "p1:one p3:three p5:five " && got != "p3:three p1:one p5:five " {
				t.Fatalf("no filter, min 0.995: %q", got)
			}
			if got := ids(search(ExactFilter(a, ""), 10, -1)); got != "p4:four " {
				t.Fatalf("empty context exact: %q", got)
			}
			ms := search(ExactFilter(a, "c"), 1, 0)
			if ms[0].Score < 0.999 || ms[0].Score > 1 || ms[0].Scope != a || ms[0].Context != "c" || !ms[0].ExpiresAt.IsZero() {
				t.Fatalf("match %+v", ms[0])
			}
			if ms := search(ExactFilter(a, "c"), 10, 0.5); !ms[1].ExpiresAt.Equal(clock.Now().Add(time.Minute).Truncate(time.Second)) {
				t.Fatalf("expires_at %v", ms[1].ExpiresAt)
			}
			if n, err := idx.Len(ctx); err != nil || n != 5 {
				t.Fatalf("len %d %v", n, err)
			}
			// Expiry: p2 is gone from searches and from Len.
			clock.Advance(2 * time.Minute)
			if got := ids(search(ExactFilter(a, "c"), 10, 0.5)); got != "p1:one " {
				t.Fatalf("after expiry: %q", got)
			}
			if n, _ := idx.Len(ctx); n != 4 {
				t.Fatalf("len after expiry %d", n)
			}
			// Upsert replaces by ID.
			if err := idx.Upsert(ctx, Point{ID: "p1", Vector: vec(0, 0, 1, 0), Scope: a, Context: "c", Payload: []byte("one'")}); err != nil {
				t.Fatal(err)
			}
			if got := ids(search(ExactFilter(a, "c"), 10, 0.5)); got != "" {
				t.Fatalf("after replace: %q", got)
			}
			// Delete by tenant.
			if n, err := idx.Delete(ctx, IndexFilter{Tenant: "team:a"}); err != nil || n != 3 {
				t.Fatalf("delete tenant a: %d %v", n, err)
			}
			if got := ids(search(IndexFilter{}, 10, -1)); got != "p3:three " {
				t.Fatalf("after delete: %q", got)
			}
			if n, err := idx.Delete(ctx, IndexFilter{Model: "m"}); err != nil || n != 1 {
				t.Fatalf("delete model: %d %v", n, err)
			}
			if n, _ := idx.Len(ctx); n != 0 {
				t.Fatalf("len %d", n)
			}
			if ms, err := idx.Search(ctx, vec(1, 0, 0, 0), IndexFilter{}, 0, 0); err != nil || len(ms) != 0 {
				t.Fatalf("k=0: %v %v", ms, err)
			}
			// Other dimensions live beside (Qdrant: another collection).
			if err := idx.Upsert(ctx, Point{ID: "w", Vector: vec(1, 2, 3, 4, 5, 6, 7, 8), Scope: a}); err != nil {
				t.Fatal(err)
			}
			if ms, err := idx.Search(ctx, vec(1, 2, 3, 4, 5, 6, 7, 8), ExactFilter(a, ""), 1, 0.99); err != nil || len(ms) != 1 {
				t.Fatalf("8 dims: %v %v", ms, err)
			}
			if n, err := idx.Delete(ctx, IndexFilter{}); err != nil || n != 1 {
				t.Fatalf("delete all: %d %v", n, err)
			}
		})
	}
}

func TestMemoryIndexBoundsAndErrors(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	idx := NewMemoryIndex(MemoryIndexOptions{MaxEntries: 3, Now: clock.Now, SweepInterval: time.Minute})
	ctx := context.Background()
	s := Scope{Tenant: "t", Model: "m"}
	for i := range 5 {
		if err := idx.Upsert(ctx, Point{ID: fmt.Sprint(i), Vector: vec(1, float32(i), 0), Scope: s}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	ms, _ := idx.Search(ctx, vec(1, 0, 0), IndexFilter{}, 10, -1)
	if len(ms) != 3 {
		t.Fatalf("%d points kept", len(ms))
	}
	for _, m := range ms {
		if m.ID == "0" || m.ID == "1" {
			t.Fatalf("oldest point %s kept", m.ID)
		}
	}
	if err := idx.Upsert(ctx, Point{ID: "z", Vector: vec(0, 0, 0), Scope: s}); !errors.Is(err, ErrZeroVector) {
		t.Fatalf("zero vector: %v", err)
	}
	if err := idx.Upsert(ctx, Point{ID: "d", Vector: vec(1, 0), Scope: s}); !errors.Is(err, ErrDimensions) {
		t.Fatalf("dims: %v", err)
	}
	if _, err := idx.Search(ctx, vec(1, 0), ExactFilter(s, ""), 1, 0); !errors.Is(err, ErrDimensions) {
		t.Fatalf("search dims: %v", err)
	}
	// A scope's only point may change dimensions by replacing itself.
	other := Scope{Tenant: "u", Model: "m"}
	_ = idx.Upsert(ctx, Point{ID: "only", Vector: vec(1, 0), Scope: other})
	if err := idx.Upsert(ctx, Point{ID: "only", Vector: vec(1, 0, 0, 0), Scope: other}); err != nil {
		t.Fatalf("re-dimension: %v", err)
	}
	// Expired points are swept by a later upsert.
	_ = idx.Upsert(ctx, Point{ID: "exp", Vector: vec(0, 1, 0), Scope: s, ExpiresAt: clock.Now().Add(time.Second)})
	clock.Advance(2 * time.Minute)
	_ = idx.Upsert(ctx, Point{ID: "new", Vector: vec(0, 0, 1), Scope: s})
	if n := len(idx.(*memIndex).byID); n != 3 {
		t.Fatalf("%d records after sweep", n)
	}
	// A stored vector is a copy.
	v := vec(1, 1, 1)
	_ = idx.Upsert(ctx, Point{ID: "copy", Vector: v, Scope: s})
	v[0] = -100
	if ms, _ := idx.Search(ctx, vec(1, 1, 1), ExactFilter(s, ""), 1, 0.99); len(ms) != 1 || ms[0].ID != "copy" {
		t.Fatalf("stored vector changed: %+v", ms)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Upsert(ctx, Point{ID: "x", Vector: vec(1, 0, 0), Scope: s}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
