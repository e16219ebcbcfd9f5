package cache

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache/qdranttest"
	"github.com/junctionhq/junction/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/qdrant/go-client/qdrant"
)

// TestFailOpenQdrant: with Qdrant gone (closed) or hanging (delayed), New
// succeeds, Lookup returns within the timeout with a *BackendError and no hit,
// the exact tier still hits, and the errors are counted.
func TestFailOpenQdrant(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"closed", "hanging"} {
		t.Run(mode, func(t *testing.T) {
			srv := qdranttest.NewServer(t)
			reg := prometheus.NewRegistry()
			cfg := Config{Enabled: true, Semantic: SemanticConfig{Backend: BackendQdrant, Qdrant: QdrantConfig{URL: srv.Addr(), Timeout: 80 * time.Millisecond}}}
			c, err := New(context.Background(), Options{Config: cfg, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := Scope{Tenant: "t", Model: "m"}
			r := Request{Scope: s, Exact: "h", Prompt: "What is the capital of France?"}
			if err := c.Store(context.Background(), r, Entry{Value: []byte("Paris")}, 0); err != nil {
				t.Fatal(err)
			}
			switch mode {
			case "closed":
				srv.Close()
			case "hanging":
				srv.SetDelay(10 * time.Second)
			}
			start := time.Now()
			h, err := c.Lookup(context.Background(), Request{Scope: s, Prompt: r.Prompt})
			took := time.Since(start)
			var be *BackendError
			if h != nil || !errors.As(err, &be) || be.Backend != BackendQdrant {
				t.Fatalf("lookup: %v, %v; want no hit and a qdrant BackendError", h, err)
			}
			if took > 500*time.Millisecond {
				t.Fatalf("lookup took %v with a %s Qdrant; the timeout is 80ms", took, mode)
			}
			if h, err := c.Lookup(context.Background(), r); h == nil || h.Tier != TierExact || err != nil {
				t.Fatalf("exact tier: %v %v", h, err)
			}
			if err := c.Store(context.Background(), Request{Scope: s, Prompt: "x"}, Entry{}, 0); !errors.As(err, &be) {
				t.Fatalf("store: %v", err)
			}
			if n := counterValue(t, c.m.errors.WithLabelValues(BackendQdrant)); n < 2 {
				t.Fatalf("backend errors counted: %v", n)
			}
			st := c.Stats(context.Background())
			if st.Semantic.Entries != -1 || st.Semantic.Misses != 1 {
				t.Fatalf("stats %+v", st.Semantic)
			}
		})
	}
}

// TestFailOpenQdrantAtStart: New does not wait for a Qdrant that is not there.
func TestFailOpenQdrantAtStart(t *testing.T) {
	t.Parallel()
	start := time.Now()
	cfg := Config{Enabled: true, Semantic: SemanticConfig{Backend: BackendQdrant, Qdrant: QdrantConfig{URL: testkit.ClosedAddr(t)}}}
	c, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Lookup(context.Background(), Request{Scope: Scope{Tenant: "t"}, Prompt: "hello"}); err == nil {
		t.Fatal("no error from a dead Qdrant")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v", took)
	}
	// The dims > 0 path tries to create the collection at once and logs.
	idx, err := NewQdrantIndex(context.Background(), cfg.Semantic.Qdrant, "lexical", 512, QdrantOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = idx.Close()
}

// TestFailOpenRedis: a Redis that is not there makes the exact tier miss
// quickly with a *BackendError while the semantic tier still answers.
func TestFailOpenRedis(t *testing.T) {
	t.Parallel()
	cfg := Config{Enabled: true, Exact: ExactConfig{Backend: BackendRedis, RedisURL: "redis://" + testkit.ClosedAddr(t) + "/0"}}
	c, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := Scope{Tenant: "t", Model: "m"}
	r := Request{Scope: s, Exact: "h", Prompt: "What is the capital of France?"}
	var be *BackendError
	if err := c.Store(context.Background(), r, Entry{Value: []byte("Paris")}, 0); !errors.As(err, &be) || be.Backend != BackendRedis {
		t.Fatalf("store: %v", err)
	}
	start := time.Now()
	h, err := c.Lookup(context.Background(), r)
	if h == nil || h.Tier != TierSemantic || err != nil {
		t.Fatalf("lookup: %v %v; want the semantic hit despite Redis", h, err)
	}
	h, err = c.Lookup(context.Background(), Request{Scope: s, Exact: "h"})
	if h != nil || !errors.As(err, &be) {
		t.Fatalf("exact only: %v %v", h, err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("two lookups took %v with a dead Redis", took)
	}
	if st := c.Stats(context.Background()); st.Exact.Entries != -1 {
		t.Fatalf("stats %+v", st.Exact)
	}
}

// TestQdrantLayout checks what the back-end makes in Qdrant: the collection
// name, cosine distance and size, the payload indexes, UUID point IDs, the
// "=" keyword encoding, and that the sweeper deletes expired points.
func TestQdrantLayout(t *testing.T) {
	t.Parallel()
	srv := qdranttest.NewServer(t)
	clock := newFakeClock()
	idx, err := NewQdrantIndex(context.Background(), QdrantConfig{URL: srv.Addr(), Timeout: 5 * time.Second, SweepInterval: 20 * time.Millisecond},
		"openai/Text-Embedding.3", 4, QdrantOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	name := "junction_cache_openai_text-embedding_3_4"
	if got := QdrantCollection("junction_cache", "openai/Text-Embedding.3", 4); got != name {
		t.Fatalf("collection name %q", got)
	}
	if cs := srv.Collections(); len(cs) != 1 || cs[0] != name || srv.Dims(name) != 4 {
		t.Fatalf("collections %v", cs)
	}
	want := map[string]qdrant.FieldType{
		"tenant": qdrant.FieldType_FieldTypeKeyword, "model": qdrant.FieldType_FieldTypeKeyword,
		"tools": qdrant.FieldType_FieldTypeKeyword, "context": qdrant.FieldType_FieldTypeKeyword,
		"expires_at": qdrant.FieldType_FieldTypeInteger,
	}
	got := srv.FieldIndexes(name)
	for f, typ := range want {
		if got[f] != typ {
			t.Fatalf("field indexes %v", got)
		}
	}
	id := QdrantPointID("some point")
	if len(id) != 36 || id[14] != '5' || !strings.ContainsAny(id[19:20], "89ab") || id != QdrantPointID("some point") || id == QdrantPointID("other") {
		t.Fatalf("point id %q", id)
	}
	ctx := context.Background()
	s := Scope{Tenant: "t", Model: "m"}
	_ = idx.Upsert(ctx, Point{ID: "keep", Vector: vec(1, 0, 0, 0), Scope: s})
	_ = idx.Upsert(ctx, Point{ID: "go", Vector: vec(0, 1, 0, 0), Scope: s, ExpiresAt: clock.Now().Add(time.Minute)})
	if srv.Points(name) != 2 {
		t.Fatalf("%d points", srv.Points(name))
	}
	clock.Advance(time.Hour)
	testkit.Eventually(t, 5*time.Second, "the sweeper to leave 1 point", func() bool { return srv.Points(name) == 1 })
	if srv.Calls("Search") != 0 {
		t.Fatal("unexpected searches")
	}
}

// TestQdrantCorruptPayload: a point the cache did not write is an error, not
// a hit and not a panic.
func TestQdrantCorruptPayload(t *testing.T) {
	t.Parallel()
	good := map[string]*qdrant.Value{
		qfID: qdrant.NewValueString("x"), qfTenant: qdrant.NewValueString("=t"), qfModel: qdrant.NewValueString("=m"),
		qfTools: qdrant.NewValueString("="), qfContext: qdrant.NewValueString("="), qfExpiresAt: qdrant.NewValueInt(100),
		qfValue: qdrant.NewValueString("aGk="),
	}
	p, err := decodeQdrantPayload(good)
	if err != nil || p.ID != "x" || p.Scope.Tenant != "t" || string(p.Payload) != "hi" || p.ExpiresAt.Unix() != 100 {
		t.Fatalf("%+v %v", p, err)
	}
	for field, bad := range map[string]*qdrant.Value{
		qfTenant: qdrant.NewValueString("t"), qfValue: qdrant.NewValueString("!!"), qfExpiresAt: qdrant.NewValueString("1"),
		qfID: qdrant.NewValueInt(1), qfModel: nil,
	} {
		pl := map[string]*qdrant.Value{}
		for k, v := range good {
			pl[k] = v
		}
		pl[field] = bad
		if _, err := decodeQdrantPayload(pl); !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("%s: %v", field, err)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := New(context.Background(), Options{Config: Config{Enabled: true}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := Scope{Tenant: "t", Model: "m"}
	r := Request{Scope: s, Exact: "h", Prompt: "What is the capital of France?"}
	_, _ = c.Lookup(context.Background(), r)
	_ = c.Store(context.Background(), r, Entry{Value: []byte("Paris"), PromptTokens: 7, CompletionTokens: 3, CostUSD: 0.5}, 0)
	_, _ = c.Lookup(context.Background(), r)
	_, _ = c.Lookup(context.Background(), Request{Scope: s, Prompt: r.Prompt})
	for name, want := range map[string]float64{
		"junction_cache_hits_total":           2,
		"junction_cache_misses_total":         2,
		"junction_cache_tokens_saved_total":   20,
		"junction_cache_cost_saved_usd_total": 1,
		"junction_cache_entries":              2,
	} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		found := false
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			found = true
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		if !found || sum != want {
			t.Errorf("%s = %v (found %v), want %v", name, sum, found, want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	if series["junction_cache_lookup_duration_seconds"] != 2 || series["junction_cache_bytes"] != 2 || series["junction_cache_embed_duration_seconds"] != 1 {
		t.Errorf("series %v", series)
	}
	// A second cache on the same registry is refused, not a panic.
	if _, err := New(context.Background(), Options{Config: Config{Enabled: true}, Registerer: reg}); err == nil {
		t.Error("duplicate registration accepted")
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
