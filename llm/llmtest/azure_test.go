package llmtest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

const azureVersion = "?api-version=2024-10-21"

// azureRequest builds an Azure OpenAI request (GET when body is empty)
// authenticated with api-key.
func azureRequest(ctx context.Context, baseURL, path, key, body string) *http.Request {
	return rawRequest(ctx, baseURL+path, body, "api-key", key)
}

func TestAzureChatCompletion(t *testing.T) {
	srv := StartServer(t)
	// Azure ignores the body's model; a body may have none.
	body := `{"messages":[{"role":"user","content":"hello deployment"}]}`
	status, header, raw := do(t, azureRequest(t.Context(), srv.URL, "/openai/deployments/my-gpt/chat/completions"+azureVersion, testKey, body))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	if header.Get("Apim-Request-Id") == "" {
		t.Errorf("no apim-request-id in %v", header)
	}
	var c oaCompletion
	decodeJSON(t, raw, &c)
	if c.Model != "my-gpt" || len(c.Choices) != 1 || *c.Choices[0].Message.Content != "Echo: hello deployment" {
		t.Errorf("completion %+v", c)
	}
	// The body's model is replaced by the deployment.
	_, _, raw = do(t, azureRequest(t.Context(), srv.URL, "/openai/deployments/my-gpt/chat/completions"+azureVersion, testKey,
		`{"model":"something-else","messages":[{"role":"user","content":"x"}]}`))
	decodeJSON(t, raw, &c)
	if c.Model != "my-gpt" {
		t.Errorf("model %q", c.Model)
	}
	st := srv.Stats()
	if st.ByEndpoint[EndpointChatCompletions] != 2 {
		t.Errorf("stats %+v", st.ByEndpoint)
	}
	if rr, _ := srv.LastRequest(); rr.Endpoint != EndpointChatCompletions || rr.Path != "/openai/deployments/my-gpt/chat/completions" ||
		rr.RawQuery != "api-version=2024-10-21" || rr.Key != testKey {
		t.Errorf("recorded %+v", rr)
	}
}

func TestAzureStream(t *testing.T) {
	srv := StartServer(t)
	body := `{"messages":[{"role":"user","content":"stream it"}],"stream":true,"stream_options":{"include_usage":true}}`
	resp := openStream(t, azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions"+azureVersion, testKey, body))
	s, err := readOpenAIStream(resp.Body)
	if err != nil {
		t.Fatalf("stream: %v (%+v)", err, s)
	}
	if s.Content != "Echo: stream it" || !s.UsageLast || !s.Done {
		t.Errorf("stream %+v", s)
	}
}

func TestAzureStreamCut(t *testing.T) {
	srv := StartServer(t)
	mustSet(t, srv.Mock, Behavior{CloseAfterChunks: 2})
	body := `{"messages":[{"role":"user","content":"one two three four"}],"stream":true}`
	resp := openStream(t, azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions"+azureVersion, testKey, body))
	s, err := readOpenAIStream(resp.Body)
	if err == nil || s.Done || s.Events != 2 {
		t.Errorf("stream %+v, error %v; want a cut after 2 events", s, err)
	}
	testkit.Eventually(t, 5*time.Second, "the cut to be counted", func() bool { return srv.Stats().Cut == 1 })
}

func TestAzureEmbeddingsAndModels(t *testing.T) {
	srv := StartServer(t, WithEmbeddingDimensions(8), WithModels("embed-dep", "chat-dep"))
	status, _, raw := do(t, azureRequest(t.Context(), srv.URL, "/openai/deployments/embed-dep/embeddings"+azureVersion, testKey, `{"input":["a","b"]}`))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	var emb struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
	}
	decodeJSON(t, raw, &emb)
	if emb.Model != "embed-dep" || len(emb.Data) != 2 || len(emb.Data[0].Embedding) != 8 {
		t.Errorf("embeddings %+v", emb)
	}
	// WithModels names deployments.
	status, _, raw = do(t, azureRequest(t.Context(), srv.URL, "/openai/deployments/other/embeddings"+azureVersion, testKey, `{"input":"a"}`))
	if status != http.StatusNotFound {
		t.Errorf("unknown deployment: status %d: %s", status, raw)
	}
	status, _, raw = do(t, azureRequest(t.Context(), srv.URL, "/openai/models"+azureVersion, testKey, ""))
	if status != http.StatusOK || !strings.Contains(string(raw), `"id":"chat-dep"`) {
		t.Errorf("models: status %d: %s", status, raw)
	}
}

func TestAzureRejections(t *testing.T) {
	srv := StartServer(t, WithAPIKeys(testKey))
	chatBody := `{"messages":[{"role":"user","content":"x"}]}`
	bearer := azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions"+azureVersion, "", chatBody)
	bearer.Header.Set("Authorization", "Bearer "+testKey)
	cases := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"no api-version", azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions", testKey, chatBody), 404, "404"},
		{"empty api-version", azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions?api-version=", testKey, chatBody), 404, "404"},
		{"models without api-version", azureRequest(t.Context(), srv.URL, "/openai/models", testKey, ""), 404, "404"},
		{"no key", azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions"+azureVersion, "", chatBody), 401, "401"},
		{"bearer instead of api-key", bearer, 401, "401"},
		{"wrong key", azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions"+azureVersion, otherKey, chatBody), 401, "401"},
		{"empty deployment", azureRequest(t.Context(), srv.URL, "/openai/deployments//chat/completions"+azureVersion, testKey, chatBody), 404, ""},
		{"unknown operation", azureRequest(t.Context(), srv.URL, "/openai/deployments/d/completions"+azureVersion, testKey, chatBody), 404, ""},
		{"GET on chat", azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions"+azureVersion, testKey, ""), 405, ""},
		{"bad body", azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions"+azureVersion, testKey, `{"messages":`), 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, raw := do(t, c.req)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, raw)
			}
			var e struct {
				Error *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			decodeJSON(t, raw, &e)
			if e.Error == nil || e.Error.Message == "" || (c.code != "" && e.Error.Code != c.code) {
				t.Errorf("error body %s", raw)
			}
		})
	}
}

func TestAzureRateLimitHeaders(t *testing.T) {
	srv := StartServer(t)
	mustSet(t, srv.Mock, Behavior{RateLimitNext: 1, RetryAfter: 1500 * time.Millisecond})
	status, header, raw := do(t, azureRequest(t.Context(), srv.URL, "/openai/deployments/d/chat/completions"+azureVersion, testKey,
		`{"messages":[{"role":"user","content":"x"}]}`))
	if status != http.StatusTooManyRequests {
		t.Fatalf("status %d: %s", status, raw)
	}
	if header.Get("X-Ms-Retry-After-Ms") != "1500" || header.Get("Retry-After") != "2" || header.Get("Retry-After-Ms") != "" {
		t.Errorf("headers %v", header)
	}
	if !strings.Contains(string(raw), `"code":"rate_limit_exceeded"`) {
		t.Errorf("body %s", raw)
	}
	// The OpenAI endpoints keep their own header.
	mustSet(t, srv.Mock, Behavior{RateLimitNext: 1, RetryAfter: 1500 * time.Millisecond})
	_, header, _ = do(t, newRequest(t.Context(), openAI, srv.URL, "", testKey, chatBody(openAI, "x", "")))
	if header.Get("Retry-After-Ms") != "1500" || header.Get("X-Ms-Retry-After-Ms") != "" {
		t.Errorf("OpenAI headers %v", header)
	}
}
