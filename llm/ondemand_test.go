package llm

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/routes"
	"github.com/junctionhq/junction/policy"
)

const chatPath = "/v1/chat/completions"

// madeUp returns n model names of provider that no configuration lists.
func madeUp(provider string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s/made-up-%d", provider, from+i)
	}
	return out
}

// TestRoutePoisoningByMadeUpFallbacks replays the report: a key with no
// model access names 1,100 made-up fallbacks. Nothing of it reaches the
// route table, and afterwards another key's new provider/model and a
// provider added later are served.
func TestRoutePoisoningByMadeUpFallbacks(t *testing.T) {
	e := newTestEnv(t, nil)
	none := e.key(t, policy.KeyInput{Name: "no-models", Models: []string{}})
	before := e.s.router.Routes()

	names := madeUp("mock", 0, 1100)
	if rec := e.post(none, chatPath, chatBody(chatPath, "mock/gpt-4o-mini", names...)); rec.Code != http.StatusBadRequest {
		t.Fatalf("1,100 fallbacks in one request: %d %s", rec.Code, rec.Body)
	}
	for i := 0; i < len(names); i += maxRequestFallbacks {
		batch := names[i:min(i+maxRequestFallbacks, len(names))]
		if rec := e.post(none, chatPath, chatBody(chatPath, batch[0], batch[1:]...)); rec.Code != http.StatusForbidden {
			t.Fatalf("made-up names from a key without access: %d %s", rec.Code, rec.Body)
		}
	}
	if after := e.s.router.Routes(); !slices.Equal(after, before) {
		t.Fatalf("the refused requests made %d routes", len(after)-len(before))
	}

	caller := e.key(t, policy.KeyInput{Name: "caller"})
	if rec := e.post(caller, chatPath, chatBody(chatPath, "mock/gpt-4o")); rec.Code != http.StatusOK {
		t.Fatalf("another key's new provider/model: %d %s", rec.Code, rec.Body)
	}
	providers := append(slices.Clone(e.s.Providers()), ProviderConfig{Name: "late", BaseURL: e.up.URL + "/v1",
		Keys: []ProviderKeyConfig{{Value: "sk-late-0123456789abcd"}}})
	if err := e.s.SetProviders(context.Background(), providers); err != nil {
		t.Fatal(err)
	}
	if rec := e.post(caller, chatPath, chatBody(chatPath, "late/gpt-4o")); rec.Code != http.StatusOK {
		t.Fatalf("a provider added later: %d %s", rec.Code, rec.Body)
	}
}

// TestRoutesBusyIsRetryable: when every unlisted route is held
// (routes.ErrBusy, see llm/routes), the client gets a 503 with Retry-After,
// not a 404.
func TestRoutesBusyIsRetryable(t *testing.T) {
	ae := classify(fmt.Errorf("lease: %w", routes.ErrBusy))
	if ae.Status != http.StatusServiceUnavailable || ae.Header["Retry-After"] == "" || ae.Code != "routes_busy" {
		t.Fatalf("routes busy: %+v", ae)
	}
}

// TestUnknownModelsMakeNoMetricLabels: names that no provider serves, that
// the key may not use, or that no upstream answered count under "other";
// the requests metric holds only listed names and names an upstream served.
func TestUnknownModelsMakeNoMetricLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestEnv(t, func(o *Options) { o.Registerer = reg })
	limited := e.key(t, policy.KeyInput{Name: "limited", Models: []string{"fast"}})
	admin := policy.AdminIdentity()
	for i := range 50 {
		e.post(admin, chatPath, chatBody(chatPath, fmt.Sprintf("nowhere/model-%d", i)))
		e.post(limited, chatPath, chatBody(chatPath, fmt.Sprintf("mock/denied-%d", i)))
	}
	e.post(limited, chatPath, chatBody(chatPath, "fast"))
	e.post(admin, chatPath, chatBody(chatPath, "mock/served"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, mf := range mfs {
		if mf.GetName() != "junction_llm_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "model" && !slices.Contains(labels, lp.GetValue()) {
					labels = append(labels, lp.GetValue())
				}
			}
		}
	}
	slices.Sort(labels)
	if want := []string{"fast", "mock/served", "other"}; !slices.Equal(labels, want) {
		t.Errorf("model labels %v, want %v", labels, want)
	}
	for _, l := range labels {
		if strings.Contains(l, "nowhere") || strings.Contains(l, "denied") {
			t.Errorf("label %q", l)
		}
	}
}

