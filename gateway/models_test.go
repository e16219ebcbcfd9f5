package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
)

// anthropicModel is Anthropic's model object.
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// anthropicModelPage is Anthropic's GET /v1/models body.
type anthropicModelPage struct {
	Data    []anthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID *string          `json:"first_id"`
	LastID  *string          `json:"last_id"`
}

// anthropicErrorBody is Anthropic's error shape.
type anthropicErrorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// startModels starts a gateway with the LLM test setup and returns it with
// the secret of a key limited to the alias "fast".
func startModels(t *testing.T) (*llmSetup, string) {
	t.Helper()
	s := startLLM(t, nil)
	_, limited, err := s.gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "limited", Models: []string{"fast"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, limited
}

func TestRetrieveModelOpenAI(t *testing.T) {
	t.Parallel()
	s, limited := startModels(t)
	retrieve := func(key, id string) (int, []byte) {
		resp, raw := get(t, s.gw.URL+"/v1/models/"+id, "Authorization", "Bearer "+key)
		return resp.StatusCode, raw
	}
	for _, tc := range []struct{ path, id, owner string }{
		{"mock/gpt-4o-mini", "mock/gpt-4o-mini", "mock"},
		{"mock%2Fgpt-4o-mini", "mock/gpt-4o-mini", "mock"}, // what SDKs send
		{"fast", "fast", "junction"},
	} {
		status, raw := retrieve(s.key, tc.path)
		var m struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		_ = json.Unmarshal(raw, &m)
		if status != 200 || m.ID != tc.id || m.Object != "model" || m.Created == 0 || m.OwnedBy != tc.owner {
			t.Errorf("retrieve %s: %d %s", tc.path, status, raw)
		}
	}
	// Unknown models, and models the key may not use, are not found.
	for _, tc := range []struct{ key, id string }{{s.key, "mock/gpt-9"}, {s.key, ""}, {limited, "mock/gpt-4o-mini"}} {
		status, raw := retrieve(tc.key, tc.id)
		if status != 404 || errorJSON(t, raw).Code != "model_not_found" {
			t.Errorf("retrieve %q: %d %s", tc.id, status, raw)
		}
	}
	if status, raw := retrieve(limited, "fast"); status != 200 {
		t.Errorf("limited key retrieves its model: %d %s", status, raw)
	}
	resp, raw := get(t, s.gw.URL+"/v1/models/fast")
	if resp.StatusCode != 401 || errorJSON(t, raw).Code == "" {
		t.Errorf("no key: %d %s", resp.StatusCode, raw)
	}
}

func TestModelsAnthropic(t *testing.T) {
	t.Parallel()
	s, limited := startModels(t)
	call := func(key, path string) (int, []byte) {
		header := []string{"anthropic-version", "2023-06-01"}
		if key != "" {
			header = append(header, "x-api-key", key)
		}
		resp, raw := get(t, s.gw.URL+path, header...)
		return resp.StatusCode, raw
	}
	list := func(key, query string) anthropicModelPage {
		t.Helper()
		status, raw := call(key, "/v1/models"+query)
		var p anthropicModelPage
		if err := json.Unmarshal(raw, &p); status != 200 || err != nil {
			t.Fatalf("list %s: %d %s", query, status, raw)
		}
		return p
	}
	page := func(p anthropicModelPage) string {
		ids := make([]string, len(p.Data))
		for i, d := range p.Data {
			ids[i] = d.ID
		}
		first, last := "null", "null"
		if p.FirstID != nil {
			first = *p.FirstID
		}
		if p.LastID != nil {
			last = *p.LastID
		}
		return strings.Join(ids, ",") + " more=" + map[bool]string{true: "yes", false: "no"}[p.HasMore] + " " + first + ".." + last
	}

	all := list(s.key, "")
	if got, want := page(all), "fast,mock/gpt-4o-mini,mock/text-embedding-3-small more=no fast..mock/text-embedding-3-small"; got != want {
		t.Errorf("list: %s, want %s", got, want)
	}
	d := all.Data[1]
	if _, err := time.Parse(time.RFC3339, d.CreatedAt); d.Type != "model" || d.DisplayName != d.ID || err != nil {
		t.Errorf("model object: %+v", d)
	}
	for _, tc := range []struct{ query, want string }{
		{"?limit=1", "fast more=yes fast..fast"},
		{"?limit=1&after_id=fast", "mock/gpt-4o-mini more=yes mock/gpt-4o-mini..mock/gpt-4o-mini"},
		{"?limit=2&after_id=fast", "mock/gpt-4o-mini,mock/text-embedding-3-small more=no mock/gpt-4o-mini..mock/text-embedding-3-small"},
		{"?after_id=mock/text-embedding-3-small", " more=no null..null"},
		{"?limit=1&before_id=mock/text-embedding-3-small", "mock/gpt-4o-mini more=yes mock/gpt-4o-mini..mock/gpt-4o-mini"},
		{"?before_id=mock%2Ftext-embedding-3-small", "fast,mock/gpt-4o-mini more=no fast..mock/gpt-4o-mini"},
		{"?before_id=fast", " more=no null..null"},
		{"?limit=1000", "fast,mock/gpt-4o-mini,mock/text-embedding-3-small more=no fast..mock/text-embedding-3-small"},
	} {
		if got := page(list(s.key, tc.query)); got != tc.want {
			t.Errorf("list %s: %s, want %s", tc.query, got, tc.want)
		}
	}
	// A key limited to some models sees only those.
	if got := page(list(limited, "")); got != "fast more=no fast..fast" {
		t.Errorf("limited key's list: %s", got)
	}

	// Errors come in Anthropic's shape.
	for _, tc := range []struct {
		key, path string
		status    int
		errType   string
	}{
		{s.key, "/v1/models?limit=0", 400, "invalid_request_error"},
		{s.key, "/v1/models?limit=1001", 400, "invalid_request_error"},
		{s.key, "/v1/models?limit=x", 400, "invalid_request_error"},
		{s.key, "/v1/models?after_id=mock/gpt-9", 400, "invalid_request_error"},
		{s.key, "/v1/models?after_id=fast&before_id=fast", 400, "invalid_request_error"},
		{limited, "/v1/models?after_id=mock/gpt-4o-mini", 400, "invalid_request_error"},
		{s.key, "/v1/models/mock/gpt-9", 404, "not_found_error"},
		{limited, "/v1/models/mock/gpt-4o-mini", 404, "not_found_error"},
		{"", "/v1/models", 401, "authentication_error"},
		{"", "/v1/models/fast", 401, "authentication_error"},
		{"jk-wrong", "/v1/models", 401, "authentication_error"},
	} {
		status, raw := call(tc.key, tc.path)
		var e anthropicErrorBody
		_ = json.Unmarshal(raw, &e)
		if status != tc.status || e.Type != "error" || e.Error.Type != tc.errType || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want %d %s", tc.path, status, raw, tc.status, tc.errType)
		}
	}

	// One model.
	status, raw := call(s.key, "/v1/models/mock%2Fgpt-4o-mini")
	var m anthropicModel
	_ = json.Unmarshal(raw, &m)
	if _, err := time.Parse(time.RFC3339, m.CreatedAt); status != 200 || m.Type != "model" || m.ID != "mock/gpt-4o-mini" || m.DisplayName != m.ID || err != nil {
		t.Errorf("retrieve: %d %s", status, raw)
	}
}

