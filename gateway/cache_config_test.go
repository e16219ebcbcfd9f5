package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache"
)

// The short cache form documented in API.md keeps working beside the long one.
func TestParseConfigCacheShortForm(t *testing.T) {
	t.Parallel()
	doc := `
providers:
  - name: openai
    type: openai
    keys: [{ value: sk-test }]
cache:    { mode: semantic, backend: memory, ttl: 1h, threshold: 0.92, embedding_model: openai/text-embedding-3-small }
`
	c, err := ParseConfig("x.yaml", []byte(doc), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Cache
	if !cc.Enabled || !cc.SemanticEnabled() || cc.TTL != time.Hour || cc.Semantic.Backend != cache.BackendMemory ||
		cc.Semantic.Threshold != 0.92 || cc.Semantic.EmbeddingModel != "openai/text-embedding-3-small" {
		t.Fatalf("short form not applied: %+v", cc)
	}

	c, err = ParseConfig("x.yaml", []byte("cache: { mode: exact }\n"), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cache.Enabled || c.Cache.SemanticEnabled() {
		t.Fatalf("mode exact: %+v", c.Cache)
	}
	c, err = ParseConfig("x.yaml", []byte("cache: { mode: off }\n"), envMap(nil))
	if err != nil || c.Cache.Enabled {
		t.Fatalf("mode off: %v %+v", err, c.Cache)
	}

	for doc, want := range map[string]string{
		"cache: { mode: sometimes }\n":                                          "cache.mode",
		"cache: { mode: off, enabled: true }\n":                                 "cache.mode",
		"cache: { mode: exact, semantic: { enabled: true } }\n":                 "cache.mode",
		"cache: { backend: qdrant, semantic: { backend: memory } }\n":           "cache.backend",
		"cache: { threshold: 0.9, semantic: { threshold: 0.8 } }\n":             "cache.threshold",
		"cache: { embedding_model: a/b, semantic: { embedding_model: c/d } }\n": "cache.embedding_model",
	} {
		_, err := ParseConfig("x.yaml", []byte(doc), envMap(nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming %s", doc, err, want)
		}
	}
}
