package policy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

//go:embed prices.json
var builtinPricesJSON []byte

// Price is what a model costs, in USD per million tokens.
type Price struct {
	// Model is "provider/model" for a price specific to one provider, or a
	// bare model name that applies whichever provider serves it.
	Model  string  `json:"model" yaml:"model"`
	Input  float64 `json:"input_per_mtok" yaml:"input_per_mtok"`
	Output float64 `json:"output_per_mtok" yaml:"output_per_mtok"`
	// CachedInput prices prompt tokens read from the provider's prompt
	// cache; nil means the input price.
	CachedInput *float64 `json:"cached_input_per_mtok,omitempty" yaml:"cached_input_per_mtok,omitempty"`
	// CacheWrite prices prompt tokens written to the provider's prompt cache
	// (Anthropic); nil means the input price.
	CacheWrite *float64 `json:"cache_write_per_mtok,omitempty" yaml:"cache_write_per_mtok,omitempty"`
	// MaxOutputTokens is the most the model writes in one answer; 0 when
	// unknown. An admission reserves for at most this many completion
	// tokens whatever max_tokens asks for (at most maxCompletionEstimate
	// when unknown).
	MaxOutputTokens int64 `json:"max_output_tokens,omitempty" yaml:"max_output_tokens,omitempty"`
	// Source is "builtin", "file" or "api".
	Source string `json:"source,omitempty" yaml:"-"`
}

// SourceBuiltin marks prices from the table shipped with Junction.
const SourceBuiltin = "builtin"

// Validate reports problems with p under path.
func (p Price) Validate(path string) []error {
	var errs []error
	if p.Model == "" || strings.ContainsAny(p.Model, " \t\n") {
		errs = append(errs, fmt.Errorf("%s.model: must be a model name without spaces", path))
	}
	check := func(name string, v float64) {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > 1e6 {
			errs = append(errs, fmt.Errorf("%s.%s: must be a number from 0 to 1000000", path, name))
		}
	}
	check("input_per_mtok", p.Input)
	check("output_per_mtok", p.Output)
	if p.CachedInput != nil {
		check("cached_input_per_mtok", *p.CachedInput)
	}
	if p.CacheWrite != nil {
		check("cache_write_per_mtok", *p.CacheWrite)
	}
	if p.MaxOutputTokens < 0 || p.MaxOutputTokens > maxCompletionEstimate {
		errs = append(errs, fmt.Errorf("%s.max_output_tokens: must be from 0 (unknown) to %d", path, maxCompletionEstimate))
	}
	return errs
}

// TokenUsage is what one model call consumed. PromptTokens includes the
// cached and cache-write tokens (OpenAI's convention).
type TokenUsage struct {
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64 // prompt tokens read from a prompt cache
	CacheWriteTokens int64 // prompt tokens written to a prompt cache
}

// costMicros prices u in millionths of a dollar. A price per million tokens
// is exactly micro-dollars per token. Negative counts count as 0; the sum
// is a float64, which a caller turns into micro-dollars with clampMicros.
func (p *Price) costMicros(u TokenUsage) float64 {
	u = u.clean()
	cached, write := p.Input, p.Input
	if p.CachedInput != nil {
		cached = *p.CachedInput
	}
	if p.CacheWrite != nil {
		write = *p.CacheWrite
	}
	plain := u.PromptTokens - min(u.PromptTokens, satAdd(u.CachedTokens, u.CacheWriteTokens))
	return float64(plain)*p.Input + float64(u.CachedTokens)*cached +
		float64(u.CacheWriteTokens)*write + float64(u.CompletionTokens)*p.Output
}

// clean returns u with negative counts (a misbehaving upstream's) as 0.
func (u TokenUsage) clean() TokenUsage {
	return TokenUsage{PromptTokens: max(0, u.PromptTokens), CompletionTokens: max(0, u.CompletionTokens),
		CachedTokens: max(0, u.CachedTokens), CacheWriteTokens: max(0, u.CacheWriteTokens)}
}