// TestRetrieveModelByPattern: a bare name a provider's model_patterns route
// is found, as the client named it and owned by that provider, when the key
// may use the provider/model it stands for.
func TestRetrieveModelByPattern(t *testing.T) {
	t.Parallel()
	s := startLLM(t, func(c *Config, _ *llmtest.Server) {
		for i := range c.Providers {
			if c.Providers[i].Name == "claude" {
				c.Providers[i].ModelPatterns = []string{"claude-*"}
			}
		}
	})
	keys := map[string]string{"all": s.key}
	for name, models := range map[string][]string{"claude": {"claude/*"}, "other": {"fast", "mock/*"}} {
		_, secret, err := s.gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: name, Models: models})
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = secret
	}
	retrieve := func(key, id string, anthropic bool) (int, []byte) {
		header := []string{"Authorization", "Bearer " + keys[key]}
		if anthropic {
			header = []string{"x-api-key", keys[key], "anthropic-version", "2023-06-01"}
		}
		resp, raw := get(t, s.gw.URL+"/v1/models/"+id, header...)
		return resp.StatusCode, raw
	}
	for _, key := range []string{"all", "claude"} {
		status, raw := retrieve(key, "claude-haiku-4-5", false)
		var m struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			OwnedBy string `json:"owned_by"`
		}
		_ = json.Unmarshal(raw, &m)
		if status != 200 || m.ID != "claude-haiku-4-5" || m.Object != "model" || m.OwnedBy != "claude" {
			t.Errorf("%s key, OpenAI shape: %d %s", key, status, raw)
		}
		status, raw = retrieve(key, "claude-haiku-4-5", true)
		var a anthropicModel
		_ = json.Unmarshal(raw, &a)
		if status != 200 || a.Type != "model" || a.ID != "claude-haiku-4-5" {
			t.Errorf("%s key, Anthropic shape: %d %s", key, status, raw)
		}
	}
	// A key that may not use claude/..., and a name no pattern routes, are
	// not found.
	for _, tc := range []struct{ key, id string }{{"other", "claude-haiku-4-5"}, {"all", "gpt-9"}, {"claude", "gpt-9"}} {
		status, raw := retrieve(tc.key, tc.id, false)
		if status != 404 || errorJSON(t, raw).Code != "model_not_found" {
			t.Errorf("%s key, %s: %d %s", tc.key, tc.id, status, raw)
		}
		status, raw = retrieve(tc.key, tc.id, true)
		var e anthropicErrorBody
		_ = json.Unmarshal(raw, &e)
		if status != 404 || e.Error.Type != "not_found_error" {
			t.Errorf("%s key, %s, Anthropic shape: %d %s", tc.key, tc.id, status, raw)
		}
	}
}
