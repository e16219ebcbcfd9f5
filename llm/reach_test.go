package llm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store"
)

// The provider keys of the test services: the cheap provider's fails when
// a test says so (llmtest behaviours are per key).
const (
	mockKey   = "sk-mock-0123456789abcd"
	cheapKey  = "sk-cheap-0123456789abcd"
	priceyKey = "sk-pricey-0123456789abcd"
)

// testEnv is a Service in front of one llmtest server, with a policy engine
// whose keys the test creates.
type testEnv struct {
	s      *Service
	engine *policy.Engine
	up     *llmtest.Server
}

// newTestEnv builds providers mock (OpenAI, listing gpt-4o-mini and
// text-embedding-3-small), claude (Anthropic), cheap and pricey (OpenAI,
// their own keys), and the aliases fast (mock/gpt-4o-mini, falling back to
// mock/gpt-4o) and tiered (cheap/gpt-4o-mini, falling back to
// pricey/gpt-4o). edit may change the options before the Service is built.
func newTestEnv(t *testing.T, edit func(*Options)) *testEnv {
	t.Helper()
	up := llmtest.NewServer()
	t.Cleanup(up.Close)
	engine := testPolicy(t, t.TempDir())
	opts := Options{Policy: engine, Config: testConfig(up.URL)}
	if edit != nil {
		edit(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{s: s, engine: engine, up: up}
}

func testConfig(url string) Config {
	openAI := func(name, key string, models ...string) ProviderConfig {
		return ProviderConfig{Name: name, BaseURL: url + "/v1", Keys: []ProviderKeyConfig{{Name: "k", Value: key}}, Models: models}
	}
	return Config{
		Providers: []ProviderConfig{
			openAI("mock", mockKey, "gpt-4o-mini", "text-embedding-3-small"),
			{Name: "claude", Type: TypeAnthropic, BaseURL: url, Keys: []ProviderKeyConfig{{Name: "k", Value: "sk-ant-0123456789abcd"}}},
			openAI("cheap", cheapKey),
			openAI("pricey", priceyKey),
		},
		Models: []ModelConfig{
			{Name: "fast", Targets: []TargetConfig{{Model: "mock/gpt-4o-mini"}}, Fallbacks: []string{"mock/gpt-4o"}},
			{Name: "tiered", Targets: []TargetConfig{{Model: "cheap/gpt-4o-mini"}}, Fallbacks: []string{"pricey/gpt-4o"}},
			{Name: "tiered-embed", Targets: []TargetConfig{{Model: "cheap/text-embedding-3-small"}}, Fallbacks: []string{"pricey/text-embedding-3-large"}},
		},
	}
}

// key creates a virtual key and returns its identity.
func (e *testEnv) key(t *testing.T, in policy.KeyInput) *policy.Identity {
	t.Helper()
	_, secret, err := e.engine.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.engine.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// post serves body on path (/v1/chat/completions, /v1/messages or
// /v1/embeddings) as id, with header name/value pairs.
func (e *testEnv) post(id *policy.Identity, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	serveAs(e.s, id, rec, req)
	return rec
}

// serveAs serves req as id on the handler its path names: /v1/messages,
// /v1/embeddings, else /v1/chat/completions.
func serveAs(s *Service, id *policy.Identity, w http.ResponseWriter, req *http.Request) {
	req = req.WithContext(policy.WithIdentity(req.Context(), id))
	switch req.URL.Path {
	case "/v1/messages":
		s.Messages(w, req)
	case "/v1/messages/count_tokens":
		s.CountTokens(w, req)
	case "/v1/embeddings":
		s.Embeddings(w, req)
	default:
		s.ChatCompletions(w, req)
	}
}

// chatBody is a chat request for model with the given fallbacks, in the
// shape of path.
func chatBody(path, model string, fallbacks ...string) string {
	fb, _ := json.Marshal(fallbacks)
	if fallbacks == nil {
		fb = []byte("null")
	}
	m, _ := json.Marshal(model)
	switch path {
	case "/v1/embeddings":
		return `{"model":` + string(m) + `,"fallbacks":` + string(fb) + `,"input":"hello"}`
	case "/v1/messages":
		return `{"model":` + string(m) + `,"fallbacks":` + string(fb) + `,"max_tokens":16,"messages":[{"role":"user","content":"hello"}]}`
	}
	return `{"model":` + string(m) + `,"fallbacks":` + string(fb) + `,"max_tokens":16,"messages":[{"role":"user","content":"hello"}]}`
}

// apiErr reads an OpenAI- or Anthropic-shaped error body.
type apiErr struct {
	Type  string `json:"type"`
	Error struct {
		Type    string  `json:"type"`
		Code    *string `json:"code"`
		Param   *string `json:"param"`
		Message string  `json:"message"`
	} `json:"error"`
}

func readErr(t *testing.T, rec *httptest.ResponseRecorder) apiErr {
	t.Helper()
	var e apiErr
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	return e
}

// agentHub is a tool hub with one tool, echo__say, that answers "said".
type agentHub struct{}

func (agentHub) Tools(*policy.Identity, string) []mcp.ToolInfo {
	return []mcp.ToolInfo{{Name: "echo__say", Server: "echo", Tool: "say", Description: "say something",
		InputSchema: json.RawMessage(`{"type":"object","properties":{}}`)}}
}

func (agentHub) CallTool(context.Context, *policy.Identity, string, json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(`{"content":[{"type":"text","text":"said"}]}`), nil
}

// agentBody is a chat request naming the MCP server echo, so that it runs
// the agent loop.
func agentBody(model string, fallbacks ...string) string {
	body := chatBody("/v1/chat/completions", model, fallbacks...)
	return strings.Replace(body, `"max_tokens"`, `"tools":[{"type":"mcp","server_label":"echo"}],"max_tokens"`, 1)
}

// TestRequestFallbacksNeedModelAccess: a key allowed one model is refused,
// with a 403 naming the model, when it names another in "fallbacks", on
// every path, before any provider is called; and it is served when the
// fallback is one it may use.
func TestRequestFallbacksNeedModelAccess(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.Tools = agentHub{} })
	id := e.key(t, policy.KeyInput{Name: "one-model", Models: []string{"mock/gpt-4o-mini", "mock/text-embedding-3-small"}})
	cases := []struct {
		name, path, body, shape string
	}{
		{"chat", "/v1/chat/completions", chatBody("/v1/chat/completions", "mock/gpt-4o-mini", "mock/gpt-4o"), "openai"},
		{"messages", "/v1/messages", chatBody("/v1/messages", "mock/gpt-4o-mini", "mock/gpt-4o"), "anthropic"},
		{"embeddings", "/v1/embeddings", chatBody("/v1/embeddings", "mock/text-embedding-3-small", "mock/text-embedding-3-large"), "openai"},
		{"agent loop", "/v1/chat/completions", agentBody("mock/gpt-4o-mini", "mock/gpt-4o"), "openai"},
		{"second fallback", "/v1/chat/completions", chatBody("/v1/chat/completions", "mock/gpt-4o-mini", "mock/gpt-4o-mini", "claude/claude-haiku-4-5"), "openai"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.up.ResetStats()
			rec := e.post(id, c.path, c.body)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", rec.Code, rec.Body)
			}
			er := readErr(t, rec)
			if !strings.Contains(er.Error.Message, "fallbacks[") || !strings.Contains(er.Error.Message, "model:") {
				t.Errorf("message %q does not name the fallback", er.Error.Message)
			}
			if c.shape == "anthropic" && (er.Type != "error" || er.Error.Type != "permission_error") {
				t.Errorf("not Anthropic-shaped: %s", rec.Body)
			}
			if c.shape == "openai" && (er.Error.Param == nil || *er.Error.Param != "fallbacks") {
				t.Errorf("param: %s", rec.Body)
			}
			if n := e.up.Stats().Requests; n != 0 {
				t.Errorf("the provider was called %d times", n)
			}
		})
	}
	// A fallback the key may use is fine.
	if rec := e.post(id, "/v1/chat/completions", chatBody("/v1/chat/completions", "mock/gpt-4o-mini", "mock/gpt-4o-mini")); rec.Code != http.StatusOK {
		t.Errorf("allowed fallback: %d %s", rec.Code, rec.Body)
	}
	// The requested model itself still needs access.
	if rec := e.post(id, "/v1/chat/completions", chatBody("/v1/chat/completions", "mock/gpt-4o")); rec.Code != http.StatusForbidden {
		t.Errorf("model: %d %s", rec.Code, rec.Body)
	}
}