// completionCap is the most completion tokens an estimate priced at p
// reserves for: the model's MaxOutputTokens when known, else
// maxCompletionEstimate.
func (p *Price) completionCap() int64 {
	if p != nil && p.MaxOutputTokens > 0 {
		return min(p.MaxOutputTokens, maxCompletionEstimate)
	}
	return maxCompletionEstimate
}

// PriceTable looks prices up by model. It is immutable once built.
type PriceTable struct {
	byName map[string]*Price
	// names sorted longest first, for prefix matching dated snapshots.
	names []string
}

// loadBuiltinPrices parses the shipped table.
func loadBuiltinPrices() ([]Price, error) {
	var doc struct {
		Models map[string]struct {
			Input       float64  `json:"input"`
			Output      float64  `json:"output"`
			CachedInput *float64 `json:"cached_input"`
			CacheWrite  *float64 `json:"cache_write"`
			MaxOutput   int64    `json:"max_output_tokens"`
		} `json:"models"`
	}
	if err := json.Unmarshal(builtinPricesJSON, &doc); err != nil {
		return nil, fmt.Errorf("policy: builtin prices: %w", err)
	}
	out := make([]Price, 0, len(doc.Models))
	for name, m := range doc.Models {
		out = append(out, Price{Model: name, Input: m.Input, Output: m.Output, CachedInput: m.CachedInput,
			CacheWrite: m.CacheWrite, MaxOutputTokens: m.MaxOutput, Source: SourceBuiltin})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out, nil
}

// newPriceTable layers the price lists: later lists override earlier ones
// entry by entry (builtin, then file, then API).
func newPriceTable(layers ...[]Price) *PriceTable {
	t := &PriceTable{byName: map[string]*Price{}}
	for _, layer := range layers {
		for i := range layer {
			p := layer[i]
			t.byName[p.Model] = &p
		}
	}
	for name := range t.byName {
		t.names = append(t.names, name)
	}
	sort.Slice(t.names, func(i, j int) bool {
		if len(t.names[i]) != len(t.names[j]) {
			return len(t.names[i]) > len(t.names[j])
		}
		return t.names[i] < t.names[j]
	})
	return t
}

// Lookup finds the price of model ("provider/model" or a bare name): an
// exact entry, then the bare model name, then the longest entry that the
// model name extends at a '-' boundary (gpt-4o-2024-08-06 → gpt-4o). ok is
// false for an unknown model, which then costs nothing.
func (t *PriceTable) Lookup(model string) (p *Price, ok bool) {
	if p, ok := t.byName[model]; ok {
		return p, true
	}
	bare := model
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		bare = model[i+1:]
		if p, ok := t.byName[bare]; ok {
			return p, true
		}
	}
	// A dated snapshot takes the price of the entry it extends. The entry
	// with the longest model part wins, so that a provider-specific
	// "openai/gpt-4o" never captures "openai/gpt-4o-mini-2024-07-18" from
	// "gpt-4o-mini"; at equal length the provider-specific entry wins.
	best, bestLen := "", -1
	for _, name := range t.names {
		modelPart := len(name)
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			modelPart = len(name) - i - 1
		}
		for _, m := range [2]string{model, bare} {
			if len(m) > len(name) && strings.HasPrefix(m, name) && m[len(name)] == '-' {
				if modelPart > bestLen || (modelPart == bestLen && len(name) > len(best)) {
					best, bestLen = name, modelPart
				}
			}
		}
	}
	if bestLen < 0 {
		return nil, false
	}
	return t.byName[best], true
}

// List returns every price, ordered by model.
func (t *PriceTable) List() []Price {
	out := make([]Price, 0, len(t.byName))
	for _, p := range t.byName {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out
}

// Cost prices u for model in USD; known is false when the model has no price.
func (t *PriceTable) Cost(model string, u TokenUsage) (usd float64, known bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.costMicros(u) / 1e6, true
}
