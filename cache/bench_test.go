package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The lookup benchmarks run against a memory cache holding benchEntries
// entries with the lexical embedder at 512 dimensions, either in one scope
// (the worst case: one HNSW graph of them all) or spread over 100 tenants
// (one graph of 1,000 per tenant). Each is built once per process.
const benchEntries = 100_000

type benchEnv struct {
	c       *Cache
	prompts []string
	scopes  int
	build   time.Duration
}

var (
	benchMu   sync.Mutex
	benchEnvs = map[int]*benchEnv{}
)

func benchScope(i, scopes int) Scope {
	return Scope{Tenant: "team:bench" + strconv.Itoa(i%scopes), Model: "gpt-bench"}
}

// benchVocabulary makes n pronounceable, distinct words.
func benchVocabulary(r *rand.Rand, n int) []string {
	syl := []string{"ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "da", "pe", "zu", "ro", "fi", "ga", "he", "ju", "bo", "ne", "tu", "ya"}
	seen := map[string]bool{}
	var words []string
	for len(words) < n {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(syl[r.IntN(len(syl))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

func benchPrompt(r *rand.Rand, vocab []string) string {
	templates := []string{
		"How do I %s the %s in %s when %s fails?",
		"What is the difference between %s and %s for %s %s?",
		"Explain %s %s to a %s engineer using %s.",
		"Write a %s that %s the %s with %s.",
	}
	t := templates[r.IntN(len(templates))]
	w := func() any { return vocab[r.IntN(len(vocab))] + " " + vocab[r.IntN(len(vocab))] }
	return fmt.Sprintf(t, w(), w(), w(), w())
}

func benchCache(scopes int) *benchEnv { return benchCacheN(scopes, benchEntries) }

func benchCacheN(scopes, entries int) *benchEnv {
	benchMu.Lock()
	defer benchMu.Unlock()
	if e := benchEnvs[scopes]; e != nil {
		return e
	}
	start := time.Now()
	c, err := New(context.Background(), Options{Config: Config{Enabled: true,
		Exact:    ExactConfig{MaxBytes: 1 << 30},
		Semantic: SemanticConfig{MaxEntries: benchEntries},
	}})
	if err != nil {
		panic(err)
	}
	e := &benchEnv{c: c, scopes: scopes}
	r := rand.New(rand.NewPCG(1, 1))
	vocab := benchVocabulary(r, 5000)
	seen := map[string]bool{}
	for len(e.prompts) < entries {
		p := benchPrompt(r, vocab)
		if seen[p] {
			continue
		}
		seen[p] = true
		i := len(e.prompts)
		e.prompts = append(e.prompts, p)
		req := Request{Scope: benchScope(i, scopes), Exact: "e" + strconv.Itoa(i), Prompt: p}
		if err := c.Store(context.Background(), req, Entry{Value: []byte("an answer of some length, like a short chat completion")}, 0); err != nil {
			panic(err)
		}
	}
	e.build = time.Since(start)
	benchEnvs[scopes] = e
	return e
}

// benchRequests returns n requests of one kind: exact-hit, exact-miss,
// semantic-hit (a stored prompt re-cased, with "please": similarity ~0.99)
// and semantic-miss (a new prompt from the same vocabulary).
func (e *benchEnv) requests(kind string, n int) []Request {
	r := rand.New(rand.NewPCG(2, uint64(len(kind))))
	vocab := benchVocabulary(rand.New(rand.NewPCG(1, 1)), 5000)
	out := make([]Request, n)
	for i := range out {
		j := r.IntN(len(e.prompts))
		s := benchScope(j, e.scopes)
		switch kind {
		case "exact-hit":
			out[i] = Request{Scope: s, Exact: "e" + strconv.Itoa(j)}
		case "exact-miss":
			out[i] = Request{Scope: s, Exact: "x" + strconv.Itoa(j)}
		case "semantic-hit":
			p := e.prompts[j]
			out[i] = Request{Scope: s, Prompt: strings.ToUpper(p[:1]) + strings.ToLower(p[1:]) + " please"}
		case "semantic-miss":
			out[i] = Request{Scope: s, Prompt: benchPrompt(r, vocab) + " today"}
		}
	}
	return out
}

var benchKinds = []string{"exact-hit", "exact-miss", "semantic-hit", "semantic-miss"}

func BenchmarkLookup(b *testing.B) {
	for _, scopes := range []int{1, 100} {
		e := benchCache(scopes)
		for _, kind := range benchKinds {
			b.Run(fmt.Sprintf("scopes=%d/%s", scopes, kind), func(b *testing.B) {
				reqs := e.requests(kind, 4096)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					_, _ = e.c.Lookup(context.Background(), reqs[i%len(reqs)])
					i++
				}
			})
		}
	}
}

// BenchmarkSemanticParts splits a semantic lookup (one scope) into embedding
// the prompt and searching the index.
func BenchmarkSemanticParts(b *testing.B) {
	e := benchCache(1)
	reqs := e.requests("semantic-miss", 4096)
	b.Run("embed", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = e.c.embedder.Embed(context.Background(), []string{reqs[i%len(reqs)].Prompt})
			i++
		}
	})
	vecs := make([][]float32, len(reqs))
	for i, r := range reqs {
		v, _ := e.c.embedder.Embed(context.Background(), []string{r.Prompt})
		vecs[i] = v[0]
	}
	b.Run("search", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = e.c.index.Search(context.Background(), vecs[i%len(vecs)], ExactFilter(reqs[i%len(reqs)].Scope, ""), 1, DefaultLexicalThreshold)
			i++
		}
	})
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100]
}