// withPatterns gives the test configuration's claude provider (Anthropic)
// the pattern claude-* and mock (OpenAI) gpt-*, and adds the alias
// claude-fast (to mock/gpt-4o-mini), which a pattern also matches.
func withPatterns(o *Options) {
	for i := range o.Config.Providers {
		switch p := &o.Config.Providers[i]; p.Name {
		case "claude":
			p.ModelPatterns = []string{"claude-*"}
		case "mock":
			p.ModelPatterns = []string{"gpt-*"}
		case "cheap":
			p.ModelPatterns = []string{"gpt-*", "o1*"} // after mock: mock wins gpt-*
		}
	}
	o.Config.Models = append(o.Config.Models, ModelConfig{Name: "claude-fast", Targets: []TargetConfig{{Model: "mock/gpt-4o-mini"}}})
}

// TestBareNamesRouteByPattern: a bare name matching a provider's
// model_patterns is served by that provider as if the client had named
// <provider>/<name>; the first matching provider wins; an alias of the
// same name wins over the patterns; names no pattern matches are 404.
func TestBareNamesRouteByPattern(t *testing.T) {
	e := newTestEnv(t, withPatterns)
	admin := policy.AdminIdentity()
	cases := []struct {
		path, model string
		endpoint    llmtest.Endpoint
		upstream    string // the model the upstream was asked for
	}{
		{"/v1/messages", "claude-haiku-4-5", llmtest.EndpointMessages, "claude-haiku-4-5"},
		{chatPath, "claude-haiku-4-5", llmtest.EndpointMessages, "claude-haiku-4-5"},
		{chatPath, "gpt-4o-mini", llmtest.EndpointChatCompletions, "gpt-4o-mini"},
		{"/v1/messages", "gpt-4o-mini", llmtest.EndpointChatCompletions, "gpt-4o-mini"},
		{chatPath, "o1-mini", llmtest.EndpointChatCompletions, "o1-mini"},
		{chatPath, "claude-fast", llmtest.EndpointChatCompletions, "gpt-4o-mini"}, // the alias
	}
	for _, c := range cases {
		t.Run(c.path+" "+c.model, func(t *testing.T) {
			rec := e.post(admin, c.path, chatBody(c.path, c.model))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			last, ok := e.up.LastRequest()
			if !ok || last.Endpoint != c.endpoint || !strings.Contains(string(last.Body), `"model":"`+c.upstream+`"`) {
				t.Fatalf("upstream got %s %s", last.Endpoint, last.Body)
			}
		})
	}
	if last, _ := e.up.LastRequest(); last.Key != mockKey {
		t.Errorf("the alias was served with key %q, want mock's", last.Key)
	}
	e.post(admin, chatPath, chatBody(chatPath, "gpt-4.1"))
	if last, _ := e.up.LastRequest(); last.Key != mockKey {
		t.Errorf("gpt-4.1 went to key %q: the first matching provider (mock) should serve it", last.Key)
	}
	e.post(admin, chatPath, chatBody(chatPath, "o1-preview"))
	if last, _ := e.up.LastRequest(); last.Key != cheapKey {
		t.Errorf("o1-preview went to key %q, want cheap's", last.Key)
	}
	for _, m := range []string{"llama-3", "claude", "gpt-4o/x"} {
		if rec := e.post(admin, chatPath, chatBody(chatPath, m)); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404: %s", m, rec.Code, rec.Body)
		}
	}
	// A bare fallback is qualified too: a key allowed mock/* may name it.
	mockOnly := e.key(t, policy.KeyInput{Name: "mock-only", Models: []string{"mock/*"}})
	if rec := e.post(mockOnly, chatPath, chatBody(chatPath, "mock/gpt-4o-mini", "gpt-4o")); rec.Code != http.StatusOK {
		t.Errorf("bare fallback gpt-4o for a key allowed mock/*: %d %s", rec.Code, rec.Body)
	}
}

