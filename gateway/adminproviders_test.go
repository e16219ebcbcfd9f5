package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/providerstore"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store/secret"
)

const (
	providerGoodKey = "sk-good-provider-key-7f3a9c"
	providerBadKey  = "sk-wrong-provider-key-1b2d"
)

// chatStatus sends one chat completion for model and returns the status and body.
func chatStatus(t *testing.T, s *llmSetup, model string) (int, string) {
	t.Helper()
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
	return resp.StatusCode, string(body)
}

// TestAdminProvidersLifecycle: a provider made through the admin API serves
// its models at once; changing its key to a wrong one makes the next
// request fail with the upstream's auth error; deleting it makes its models
// unknown. Key values never appear in a response nor in the store's row.
func TestAdminProvidersLifecycle(t *testing.T) {
	up := llmtest.NewServer(llmtest.WithAPIKeys(providerGoodKey))
	t.Cleanup(up.Close)
	s := startLLM(t, nil)
	base := s.gw.URL + "/admin/v1/providers"

	if code, body := chatStatus(t, s, "dyn/gpt-4o-mini"); code != http.StatusNotFound {
		t.Fatalf("before create: %d %s", code, body)
	}
	resp, body := adminDo(t, http.MethodPost, base, map[string]any{
		"name": "dyn", "type": "openai", "base_url": up.URL + "/v1", "models": []string{"gpt-4o-mini"},
		"headers":  map[string]string{"X-Secret-Header": "header-secret-value"},
		"keys":     []map[string]any{{"name": "primary", "value": providerGoodKey, "weight": 2}},
		"timeouts": map[string]any{"first_byte": "20s"},
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var info providerstore.Info
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatal(err)
	}
	if info.Source != "api" || len(info.Keys) != 1 || info.Keys[0].Name != "primary" || info.Keys[0].Weight != 2 ||
		!info.Keys[0].ValueSet || time.Duration(info.Timeouts.FirstByte) != 20*time.Second || len(info.Headers) != 1 {
		t.Errorf("created: %s", body)
	}
	noSecrets := func(where, text string) {
		t.Helper()
		for _, secret := range []string{providerGoodKey, providerBadKey, "header-secret-value"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows the secret %q: %s", where, secret, text)
			}
		}
	}
	noSecrets("create", string(body))

	if code, body := chatStatus(t, s, "dyn/gpt-4o-mini"); code != http.StatusOK {
		t.Fatalf("chat through the new provider: %d %s\n%s", code, body, s.gw.Logs.String())
	}
	// It is listed by /v1/models and by the admin API, beside the file's.
	resp, body = get(t, s.gw.URL+"/v1/models", "Authorization", "Bearer "+s.key)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"dyn/gpt-4o-mini"`) {
		t.Errorf("/v1/models: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodGet, base, nil)
	var list listBody[providerstore.Info]
	_ = json.Unmarshal(body, &list)
	sources := map[string]string{}
	for _, p := range list.Data {
		sources[p.Name] = p.Source
	}
	if resp.StatusCode != http.StatusOK || sources["dyn"] != "api" || sources["mock"] != "file" {
		t.Errorf("list: %d %s", resp.StatusCode, body)
	}
	noSecrets("list", string(body))
	// The file provider's key is not shown either.
	if strings.Contains(string(body), "sk-main") {
		t.Errorf("list shows a file key: %s", body)
	}

	// At rest the values are encrypted.
	row, err := s.gw.Store().GetResource(context.Background(), providerstore.Kind, "dyn")
	if err != nil {
		t.Fatal(err)
	}
	noSecrets("the stored row", string(row.Spec))
	if !strings.Contains(string(row.Spec), secret.SealedPrefix) {
		t.Errorf("stored spec has no sealed value: %s", row.Spec)
	}

	// A wrong key takes effect on the next request.
	resp, body = adminDo(t, http.MethodPatch, base+"/dyn", map[string]any{
		"keys": []map[string]any{{"name": "primary", "value": providerBadKey}},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	noSecrets("patch", string(body))
	code, cbody := chatStatus(t, s, "dyn/gpt-4o-mini")
	if code == http.StatusOK || !strings.Contains(strings.ToLower(cbody), "api key") {
		t.Fatalf("chat with a wrong key: %d %s", code, cbody)
	}
	// A key listed without a value keeps its value; other fields change.
	resp, body = adminDo(t, http.MethodPatch, base+"/dyn", map[string]any{"keys": []map[string]any{{"name": "primary"}}, "models": []string{"gpt-4o-mini", "gpt-4o"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"gpt-4o"`) {
		t.Fatalf("patch models: %d %s", resp.StatusCode, body)
	}
	if code, body := chatStatus(t, s, "dyn/gpt-4o-mini"); code == http.StatusOK {
		t.Fatalf("the wrong key was not kept: %d %s", code, body)
	}
	resp, body = adminDo(t, http.MethodPatch, base+"/dyn", map[string]any{"keys": []map[string]any{{"name": "primary", "value": providerGoodKey}}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("patch back: %d %s", resp.StatusCode, body)
	}
	if code, body := chatStatus(t, s, "dyn/gpt-4o-mini"); code != http.StatusOK {
		t.Fatalf("chat after the key was fixed: %d %s", code, body)
	}
	row, _ = s.gw.Store().GetResource(context.Background(), providerstore.Kind, "dyn")
	noSecrets("the stored row after patches", string(row.Spec))

	// The name cannot change, and bad patches list their problems.
	resp, body = adminDo(t, http.MethodPatch, base+"/dyn", map[string]any{"name": "other"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "name") {
		t.Errorf("rename: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodPatch, base+"/dyn", map[string]any{"type": "carrier-pigeon", "base_url": "ftp://x"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "type") || !strings.Contains(string(body), "base_url") {
		t.Errorf("invalid patch: %d %s", resp.StatusCode, body)
	}

	resp, _ = adminDo(t, http.MethodDelete, base+"/dyn", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	code, cbody = chatStatus(t, s, "dyn/gpt-4o-mini")
	if code != http.StatusNotFound || !strings.Contains(cbody, "model") {
		t.Fatalf("chat after delete: %d %s", code, cbody)
	}
	if _, err := s.gw.Store().GetResource(context.Background(), providerstore.Kind, "dyn"); err == nil {
		t.Error("the row is still stored")
	}
	resp, _ = adminDo(t, http.MethodGet, base+"/dyn", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("get after delete: %d", resp.StatusCode)
	}
}

// TestAdminProvidersValidationAndFileProviders: invalid definitions are
// refused with every problem; file providers cannot be changed, deleted or
// shadowed through the API.
func TestAdminProvidersValidationAndFileProviders(t *testing.T) {
	t.Parallel()
	s := startLLM(t, nil)
	base := s.gw.URL + "/admin/v1/providers"

	resp, body := adminDo(t, http.MethodPost, base, map[string]any{"name": "bad name", "type": "smoke-signals", "base_url": "not a url",
		"keys": []map[string]any{{"weight": -1}}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("invalid: %d %s", resp.StatusCode, body)
	}
	msg := errorJSON(t, body).Message
	for _, want := range []string{"name", "type", "base_url", "keys[0].value", "keys[0].weight"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not name %s: %s", want, msg)
		}
	}
	resp, body = adminDo(t, http.MethodPost, base, map[string]any{"name": "x", "keys": []map[string]any{{"value": "k"}}, "surprise": true})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s", resp.StatusCode, body)
	}

	resp, body = adminDo(t, http.MethodPatch, base+"/mock", map[string]any{"base_url": "http://127.0.0.1:1/v1"})
	if resp.StatusCode != http.StatusConflict || errorJSON(t, body).Code != "read_only" {
		t.Errorf("patch a file provider: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodDelete, base+"/mock", nil)
	if resp.StatusCode != http.StatusConflict || errorJSON(t, body).Code != "read_only" {
		t.Errorf("delete a file provider: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodPost, base, map[string]any{"name": "mock", "keys": []map[string]any{{"value": "k"}}})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("shadow a file provider: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodGet, base+"/mock", nil)
	var info providerstore.Info
	_ = json.Unmarshal(body, &info)
	if resp.StatusCode != http.StatusOK || info.Source != "file" || !info.Keys[0].ValueSet || strings.Contains(string(body), "sk-main") {
		t.Errorf("get a file provider: %d %s", resp.StatusCode, body)
	}
	if code, body := chatStatus(t, s, "fast"); code != http.StatusOK {
		t.Errorf("the file alias broke: %d %s", code, body)
	}
	resp, _ = adminDo(t, http.MethodPatch, base+"/nope", map[string]any{"models": []string{"a"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("patch unknown: %d", resp.StatusCode)
	}
}

// TestAdminProvidersConcurrentRequests: requests keep succeeding on a file
// provider while API providers are added, changed and removed (run with
// -race).
func TestAdminProvidersConcurrentRequests(t *testing.T) {
	t.Parallel()
	up := llmtest.NewServer()
	t.Cleanup(up.Close)
	s := startLLM(t, nil)
	base := s.gw.URL + "/admin/v1/providers"
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for _, m := range []string{"fast", "mock/gpt-4o-mini"} {
					req, _ := http.NewRequest(http.MethodPost, s.gw.URL+"/v1/chat/completions",
						strings.NewReader(`{"model":"`+m+`","messages":[{"role":"user","content":"hi"}]}`))
					req.Header.Set("Authorization", "Bearer "+s.key)
					resp, err := s.client.Do(req)
					if err != nil || resp.StatusCode != http.StatusOK {
						failures.Add(1)
					}
					if resp != nil {
						_ = resp.Body.Close()
					}
				}
			}
		}()
	}
	for i := range 10 {
		resp, body := adminDo(t, http.MethodPost, base, map[string]any{"name": "churn", "base_url": up.URL + "/v1",
			"keys": []map[string]any{{"value": "k1"}}})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d: %d %s", i, resp.StatusCode, body)
		}
		if code, body := chatStatus(t, s, "churn/gpt-4o-mini"); code != http.StatusOK {
			t.Errorf("chat churn %d: %d %s", i, code, body)
		}
		resp, _ = adminDo(t, http.MethodPatch, base+"/churn", map[string]any{"keys": []map[string]any{{"value": "k2"}}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("patch %d: %d", i, resp.StatusCode)
		}
		resp, _ = adminDo(t, http.MethodDelete, base+"/churn", nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete %d: %d", i, resp.StatusCode)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d requests on the file provider failed while providers changed", n)
	}
}

// TestAdminProviderReachesTheOtherReplica: a provider made through replica
// A is served by replica B within a second, and B stops serving it within
// a second of A deleting it.
func TestAdminProviderReachesTheOtherReplica(t *testing.T) {
	var k [32]byte
	_, _ = rand.Read(k[:])
	t.Setenv(secret.EnvVar, hex.EncodeToString(k[:]))
	up := llmtest.NewServer(llmtest.WithAPIKeys(providerGoodKey))
	t.Cleanup(up.Close)
	a, b := startReplicas(t)
	_, secret, err := b.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "caller"})
	if err != nil {
		t.Fatal(err)
	}
	chatB := func() int {
		req, _ := http.NewRequest(http.MethodPost, b.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"shared/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, _ := do(t, req)
		return resp.StatusCode
	}
	if code := chatB(); code != http.StatusNotFound {
		t.Fatalf("before: %d", code)
	}
	resp, body := adminDo(t, http.MethodPost, a.URL+"/admin/v1/providers", map[string]any{"name": "shared", "base_url": up.URL + "/v1",
		"keys": []map[string]any{{"value": providerGoodKey}}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	testkit.Eventually(t, time.Second, "B to serve the new provider", func() bool { return chatB() == http.StatusOK })
	t.Logf("B served the provider %v after A's admin API answered", time.Since(start))
	resp, _ = adminDo(t, http.MethodDelete, a.URL+"/admin/v1/providers/shared", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	testkit.Eventually(t, time.Second, "B to drop the provider", func() bool { return chatB() == http.StatusNotFound })
}

// TestAdminProviderModelPatterns: a provider made through the admin API
// with model_patterns serves the bare names they match at once, and a
// pattern with '/' is refused, naming the field.
func TestAdminProviderModelPatterns(t *testing.T) {
	t.Parallel()
	s := startLLM(t, nil)
	base := s.gw.URL + "/admin/v1/providers"
	up := llmtest.NewServer()
	t.Cleanup(up.Close)
	resp, body := adminDo(t, http.MethodPost, base, map[string]any{"name": "pat", "base_url": up.URL + "/v1",
		"keys": []map[string]any{{"value": "k"}}, "model_patterns": []string{"pat/*"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(errorJSON(t, body).Message, "model_patterns[0]") {
		t.Fatalf("a pattern with '/': %d %s", resp.StatusCode, body)
	}
	if code, body := chatStatus(t, s, "patmodel-1"); code != http.StatusNotFound {
		t.Fatalf("before create: %d %s", code, body)
	}
	resp, body = adminDo(t, http.MethodPost, base, map[string]any{"name": "pat", "base_url": up.URL + "/v1",
		"keys": []map[string]any{{"value": "k"}}, "model_patterns": []string{"patmodel-*"}})
	var info providerstore.Info
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != http.StatusCreated || len(info.ModelPatterns) != 1 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if code, body := chatStatus(t, s, "patmodel-1"); code != http.StatusOK {
		t.Fatalf("a bare name the new provider's pattern matches: %d %s", code, body)
	}
}
