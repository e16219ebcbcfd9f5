package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache/qdranttest"
	"github.com/junctionhq/junction/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
)

// newFakeClock returns the injected clock of the suite.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// backend is one combination of tier back-ends the suite runs against.
type backend struct {
	name string
	// configure sets the back-ends in cfg; it may skip the test.
	configure func(t *testing.T, cfg *Config)
	// realClockExact: the exact tier expires by the wall clock (Redis).
	realClockExact bool
	// bounded: the back-ends evict by size (memory).
	bounded bool
}

func backends() []backend {
	return []backend{
		{name: "memory", configure: func(*testing.T, *Config) {}, bounded: true},
		{name: "qdrant", configure: func(t *testing.T, cfg *Config) {
			srv := qdranttest.NewServer(t)
			cfg.Semantic.Backend = BackendQdrant
			cfg.Semantic.Qdrant.URL = srv.Addr()
			cfg.Semantic.Qdrant.Timeout = 2 * time.Second // the race detector is slow
		}},
		{name: "redis", realClockExact: true, configure: func(t *testing.T, cfg *Config) {
			url := testkit.RedisURL(t)
			cfg.Exact.Backend = BackendRedis
			cfg.Exact.RedisURL = url
		}},
	}
}

// suiteEnv is one cache under test with its clock and a run-unique naming
// of tenants and models (the Redis and Qdrant back-ends may be shared).
type suiteEnv struct {
	t     *testing.T
	c     *Cache
	clock *testkit.Clock
	run   string
}

func newSuiteEnv(t *testing.T, b backend, edit func(*Config)) *suiteEnv {
	t.Helper()
	cfg := Config{Enabled: true}
	b.configure(t, &cfg)
	if edit != nil {
		edit(&cfg)
	}
	clock := newFakeClock()
	c, err := New(context.Background(), Options{Config: cfg, Now: clock.Now, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &suiteEnv{t: t, c: c, clock: clock, run: fmt.Sprintf("%d", time.Now().UnixNano())}
}

func (e *suiteEnv) scope(tenant, model string) Scope {
	return Scope{Tenant: "team:" + tenant + "-" + e.run, Model: model + "-" + e.run}
}

func (e *suiteEnv) store(r Request, value string, ttl time.Duration) {
	e.t.Helper()
	if err := e.c.Store(context.Background(), r, Entry{Value: []byte(value), PromptTokens: 10, CompletionTokens: 5, CostUSD: 0.01}, ttl); err != nil {
		e.t.Fatalf("store: %v", err)
	}
}

func (e *suiteEnv) lookup(r Request) *Hit {
	e.t.Helper()
	h, err := e.c.Lookup(context.Background(), r)
	if err != nil {
		e.t.Fatalf("lookup: %v", err)
	}
	return h
}

func (e *suiteEnv) wantHit(r Request, tier Tier, value string) *Hit {
	e.t.Helper()
	h := e.lookup(r)
	if h == nil {
		e.t.Fatalf("lookup %+v: miss, want a %s hit", r, tier)
	}
	if h.Tier != tier || string(h.Value) != value {
		e.t.Fatalf("lookup %+v: %s hit %q, want %s hit %q", r, h.Tier, h.Value, tier, value)
	}
	return h
}

func (e *suiteEnv) wantMiss(r Request) {
	e.t.Helper()
	if h := e.lookup(r); h != nil {
		e.t.Fatalf("lookup %+v: %s hit %q (similarity %.3f), want a miss", r, h.Tier, h.Value, h.Similarity)
	}
}

// TestSuite runs the shared behaviour tests against every back-end.
func TestSuite(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Run("ExactRepeatHits", func(t *testing.T) { testExactRepeat(t, b) })
			t.Run("ParaphraseHitsSemantically", func(t *testing.T) { testParaphrase(t, b) })
			t.Run("DifferentQuestionMisses", func(t *testing.T) { testDifferentQuestion(t, b) })
			t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, b) })
			t.Run("ContextAndToolsIsolation", func(t *testing.T) { testContextIsolation(t, b) })
			t.Run("TTLExpiry", func(t *testing.T) { testTTL(t, b) })
			t.Run("Purge", func(t *testing.T) { testPurge(t, b) })
			t.Run("ThresholdOverride", func(t *testing.T) { testThresholdOverride(t, b) })
			t.Run("Stats", func(t *testing.T) { testStats(t, b) })
			t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, b) })
			if b.bounded {
				t.Run("SizeBoundEviction", func(t *testing.T) { testSizeBound(t, b) })
			}
		})
	}
}