// TestLookupLatency reports p50/p99 of 10,000 lookups of each kind against
// 100,000 entries, and the embedder and index search parts separately. It
// takes several minutes (building the one-scope graph of 100,000 is most of
// it), so it runs only with JUNCTION_CACHE_BENCH=1:
//
//	JUNCTION_CACHE_BENCH=1 go test -run TestLookupLatency -v ./cache/
func TestLookupLatency(t *testing.T) {
	t.Parallel()
	if os.Getenv("JUNCTION_CACHE_BENCH") == "" {
		t.Skip("set JUNCTION_CACHE_BENCH=1 to measure lookup latency with 100,000 entries")
	}
	const n = 10_000
	// One cache in memory at a time, the small graphs first.
	for _, scopes := range []int{100, 1} {
		e := benchCache(scopes)
		t.Logf("scopes=%d: built %d entries in %v", scopes, benchEntries, e.build.Round(time.Millisecond))
		for _, kind := range benchKinds {
			reqs := e.requests(kind, n)
			d := make([]time.Duration, n)
			hits := 0
			for i, r := range reqs {
				start := time.Now()
				h, err := e.c.Lookup(context.Background(), r)
				d[i] = time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				if h != nil {
					hits++
				}
			}
			p50, p99 := percentiles(d)
			t.Logf("scopes=%-3d %-14s p50 %8v  p99 %8v  hits %5d/%d", scopes, kind, p50.Round(100*time.Nanosecond), p99.Round(100*time.Nanosecond), hits, n)
			// Exact hits are certain; semantic ones are as good as the HNSW
			// search's recall (reported above); misses must miss.
			switch {
			case kind == "exact-hit" && hits != n, kind == "semantic-hit" && hits < n*9/10, strings.HasSuffix(kind, "-miss") && hits != 0:
				t.Errorf("%s: %d hits of %d", kind, hits, n)
			}
		}
		if scopes == 1 {
			benchParts(t, e, n)
		}
		benchMu.Lock()
		delete(benchEnvs, scopes)
		benchMu.Unlock()
		_ = e.c.Close()
	}
}

// benchParts times the embedder and the index search of semantic misses
// separately.
func benchParts(t *testing.T, e *benchEnv, n int) {
	reqs := e.requests("semantic-miss", n)
	embed, search := make([]time.Duration, n), make([]time.Duration, n)
	for i, r := range reqs {
		start := time.Now()
		v, _ := e.c.embedder.Embed(context.Background(), []string{r.Prompt})
		embed[i] = time.Since(start)
		start = time.Now()
		_, _ = e.c.index.Search(context.Background(), v[0], ExactFilter(r.Scope, ""), 1, DefaultLexicalThreshold)
		search[i] = time.Since(start)
	}
	p50, p99 := percentiles(embed)
	t.Logf("%-14s p50 %8v  p99 %8v", "scopes=1 embed", p50.Round(100*time.Nanosecond), p99.Round(100*time.Nanosecond))
	p50, p99 = percentiles(search)
	t.Logf("%-14s p50 %8v  p99 %8v", "scopes=1 index search", p50.Round(100*time.Nanosecond), p99.Round(100*time.Nanosecond))
}