// TestAliasGrantsItsTargetsAndFallbacks: a key allowed only an alias
// reaches the alias's configured fallback (the administrator composed the
// alias), but cannot name that fallback itself.
func TestAliasGrantsItsTargetsAndFallbacks(t *testing.T) {
	e := newTestEnv(t, nil)
	id := e.key(t, policy.KeyInput{Name: "alias-only", Models: []string{"tiered"}})
	if err := e.up.SetBehavior(cheapKey, llmtest.Behavior{FailPercent: 100, FailStatus: 503}); err != nil {
		t.Fatal(err)
	}
	rec := e.post(id, "/v1/chat/completions", chatBody("/v1/chat/completions", "tiered"))
	if rec.Code != http.StatusOK || rec.Header().Get("X-Junction-Target") != "pricey/gpt-4o" {
		t.Fatalf("alias: %d %s %s", rec.Code, rec.Header().Get("X-Junction-Target"), rec.Body)
	}
	if rec := e.post(id, "/v1/chat/completions", chatBody("/v1/chat/completions", "tiered", "pricey/gpt-4o")); rec.Code != http.StatusForbidden {
		t.Errorf("the alias's fallback named by the request: %d %s", rec.Code, rec.Body)
	}
	if rec := e.post(id, "/v1/chat/completions", chatBody("/v1/chat/completions", "pricey/gpt-4o")); rec.Code != http.StatusForbidden {
		t.Errorf("the alias's fallback requested directly: %d %s", rec.Code, rec.Body)
	}
}