func testExactRepeat(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	r := Request{Scope: e.scope("a", "gpt"), Exact: "h1", Prompt: "What is the capital of France?"}
	e.wantMiss(r)
	e.store(r, "Paris", 0)
	h := e.wantHit(r, TierExact, "Paris")
	if h.Similarity != 1 || h.PromptTokens != 10 || h.CompletionTokens != 5 || h.CostUSD != 0.01 || !h.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("hit %+v", h)
	}
	// Exact tier alone (no prompt) also hits.
	e.wantHit(Request{Scope: r.Scope, Exact: "h1"}, TierExact, "Paris")
	// A different exact key with no prompt misses.
	e.wantMiss(Request{Scope: r.Scope, Exact: "h2"})
	// Storing again replaces.
	e.store(r, "Paris, France", 0)
	e.wantHit(r, TierExact, "Paris, France")
}

func testParaphrase(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	s := e.scope("a", "gpt")
	for i, p := range paraphrasePairs {
		ctx := fmt.Sprintf("ctx%d", i) // one context per pair, so pairs do not meet
		e.store(Request{Scope: s, Exact: fmt.Sprintf("a%d", i), Prompt: p[0], Context: ctx}, fmt.Sprintf("answer %d", i), 0)
		h := e.wantHit(Request{Scope: s, Exact: fmt.Sprintf("b%d", i), Prompt: p[1], Context: ctx}, TierSemantic, fmt.Sprintf("answer %d", i))
		if h.Similarity < DefaultLexicalThreshold || h.Similarity > 1 {
			t.Fatalf("similarity %.4f", h.Similarity)
		}
	}
}

func testDifferentQuestion(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	s := e.scope("a", "gpt")
	for i, p := range append(differentPairs, lexicalMisses...) {
		ctx := fmt.Sprintf("ctx%d", i)
		e.store(Request{Scope: s, Exact: fmt.Sprintf("a%d", i), Prompt: p[0], Context: ctx}, "x", 0)
		e.wantMiss(Request{Scope: s, Exact: fmt.Sprintf("b%d", i), Prompt: p[1], Context: ctx})
	}
}

func testTenantIsolation(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	a := Request{Scope: e.scope("a", "gpt"), Exact: "same", Prompt: "What is the capital of France?"}
	e.store(a, "for a", 0)
	other := a
	other.Scope = e.scope("b", "gpt")
	e.wantMiss(other) // same exact key, same prompt: neither tier may answer
	other.Exact = ""
	e.wantMiss(other)
	e.wantHit(a, TierExact, "for a")
	// A tenant whose name is a prefix of the other's does not see it either.
	prefix := a
	prefix.Scope.Tenant = strings.TrimSuffix(a.Scope.Tenant, e.run)
	e.wantMiss(prefix)
}

func testContextIsolation(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	r := Request{Scope: e.scope("a", "gpt"), Prompt: "What is the capital of France?", Context: "sys1"}
	e.store(r, "Paris", 0)
	e.wantHit(r, TierSemantic, "Paris")
	for _, other := range []Request{
		{Scope: r.Scope, Prompt: r.Prompt, Context: "sys2"},
		{Scope: r.Scope, Prompt: r.Prompt}, // no context is a context of its own
		{Scope: Scope{Tenant: r.Scope.Tenant, Model: r.Scope.Model, Tools: "toolhash"}, Prompt: r.Prompt, Context: "sys1"},
		{Scope: e.scope("a", "claude"), Prompt: r.Prompt, Context: "sys1"},
	} {
		e.wantMiss(other)
	}
	// And an entry without context is served only without context.
	bare := Request{Scope: r.Scope, Prompt: "Who wrote War and Peace?"}
	e.store(bare, "Tolstoy", 0)
	e.wantHit(bare, TierSemantic, "Tolstoy")
	e.wantMiss(Request{Scope: r.Scope, Prompt: bare.Prompt, Context: "sys1"})
}