// TestBareNamesWithoutPatternsAre404: without model_patterns a bare name
// that is no alias is unknown, as before.
func TestBareNamesWithoutPatternsAre404(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, path := range []string{chatPath, "/v1/messages"} {
		if rec := e.post(policy.AdminIdentity(), path, chatBody(path, "claude-haiku-4-5")); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404: %s", path, rec.Code, rec.Body)
		}
	}
}

// TestBareNamesNeedAccessToTheProviderModel: access is checked against the
// provider/model a bare name stands for, not the bare name.
func TestBareNamesNeedAccessToTheProviderModel(t *testing.T) {
	e := newTestEnv(t, withPatterns)
	bare := e.key(t, policy.KeyInput{Name: "bare-only", Models: []string{"claude-*"}})
	anthropic := e.key(t, policy.KeyInput{Name: "claude-only", Models: []string{"claude/*"}})
	e.up.ResetStats()
	rec := e.post(bare, "/v1/messages", chatBody("/v1/messages", "claude-haiku-4-5"))
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "claude/claude-haiku-4-5") {
		t.Fatalf("key allowed only the bare names: %d %s", rec.Code, rec.Body)
	}
	if rec := e.post(anthropic, chatPath, chatBody(chatPath, "gpt-4o-mini")); rec.Code != http.StatusForbidden {
		t.Fatalf("key allowed claude/* asked for gpt-4o-mini (mock): %d %s", rec.Code, rec.Body)
	}
	if rec := e.post(anthropic, chatPath, chatBody(chatPath, "claude-haiku-4-5", "gpt-4o-mini")); rec.Code != http.StatusForbidden {
		t.Fatalf("bare fallback to a provider the key may not use: %d %s", rec.Code, rec.Body)
	}
	if n := e.up.Stats().Requests; n != 0 {
		t.Fatalf("refused requests reached the upstream %d times", n)
	}
	if rec := e.post(anthropic, "/v1/messages", chatBody("/v1/messages", "claude-haiku-4-5")); rec.Code != http.StatusOK {
		t.Fatalf("key allowed claude/*: %d %s", rec.Code, rec.Body)
	}
}

// TestBareNamesStayWithinTheRouteBound: bare names are unlisted
// provider/model names like any other: many distinct ones keep at most the
// bounded number of on-demand routes, and a provider change keeps serving.
func TestBareNamesStayWithinTheRouteBound(t *testing.T) {
	e := newTestEnv(t, withPatterns)
	admin := policy.AdminIdentity()
	before := len(e.s.router.Routes())
	const bound = 1024 // routes.maxDynamicRoutes
	for i := range bound + 100 {
		if rec := e.post(admin, chatPath, chatBody(chatPath, fmt.Sprintf("gpt-made-up-%d", i))); rec.Code != http.StatusOK {
			t.Fatalf("%d: status %d: %s", i, rec.Code, rec.Body)
		}
	}
	if n := len(e.s.router.Routes()) - before; n > bound {
		t.Fatalf("%d new routes, above the bound %d", n, bound)
	}
	if !slices.Contains(e.s.router.Routes(), "mock/gpt-made-up-1123") {
		t.Errorf("the latest bare name has no mock/ route")
	}
	providers := slices.Clone(e.s.Providers())
	for i := range providers {
		providers[i].ModelPatterns = nil
	}
	if err := e.s.SetProviders(context.Background(), providers); err != nil {
		t.Fatal(err)
	}
	if rec := e.post(admin, chatPath, chatBody(chatPath, "gpt-made-up-1")); rec.Code != http.StatusNotFound {
		t.Errorf("patterns removed: status %d, want 404", rec.Code)
	}
}