// TestAgentLoopChecksFallbackAccessEveryCall: the agent loop's model calls
// are admitted one by one; each checks the request's fallbacks again, so a
// fallback the key loses access to mid-loop is not reached.
func TestAgentLoopChecksFallbackAccessEveryCall(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.Tools = agentHub{} })
	_, secret, err := e.engine.CreateKey(context.Background(), policy.KeyInput{Name: "looper", Models: []string{"mock/*"}})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := e.engine.Authenticate(secret)
	if err := e.up.SetDefault(llmtest.Behavior{ScriptMode: llmtest.ScriptByToolResults, Script: []llmtest.Turn{
		llmtest.ToolTurn(llmtest.Call("echo__say", nil)), llmtest.TextTurn("done")}}); err != nil {
		t.Fatal(err)
	}
	rc, err := e.s.reachFor(id, "mock/gpt-4o-mini", []string{"mock/gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.release()
	// admit runs the first two steps of the pipeline for the loop's next
	// model call: its access again, and its reservation.
	admit := func(id *policy.Identity) (*policy.Reservation, error) {
		m := &agentModels{s: e.s, c: &chatCall{body: []byte(agentBody("mock/gpt-4o-mini", "mock/gpt-4o")), call: modelCall{id: id}}, rc: rc}
		p := m.next(nil, false)
		if err := p.resolve(); err != nil {
			return nil, err
		}
		err := p.admit(context.Background())
		return p.res, err
	}
	res, err := admit(id)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	res.Settle(context.Background(), policy.Outcome{Status: "ok"})
	if _, err := e.engine.UpdateKey(context.Background(), "looper", json.RawMessage(`{"models":["mock/gpt-4o-mini"]}`)); err != nil {
		t.Fatal(err)
	}
	id, _ = e.engine.Authenticate(secret)
	if _, err := admit(id); classify(err).Status != http.StatusForbidden {
		t.Errorf("after the key lost the fallback: %v", err)
	}
	// Through the handler, the whole loop runs when access holds.
	if rec := e.post(id, "/v1/chat/completions", agentBody("mock/gpt-4o-mini")); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"iterations":2`) {
		t.Errorf("loop: %d %s", rec.Code, rec.Body)
	}
}

// TestTooManyRequestFallbacks: a request may name at most 16 fallbacks;
// more is a 400 that says so, and empty names are refused.
func TestTooManyRequestFallbacks(t *testing.T) {
	e := newTestEnv(t, nil)
	id := policy.AdminIdentity()
	many := make([]string, maxRequestFallbacks+1)
	for i := range many {
		many[i] = "mock/gpt-4o-mini"
	}
	for _, path := range []string{"/v1/chat/completions", "/v1/messages", "/v1/embeddings"} {
		rec := e.post(id, path, chatBody(path, "mock/gpt-4o-mini", many...))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "at most 16") {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	if rec := e.post(id, "/v1/chat/completions", chatBody("/v1/chat/completions", "mock/gpt-4o-mini", many[:16]...)); rec.Code != http.StatusOK {
		t.Errorf("16 fallbacks: %d %s", rec.Code, rec.Body)
	}
	if rec := e.post(id, "/v1/chat/completions", chatBody("/v1/chat/completions", "mock/gpt-4o-mini", "")); rec.Code != http.StatusBadRequest {
		t.Errorf("empty fallback: %d %s", rec.Code, rec.Body)
	}
}

// testPolicy is a policy engine on a new SQLite store in dir, both closed
// when the test ends.
func testPolicy(t testing.TB, dir string) *policy.Engine {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	engine, err := policy.New(ctx, policy.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close(ctx) })
	return engine
}
