package agent

// Tool selection for the agent loop. When the permitted MCP catalog is larger
// than the loop's limit, the loop does not put every tool into the prompt: it
// offers the tools most similar (by embedding) to the conversation, plus a
// search_tools tool that the model calls to find the others.
//
// Vectors. Each tool's text (see toolText) is embedded once and kept, keyed by
// the tool's public name and a hash of the fields the text is built from, so a
// changed catalog re-embeds only the new and changed tools. Vectors of tools
// that no caller has been offered for toolVectorTTL are dropped (the selector
// never sees the whole catalog, only each caller's permitted part, so "not in
// this list" does not mean "removed").
//
// Ranking is exact: the cosine similarity of the conversation's vector to
// every permitted tool's vector, best first, ties by public name. The cache's
// Index is not used: it has no way to restrict a search to a set of IDs (the
// caller's permitted tools) and no way to read a point back by ID, so a
// search there would be an approximate k-nearest search over every caller's
// tools followed by a filter, which misses permitted tools whenever a caller
// may use only a small part of the catalog, and orders ties by insertion.
// Brute force over the caller's own vectors is correct, deterministic and
// fast enough: a few milliseconds for 5,000 tools of 512 dimensions, next to
// a model call of seconds (BenchmarkToolSelectorSelect).
//
// Failures. The configured embedder failing (for the conversation or for
// tools) never fails the request: the selector ranks with the built-in
// lexical embedder instead, and skips the configured one for
// toolEmbedderRetryAfter so that an embedding service that is down does not
// delay every turn.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/mcp"
)

const (
	// searchToolsName is the name of the tool the model calls to find tools
	// that were not offered. When an MCP tool already has this public name,
	// SearchName picks the next free one (search_tools_2, search_tools_3, ...).
	searchToolsName = "search_tools"

	// defaultAgentToolLimit is how many tools (search_tools included) the loop
	// offers when its configured limit is zero.
	defaultAgentToolLimit = 40
	// defaultSearchResults and maxSearchResults bound a search_tools answer.
	defaultSearchResults = 10
	maxSearchResults     = 50

	// toolEmbedBatch is how many tool texts go into one Embed call.
	toolEmbedBatch = 128
	// maxToolDescription is how much of a tool's description is embedded, and
	// maxSearchDescription how much a search_tools answer shows.
	maxToolDescription   = 2000
	maxSearchDescription = 1000
	// maxToolQueryBytes is how much of the conversation is embedded: its end, the
	// most recent text, when it is longer.
	maxToolQueryBytes = 8000

	// toolEmbedderRetryAfter is how long the selector ranks lexically after the
	// configured embedder failed, before trying it again.
	toolEmbedderRetryAfter = 30 * time.Second
	// toolVectorTTL is how long a tool's vector is kept after it was last
	// ranked (long: re-embedding a large catalog after a quiet night would
	// delay the next request, and a vector costs a few KiB);
	// toolSweepInterval is how often expired vectors are looked for.
	toolVectorTTL     = 24 * time.Hour
	toolSweepInterval = 5 * time.Minute
)

// Selector picks what to offer when the permitted catalog is larger than
// the limit, and answers search_tools calls. It is safe for concurrent use;
// one selector serves every caller (vectors are shared, rankings are per
// call over the tools each call passes in).
type Selector struct {
	// primary ranks with the configured embedder; fallback with the lexical
	// one. They are the same when the configured embedder is lexical.
	primary, fallback *toolVectors
	seed              maphash.Seed
	now               func() time.Time

	// primaryDownUntil is the UnixNano time until which primary is skipped
	// after it failed; 0 when it is healthy.
	primaryDownUntil atomic.Int64
	// fallbacks counts rankings that could not use primary.
	fallbacks atomic.Int64
}