func testTTL(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	r := Request{Scope: e.scope("a", "gpt"), Exact: "h1", Prompt: "What is the capital of France?"}
	short := Request{Scope: r.Scope, Exact: "h2", Prompt: "Who wrote War and Peace?"}
	ttl := time.Minute
	if b.realClockExact {
		ttl = 1500 * time.Millisecond
	}
	e.store(r, "Paris", 0) // Config.TTL: 1h
	e.store(short, "Tolstoy", ttl)
	e.wantHit(short, TierExact, "Tolstoy")
	e.clock.Advance(2 * time.Minute)
	if b.realClockExact { // the backend expires on its own clock: let the TTL pass
		time.Sleep(ttl + 200*time.Millisecond)
	}
	e.wantMiss(short)
	e.wantMiss(Request{Scope: r.Scope, Prompt: short.Prompt})
	e.wantHit(r, TierExact, "Paris")
	e.wantHit(Request{Scope: r.Scope, Prompt: r.Prompt}, TierSemantic, "Paris")
	e.clock.Advance(time.Hour)
	if !b.realClockExact {
		e.wantMiss(r)
	}
	e.wantMiss(Request{Scope: r.Scope, Prompt: r.Prompt})
}

func testPurge(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	reqs := map[string]Request{
		"a/m1": {Scope: e.scope("a", "m1"), Exact: "1", Prompt: "What is the capital of France?"},
		"a/m2": {Scope: e.scope("a", "m2"), Exact: "2", Prompt: "What is the capital of France?"},
		"b/m1": {Scope: e.scope("b", "m1"), Exact: "3", Prompt: "What is the capital of France?"},
		"b/m2": {Scope: e.scope("b", "m2"), Exact: "4", Prompt: "What is the capital of France?"},
	}
	for name, r := range reqs {
		e.store(r, name, 0)
	}
	semantic := func(r Request) Request { return Request{Scope: r.Scope, Prompt: r.Prompt} }
	n, err := e.c.Purge(context.Background(), Filter{Tenant: reqs["a/m1"].Scope.Tenant})
	if err != nil || n != 4 { // two entries in each tier
		t.Fatalf("purge tenant a: %d, %v; want 4", n, err)
	}
	e.wantMiss(reqs["a/m1"])
	e.wantMiss(reqs["a/m2"])
	e.wantHit(reqs["b/m1"], TierExact, "b/m1")
	e.wantHit(semantic(reqs["b/m2"]), TierSemantic, "b/m2")
	n, err = e.c.Purge(context.Background(), Filter{Model: reqs["b/m1"].Scope.Model})
	if err != nil || n != 2 {
		t.Fatalf("purge model m1: %d, %v; want 2", n, err)
	}
	e.wantMiss(reqs["b/m1"])
	e.wantMiss(semantic(reqs["b/m1"]))
	e.wantHit(reqs["b/m2"], TierExact, "b/m2")
	e.wantHit(semantic(reqs["b/m2"]), TierSemantic, "b/m2")
	n, err = e.c.Purge(context.Background(), Filter{Tenant: reqs["b/m2"].Scope.Tenant, Model: reqs["b/m2"].Scope.Model})
	if err != nil || n != 2 {
		t.Fatalf("purge b/m2: %d, %v; want 2", n, err)
	}
	e.wantMiss(reqs["b/m2"])
}

func testThresholdOverride(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	s := e.scope("a", "gpt")
	e.store(Request{Scope: s, Prompt: "What is the capital of France?"}, "Paris", 0)
	near := Request{Scope: s, Prompt: "What is the capital of Germany?"}
	e.wantMiss(near)
	near.Threshold = 0.3
	h := e.wantHit(near, TierSemantic, "Paris")
	if h.Similarity >= DefaultLexicalThreshold || h.Similarity < 0.3 {
		t.Fatalf("similarity %.3f", h.Similarity)
	}
}

