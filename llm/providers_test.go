package llm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
)

// newProvidersService is a Service over providers a and b (both pointing at
// one llmtest server) with the alias "mix" over a/m1 and b/m1, falling back
// to b/m2.
func newProvidersService(t *testing.T) (*Service, *llmtest.Server) {
	t.Helper()
	up := llmtest.NewServer()
	t.Cleanup(up.Close)
	engine := testPolicy(t, t.TempDir())
	s, err := New(Options{Policy: engine, Config: Config{
		Providers: []ProviderConfig{providerAt("a", up.URL), providerAt("b", up.URL)},
		Models:    []ModelConfig{{Name: "mix", Targets: []TargetConfig{{Model: "a/m1"}, {Model: "b/m1"}}, Fallbacks: []string{"b/m2"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, up
}

func providerAt(name, url string) ProviderConfig {
	return ProviderConfig{Name: name, BaseURL: url + "/v1", Keys: []ProviderKeyConfig{{Name: "k", Value: "sk-" + name}}, Models: []string{"m1"}}
}

// chatCode serves one chat completion for model as the admin.
func chatCode(s *Service, model string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
	rec := httptest.NewRecorder()
	serveAs(s, policy.AdminIdentity(), rec, req)
	return rec.Code, rec.Body.String()
}

func routeProviders(s *Service, name string) []string {
	r, ok := s.router.Route(name)
	if !ok {
		return nil
	}
	var out []string
	for _, c := range r.Targets {
		out = append(out, c.Target.Provider+"/"+c.Target.Model)
	}
	slices.Sort(out)
	return out
}

func TestSetProvidersChangesRoutes(t *testing.T) {
	s, up := newProvidersService(t)
	ctx := context.Background()
	if code, body := chatCode(s, "b/m3"); code != http.StatusOK {
		t.Fatalf("b/m3 before: %d %s", code, body)
	}
	aKey := func() any { return s.router.HealthOf("a", "m1", "k") }
	before := aKey()

	// Without b: the alias keeps a's target, b's models are unknown, and the
	// fallback to b/m2 is gone.
	if err := s.SetProviders(ctx, []ProviderConfig{providerAt("a", up.URL)}); err != nil {
		t.Fatal(err)
	}
	if got := routeProviders(s, "mix"); !slices.Equal(got, []string{"a/m1"}) {
		t.Errorf("mix targets without b: %v", got)
	}
	if r, _ := s.router.Route("mix"); len(r.Fallbacks) != 0 {
		t.Errorf("mix still falls back to %v", r.Fallbacks)
	}
	if code, _ := chatCode(s, "b/m3"); code != http.StatusNotFound {
		t.Errorf("b/m3 without b: %d", code)
	}
	if code, body := chatCode(s, "mix"); code != http.StatusOK {
		t.Errorf("mix without b: %d %s", code, body)
	}
	if aKey() != before || before == nil {
		t.Error("the unchanged target lost its health state")
	}
	if slices.Contains(s.Models(policy.AdminIdentity()), "b/m1") {
		t.Error("/v1/models still lists b")
	}

	// Without any provider the alias is unknown too.
	if err := s.SetProviders(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if code, _ := chatCode(s, "mix"); code != http.StatusNotFound {
		t.Errorf("mix without providers: %d", code)
	}

	// A new provider c is routable at once; b comes back into the alias.
	if err := s.SetProviders(ctx, []ProviderConfig{providerAt("a", up.URL), providerAt("b", up.URL), providerAt("c", up.URL)}); err != nil {
		t.Fatal(err)
	}
	if got := routeProviders(s, "mix"); !slices.Equal(got, []string{"a/m1", "b/m1"}) {
		t.Errorf("mix targets with b back: %v", got)
	}
	if code, body := chatCode(s, "c/anything"); code != http.StatusOK {
		t.Errorf("c/anything: %d %s", code, body)
	}
	if !slices.Contains(s.Models(policy.AdminIdentity()), "c/m1") {
		t.Error("/v1/models does not list c")
	}
	// A route made on demand survives a reload that keeps its provider.
	if err := s.SetProviders(ctx, s.Providers()); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.router.Route("c/anything"); !ok {
		t.Error("the on-demand route c/anything was dropped by a reload that kept c")
	}
	// A changed key starts with fresh health: it must not inherit a
	// breaker the old value opened.
	kept := aKey()
	rotated := providerAt("a", up.URL)
	rotated.Keys[0].Value = "sk-rotated"
	if err := s.SetProviders(ctx, []ProviderConfig{rotated, providerAt("b", up.URL), providerAt("c", up.URL)}); err != nil {
		t.Fatal(err)
	}
	if fresh := aKey(); fresh == kept || fresh == nil {
		t.Error("a rotated key kept the old key's health state")
	}
	if r, _ := s.router.Route("mix"); r.Targets[0].Target.APIKey != "sk-rotated" && r.Targets[1].Target.APIKey != "sk-rotated" {
		t.Errorf("mix does not use the rotated key: %+v", r.Targets)
	}
}

func TestSetProvidersRefusesInvalid(t *testing.T) {
	s, up := newProvidersService(t)
	before := s.Providers()
	err := s.SetProviders(context.Background(), []ProviderConfig{
		{Name: "bad name", Type: "smoke"}, providerAt("a", up.URL), providerAt("a", up.URL),
	})
	var inv *InvalidProviderError
	if !errors.As(err, &inv) || !errors.Is(err, ErrInvalidProvider) {
		t.Fatalf("err = %v", err)
	}
	msg := inv.Error()
	for _, want := range []string{"providers[0].name", "providers[0].type", "providers[0].keys", "providers[2].name"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q not reported: %s", want, msg)
		}
	}
	if after := s.Providers(); len(after) != len(before) || after[0].Name != "a" || after[1].Name != "b" {
		t.Errorf("providers changed by a refused set: %v", after)
	}
	if err := s.ValidateProvider(ProviderConfig{Name: "x", BaseURL: "ftp://x", Keys: []ProviderKeyConfig{{Weight: -1}}}); err == nil ||
		!strings.Contains(err.Error(), "base_url") || !strings.Contains(err.Error(), "keys[0].value") || !strings.Contains(err.Error(), "keys[0].weight") ||
		strings.Contains(err.Error(), "providers[0]") {
		t.Errorf("ValidateProvider: %v", err)
	}
}

// TestSetProvidersConcurrentRequests swaps the provider set while requests
// run on a provider that stays; run with -race.
func TestSetProvidersConcurrentRequests(t *testing.T) {
	s, up := newProvidersService(t)
	ctx := context.Background()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				for _, m := range []string{"a/m1", "mix", "a/other"} {
					if code, _ := chatCode(s, m); code != http.StatusOK {
						failed.Add(1)
					}
				}
				_ = s.Models(policy.AdminIdentity())
			}
		})
	}
	for i := range 200 {
		set := []ProviderConfig{providerAt("a", up.URL)}
		if i%2 == 0 {
			b := providerAt("b", up.URL)
			b.Keys[0].Value = "sk-rotated"
			set = append(set, b)
		}
		if err := s.SetProviders(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d requests on provider a failed while the set changed", n)
	}
}