// Embedder turns texts into vectors; cache.Embedder is one.
type Embedder interface {
	// Name identifies the embedding model, e.g. "lexical".
	Name() string
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// NewSelector returns a selector that embeds with emb (nil: lexical) and
// falls back to lexical, the built-in lexical embedder, when emb fails.
func NewSelector(emb, lexical Embedder) *Selector {
	s := &Selector{seed: maphash.MakeSeed(), now: time.Now}
	lex := newToolVectors(lexical)
	if emb == nil || emb.Name() == lex.emb.Name() {
		s.primary, s.fallback = lex, lex
	} else {
		s.primary, s.fallback = newToolVectors(emb), lex
	}
	return s
}

// Select returns at most limit tools most relevant to the conversation text
// (the last user message or messages), always including a search_tools tool
// definition when tools were left out (withSearch true; the search tool
// counts toward limit but is not in offered: add SearchTool, named
// SearchName(tools)). When len(tools) <= limit, offered is tools itself and
// withSearch is false. A limit <= 0 means defaultAgentToolLimit. Offered tools
// keep their order in tools. err is non-nil only when ctx is done: embedder
// failures fall back to lexical ranking.
func (s *Selector) Select(ctx context.Context, tools []mcp.ToolInfo, conversation string, limit int) (offered []mcp.ToolInfo, withSearch bool, err error) {
	if limit <= 0 {
		limit = defaultAgentToolLimit
	}
	if len(tools) <= limit {
		return tools, false, nil
	}
	best, err := s.rank(ctx, tools, conversation, limit-1)
	if err != nil {
		return nil, false, err
	}
	slices.Sort(best)
	offered = make([]mcp.ToolInfo, len(best))
	for i, j := range best {
		offered[i] = tools[j]
	}
	return offered, true, nil
}

// Search answers a search_tools call: the best k tools for query (k <= 0:
// defaultSearchResults; at most maxSearchResults) among tools, offered ones
// included, as the text result to feed back to the model: one header line,
// then one compact JSON object per tool, best first, with its name,
// description and input schema so that the model can call it next. An empty
// query gets a text asking for one. err is non-nil only when ctx is done.
func (s *Selector) Search(ctx context.Context, tools []mcp.ToolInfo, query string, k int) (string, error) {
	query = strings.TrimSpace(query)
	if query == "" {
		return searchToolsName + ": the query is empty; describe the task or the tool you need, for example \"create a GitHub issue\".", nil
	}
	if len(tools) == 0 {
		return "No tools are available.", nil
	}
	if k <= 0 {
		k = defaultSearchResults
	}
	k = min(k, maxSearchResults)
	best, err := s.rank(ctx, tools, query, k)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d of %d tools best matching %q, best first; call one by its name with arguments that follow its input_schema:\n", len(best), len(tools), query)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, i := range best {
		t := tools[i]
		r := toolSearchResult{Name: t.Name, Description: cutText(strings.TrimSpace(t.Description), maxSearchDescription), InputSchema: t.InputSchema}
		mark := b.Len()
		if enc.Encode(r) != nil {
			// The upstream's schema is not valid JSON: list the tool without it.
			b.Truncate(mark)
			r.InputSchema = nil
			_ = enc.Encode(r) // cannot fail: strings only
		}
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// toolSearchResult is one line of a search_tools answer.
type toolSearchResult struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
}

// SearchName returns the name to give the search tool next to tools:
// searchToolsName, or when an MCP tool already has it the first free one of
// search_tools_2, search_tools_3, ...
func (s *Selector) SearchName(tools []mcp.ToolInfo) string {
	taken := func(name string) bool {
		return slices.ContainsFunc(tools, func(t mcp.ToolInfo) bool { return t.Name == name })
	}
	name := searchToolsName
	for n := 2; taken(name); n++ {
		name = searchToolsName + "_" + strconv.Itoa(n)
	}
	return name
}

// searchToolsSchema is the JSON Schema of search_tools' arguments.
var searchToolsSchema = json.RawMessage(`{"type":"object","properties":{` +
	`"query":{"type":"string","description":"What you want to do or the tool you need, in a few words."},` +
	`"limit":{"type":"integer","minimum":1,"maximum":` + strconv.Itoa(maxSearchResults) +
	`,"description":"How many tools to return (default ` + strconv.Itoa(defaultSearchResults) + `)."}},` +
	`"required":["query"],"additionalProperties":false}`)

// SearchTool is the definition of the search tool offered when tools
// were left out. Its name is searchToolsName; the caller renames it with
// SearchName when an MCP tool has that name.
func SearchTool() chat.Tool {
	return chat.Tool{
		Name: searchToolsName,
		Description: "Search all the tools you may use. Only some of them are listed here; when none of the listed " +
			"tools fits, call this with a short description of the task to get the best matching tools, " +
			"with their input schemas, and then call them by name.",
		Parameters: searchToolsSchema,
	}
}

// ParseSearchArgs reads the arguments of a search_tools call: query, and
// limit (0 when absent or not a positive whole number; Search then uses its
// default). Invalid JSON is an error, to feed back to the model.
func ParseSearchArgs(arguments string) (query string, limit int, err error) {
	var args struct {
		Query string          `json:"query"`
		Limit json.RawMessage `json:"limit"`
	}
	if strings.TrimSpace(arguments) == "" {
		return "", 0, nil
	}
	if err := json.Unmarshal([]byte(arguments), &args); err != nil {
		return "", 0, fmt.Errorf("%s: arguments are not a JSON object: %w", searchToolsName, err)
	}
	raw := strings.Trim(string(args.Limit), `"`)
	if f, err := strconv.ParseFloat(raw, 64); err == nil && f >= 1 && f == math.Trunc(f) {
		limit = int(min(f, maxSearchResults))
	}
	return args.Query, limit, nil
}

// rank returns the indexes of the best k tools for text, best first, ties by
// public name. It falls back to the lexical embedder, and as a last resort
// to name order, so it fails only when ctx is done.
func (s *Selector) rank(ctx context.Context, tools []mcp.ToolInfo, text string, k int) ([]int, error) {
	k = min(k, len(tools))
	if k <= 0 {
		return nil, nil
	}
	hashes := s.hashes(tools)
	query := textTail(text, maxToolQueryBytes)
	now := s.now()
	if s.primary != s.fallback {
		if now.UnixNano() >= s.primaryDownUntil.Load() {
			scores, err := s.primary.scores(ctx, tools, hashes, query, now)
			if err == nil {
				return topTools(tools, scores, k), nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !errors.Is(err, context.Canceled) {
				s.primaryDownUntil.Store(now.Add(toolEmbedderRetryAfter).UnixNano())
			}
		}
		s.fallbacks.Add(1)
	}
	scores, err := s.fallback.scores(ctx, tools, hashes, query, now)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		scores = make([]float32, len(tools)) // every score equal: name order
	}
	return topTools(tools, scores, k), nil
}

// hashes returns, for each tool, a hash of the fields its embedded text is
// built from besides its public name (which keys the vector). Each field is
// hashed on its own (maphash's one-shot functions do not copy) and the field
// hashes are mixed in order.
func (s *Selector) hashes(tools []mcp.ToolInfo) []uint64 {
	out := make([]uint64, len(tools))
	mix := func(h, f uint64) uint64 { return bits.RotateLeft64((h^f)*0x9e3779b97f4a7c15, 31) }
	for i, t := range tools {
		h := maphash.String(s.seed, t.Server)
		h = mix(h, maphash.String(s.seed, t.Tool))
		h = mix(h, maphash.String(s.seed, t.Description))
		out[i] = mix(h, maphash.Bytes(s.seed, t.InputSchema))
	}
	return out
}

// toolText is what is embedded for a tool: its public name, server and
// upstream name (with underscores as spaces, so that models read the words),
// its description and its parameter names.
func toolText(t mcp.ToolInfo) string {
	var b strings.Builder
	b.WriteString(t.Name)
	b.WriteByte(' ')
	b.WriteString(t.Server)
	b.WriteByte(' ')
	b.WriteString(t.Tool)
	if words := strings.NewReplacer("_", " ", "-", " ", ".", " ").Replace(t.Tool); words != t.Tool {
		b.WriteString(" (")
		b.WriteString(words)
		b.WriteByte(')')
	}
	b.WriteString(": ")
	b.WriteString(cutText(strings.TrimSpace(t.Description), maxToolDescription))
	if params := toolParamNames(t.InputSchema); len(params) > 0 {
		b.WriteString(" Parameters: ")
		b.WriteString(strings.Join(params, ", "))
		b.WriteByte('.')
	}
	return b.String()
}

// toolParamNames returns the top-level property names of a JSON Schema, sorted;
// nil when it has none or is not valid JSON.
func toolParamNames(schema json.RawMessage) []string {
	if len(schema) == 0 {
		return nil
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return nil
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// toolVectors holds the tool vectors of one embedder.
type toolVectors struct {
	emb Embedder

	mu sync.RWMutex // guards entries and lastSweep
	// entries maps a tool's public name to its vector, for the text hash
	// the entry records.
	entries   map[string]*toolVector
	lastSweep time.Time
}

// toolVector is one tool's vector, or the promise of one while the call that
// created it embeds it.
type toolVector struct {
	hash  uint64
	ready chan struct{} // closed once vec or err is set
	vec   []float32     // unit length (or zero); set before ready is closed
	err   error         // set before ready is closed
	used  atomic.Int64  // unix seconds when last ranked
}

func newToolVectors(emb Embedder) *toolVectors {
	return &toolVectors{emb: emb, entries: make(map[string]*toolVector)}
}

// errEmbeddedElsewhere says that another call failed to embed a tool this
// call was waiting for; the waiting call then tries to embed it itself.
var errEmbeddedElsewhere = errors.New("llm: tool embedding by another request failed")

// scores returns the cosine similarity of query to each tool.
func (v *toolVectors) scores(ctx context.Context, tools []mcp.ToolInfo, hashes []uint64, query string, now time.Time) ([]float32, error) {
	qv, err := v.embed(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	vecs, err := v.vectors(ctx, tools, hashes, now)
	for attempt := 1; errors.Is(err, errEmbeddedElsewhere) && attempt < 3; attempt++ {
		vecs, err = v.vectors(ctx, tools, hashes, now)
	}
	if err != nil {
		return nil, err
	}
	q := qv[0]
	scores := make([]float32, len(tools))
	for i, tv := range vecs {
		if len(tv) != len(q) {
			return nil, fmt.Errorf("llm: embedder %s: vectors of %d and %d dimensions", v.emb.Name(), len(tv), len(q))
		}
		scores[i] = toolDot(q, tv)
	}
	return scores, nil
}

// vectors returns the vector of each tool, embedding those that have none for
// their current text. Tools being embedded by another call are waited for.
func (v *toolVectors) vectors(ctx context.Context, tools []mcp.ToolInfo, hashes []uint64, now time.Time) ([][]float32, error) {
	entries := make([]*toolVector, len(tools))
	missing := false
	v.mu.RLock()
	for i, t := range tools {
		if e := v.entries[t.Name]; e != nil && e.hash == hashes[i] {
			entries[i] = e
		} else {
			missing = true
		}
	}
	v.mu.RUnlock()

	var mine []int // tools this call embeds
	if missing {
		v.mu.Lock()
		for i, t := range tools {
			if entries[i] != nil {
				continue
			}
			e := v.entries[t.Name]
			if e == nil || e.hash != hashes[i] {
				e = &toolVector{hash: hashes[i], ready: make(chan struct{})}
				e.used.Store(now.Unix())
				v.entries[t.Name] = e
				mine = append(mine, i)
			}
			entries[i] = e
		}
		v.mu.Unlock()
	}
	if len(mine) > 0 {
		if err := v.embedTools(ctx, tools, mine, entries); err != nil {
			return nil, err
		}
	}

	out := make([][]float32, len(tools))
	sec := now.Unix()
	for i, e := range entries {
		select {
		case <-e.ready:
		default:
			select {
			case <-e.ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if e.err != nil {
			return nil, errEmbeddedElsewhere
		}
		out[i] = e.vec
		if e.used.Load() != sec {
			e.used.Store(sec)
		}
	}
	v.sweep(now)
	return out, nil
}

// embedTools embeds the tools at indexes mine into their (new) entries, in
// batches. Every entry is settled on return: with its vector, or with the
// error and removed from the map, so that a later call embeds it again.
func (v *toolVectors) embedTools(ctx context.Context, tools []mcp.ToolInfo, mine []int, entries []*toolVector) (err error) {
	done := 0
	defer func() {
		if done == len(mine) {
			return
		}
		if err == nil {
			err = errors.New("llm: tool embedding stopped") // a panic in the embedder
		}
		v.mu.Lock()
		for _, i := range mine[done:] {
			e := entries[i]
			e.err = err
			close(e.ready)
			if v.entries[tools[i].Name] == e {
				delete(v.entries, tools[i].Name)
			}
		}
		v.mu.Unlock()
	}()
	texts := make([]string, 0, min(len(mine), toolEmbedBatch))
	for done < len(mine) {
		batch := mine[done:min(done+toolEmbedBatch, len(mine))]
		texts = texts[:0]
		for _, i := range batch {
			texts = append(texts, toolText(tools[i]))
		}
		vecs, err := v.embed(ctx, texts)
		if err != nil {
			return err
		}
		for j, i := range batch {
			entries[i].vec = vecs[j]
			close(entries[i].ready)
		}
		done += len(batch)
	}
	return nil
}

// embed calls the embedder and returns unit-length copies of its vectors (a
// zero vector for one that is zero, NaN or infinite).
func (v *toolVectors) embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, err := v.emb.Embed(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("llm: embed with %s: %w", v.emb.Name(), err)
	}
	if len(vecs) != len(texts) {
		return nil, fmt.Errorf("llm: embed with %s: %d vectors for %d texts", v.emb.Name(), len(vecs), len(texts))
	}
	out := make([][]float32, len(vecs))
	for i, vec := range vecs {
		out[i] = unitVector(vec)
	}
	return out, nil
}

// sweep drops the vectors not ranked for toolVectorTTL, at most once per
// toolSweepInterval.
func (v *toolVectors) sweep(now time.Time) {
	v.mu.RLock()
	due := now.Sub(v.lastSweep) >= toolSweepInterval
	v.mu.RUnlock()
	if !due {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if now.Sub(v.lastSweep) < toolSweepInterval {
		return
	}
	v.lastSweep = now
	oldest := now.Add(-toolVectorTTL).Unix()
	for name, e := range v.entries {
		select {
		case <-e.ready:
		default:
			continue // being embedded
		}
		if e.used.Load() < oldest {
			delete(v.entries, name)
		}
	}
}

// len returns how many tool vectors v holds.
func (v *toolVectors) len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.entries)
}

// unitVector returns a unit-length copy of vec, or a zero vector when vec is zero
// or not finite.
func unitVector(vec []float32) []float32 {
	out := make([]float32, len(vec))
	var s float64
	for _, x := range vec {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return out
	}
	inv := 1 / math.Sqrt(s)
	for i, x := range vec {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// toolDot is the inner product of two equally long vectors.
func toolDot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// topTools returns the indexes of the k best scores, best first; equal scores
// are ordered by public name, then by index.
func topTools(tools []mcp.ToolInfo, scores []float32, k int) []int {
	better := func(a, b int) bool {
		if scores[a] != scores[b] {
			return scores[a] > scores[b]
		}
		if tools[a].Name != tools[b].Name {
			return tools[a].Name < tools[b].Name
		}
		return a < b
	}
	// heap is a min-heap (by better) of the best k so far: heap[0] is the
	// worst of them.
	heap := make([]int, 0, k)
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(heap) {
				return
			}
			if c+1 < len(heap) && better(heap[c], heap[c+1]) {
				c++
			}
			if !better(heap[i], heap[c]) {
				return
			}
			heap[i], heap[c] = heap[c], heap[i]
			i = c
		}
	}
	for i := range scores {
		switch {
		case len(heap) < k:
			heap = append(heap, i)
			for j := len(heap) - 1; j > 0; {
				p := (j - 1) / 2
				if !better(heap[p], heap[j]) {
					break
				}
				heap[p], heap[j] = heap[j], heap[p]
				j = p
			}
		case better(i, heap[0]):
			heap[0] = i
			down(0)
		}
	}
	slices.SortFunc(heap, func(a, b int) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	return heap
}

// cutText cuts s to at most n bytes at a rune boundary, marking the cut.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// textTail returns the last n bytes of s at most, starting at a rune boundary.
func textTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	start := len(s) - n
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return s[start:]
}