func testStats(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, func(c *Config) { c.NominalCost = 0.004 })
	r := Request{Scope: e.scope("a", "gpt"), Exact: "h", Prompt: "What is the capital of France?"}
	e.wantMiss(r)
	e.store(r, "Paris", 0)
	e.wantHit(r, TierExact, "Paris")
	e.wantHit(Request{Scope: r.Scope, Prompt: r.Prompt}, TierSemantic, "Paris")
	st := e.c.Stats(context.Background())
	if !st.Enabled || st.Exact.Hits != 1 || st.Exact.Misses != 1 || st.Semantic.Hits != 1 || st.Semantic.Misses != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st.TokensSaved != 30 || st.CostSavedUSD < 0.0119 || st.CostSavedUSD > 0.0121 {
		t.Fatalf("saved %d tokens, %v USD; want 30 and 0.012", st.TokensSaved, st.CostSavedUSD)
	}
	if st.Semantic.Entries != 1 || st.Semantic.Backend == "" || st.Exact.Backend == "" {
		t.Fatalf("stats %+v", st)
	}
	if !b.realClockExact && st.Exact.Entries != 1 {
		t.Fatalf("exact entries %d", st.Exact.Entries)
	}
}

func testConcurrent(t *testing.T, b backend) {
	e := newSuiteEnv(t, b, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := e.scope(fmt.Sprintf("t%d", g%3), "gpt")
			for i := range 40 {
				r := Request{Scope: s, Exact: fmt.Sprintf("k%d", i%10), Prompt: fmt.Sprintf("question number %d about topic %d", i%10, g)}
				if _, err := e.c.Lookup(context.Background(), r); err != nil {
					errs <- err
					return
				}
				if err := e.c.Store(context.Background(), r, Entry{Value: []byte("v")}, 0); err != nil {
					errs <- err
					return
				}
				if i%17 == 0 {
					if _, err := e.c.Purge(context.Background(), Filter{Tenant: s.Tenant}); err != nil {
						errs <- err
						return
					}
				}
				_ = e.c.Stats(context.Background())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testSizeBound(t *testing.T, b backend) {
	// Each exact entry is a 100-byte value, a 1-byte key and the scope
	// (run ids are 19 digits); the bound holds three.
	entrySize := int64(exactOverhead + 100 + 1 + len("team:a-") + 19 + len("gpt-") + 19)
	e := newSuiteEnv(t, b, func(c *Config) {
		c.Semantic.MaxEntries = 3
		c.Exact.MaxBytes = 3*entrySize + 10
	})
	s := e.scope("a", "gpt")
	prompts := []string{"Who wrote War and Peace?", "What is the capital of France?", "Is 17 a prime number?", "Convert 100 degrees Fahrenheit to Celsius"}
	val := func(p string) string { return fmt.Sprintf("%-100s", p) }
	for i, p := range prompts {
		e.store(Request{Scope: s, Exact: fmt.Sprint(i), Prompt: p}, val(p), 0)
	}
	e.wantMiss(Request{Scope: s, Exact: "0"})
	e.wantMiss(Request{Scope: s, Prompt: prompts[0]})
	for i, p := range prompts[1:] {
		e.wantHit(Request{Scope: s, Exact: fmt.Sprint(i + 1)}, TierExact, val(p))
		e.wantHit(Request{Scope: s, Prompt: p}, TierSemantic, val(p))
	}
	st := e.c.Stats(context.Background())
	if st.Semantic.Entries != 3 || st.Exact.Entries != 3 || st.Exact.Bytes != 3*entrySize {
		t.Fatalf("stats %+v, entry size %d", st, entrySize)
	}
	// The exact LRU keeps what was used: touch 1, store 4, and 2 goes.
	e.wantHit(Request{Scope: s, Exact: "1"}, TierExact, val(prompts[1]))
	e.store(Request{Scope: s, Exact: "4"}, val("four"), 0)
	e.wantMiss(Request{Scope: s, Exact: "2"})
	e.wantHit(Request{Scope: s, Exact: "1"}, TierExact, val(prompts[1]))
	// An entry larger than the whole bound is not stored and evicts nothing.
	e.store(Request{Scope: s, Exact: "huge"}, strings.Repeat("x", int(4*entrySize)), 0)
	e.wantMiss(Request{Scope: s, Exact: "huge"})
	e.wantHit(Request{Scope: s, Exact: "4"}, TierExact, val("four"))
}

// TestDisabled: a disabled cache is valid, never hits and stores nothing.
func TestDisabled(t *testing.T) {
	t.Parallel()
	c, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := Request{Scope: Scope{Tenant: "t", Model: "m"}, Exact: "h", Prompt: "p"}
	if err := c.Store(context.Background(), r, Entry{Value: []byte("v")}, 0); err != nil {
		t.Fatal(err)
	}
	if h, err := c.Lookup(context.Background(), r); h != nil || err != nil {
		t.Fatalf("%v %v", h, err)
	}
	if st := c.Stats(context.Background()); st.Enabled {
		t.Fatalf("%+v", st)
	}
	if c.Enabled() {
		t.Fatal("enabled")
	}
}

// TestSemanticDisabled: with semantic.enabled false only the exact tier works.
func TestSemanticDisabled(t *testing.T) {
	t.Parallel()
	off := false
	c, err := New(context.Background(), Options{Config: Config{Enabled: true, Semantic: SemanticConfig{Enabled: &off}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := Scope{Tenant: "t", Model: "m"}
	_ = c.Store(context.Background(), Request{Scope: s, Exact: "h", Prompt: "What is the capital of France?"}, Entry{Value: []byte("v")}, 0)
	if h, _ := c.Lookup(context.Background(), Request{Scope: s, Exact: "other", Prompt: "What is the capital of France?"}); h != nil {
		t.Fatalf("semantic hit with the tier off: %+v", h)
	}
	if h, _ := c.Lookup(context.Background(), Request{Scope: s, Exact: "h"}); h == nil {
		t.Fatal("exact miss")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	bad := Config{Scope: "org", TTL: -1, NominalCost: -1,
		Exact:    ExactConfig{Backend: "memcached", MaxBytes: -1},
		Semantic: SemanticConfig{Backend: "faiss", Threshold: 1.5, Dimensions: -1, MaxEntries: -1}}
	errs := bad.Validate()
	if len(errs) != 9 {
		t.Fatalf("%d errors: %v", len(errs), errors.Join(errs...))
	}
	for _, c := range []Config{
		{Exact: ExactConfig{Backend: BackendRedis}},
		{Exact: ExactConfig{Backend: BackendRedis, RedisURL: "http://x"}},
		{Semantic: SemanticConfig{Backend: BackendQdrant}},
	} {
		if len(c.Validate()) != 1 {
			t.Fatalf("%+v: %v", c, c.Validate())
		}
	}
	var c Config
	c.ApplyDefaults()
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if c.TTL != time.Hour || c.Exact.MaxBytes != 256<<20 || c.Semantic.Threshold != DefaultLexicalThreshold ||
		c.Semantic.Dimensions != 512 || c.Semantic.MaxEntries != 100000 || !c.SemanticEnabled() ||
		c.Semantic.Qdrant.CollectionPrefix != "junction_cache" || c.Semantic.Qdrant.SweepInterval != time.Minute {
		t.Fatalf("defaults %+v", c)
	}
	m := Config{Semantic: SemanticConfig{EmbeddingModel: "openai/text-embedding-3-small"}}
	m.ApplyDefaults()
	if m.Semantic.Threshold != DefaultThreshold || m.Semantic.Dimensions != 0 {
		t.Fatalf("model defaults %+v", m.Semantic)
	}
	if _, err := New(context.Background(), Options{Config: bad}); err == nil {
		t.Fatal("New accepted an invalid config")
	}
}
