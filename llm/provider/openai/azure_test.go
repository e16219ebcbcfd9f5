package openai

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/llmtest"
)

var azureTarget = chat.Target{Provider: "azure-east", Model: "chat-deployment", APIKey: "azure-key-0123456789"}

// checkAzureRequest checks the last request's path, api-version and auth.
func checkAzureRequest(t *testing.T, srv *llmtest.Server, method, path, version string) map[string][]byte {
	t.Helper()
	body, rr := lastBody(t, srv)
	if rr.Method != method || rr.Path != path || rr.RawQuery != "api-version="+version {
		t.Errorf("upstream %s %s?%s, want %s %s?api-version=%s", rr.Method, rr.Path, rr.RawQuery, method, path, version)
	}
	if rr.Header.Get("Api-Key") != azureTarget.APIKey || rr.Header.Get("Authorization") != "" {
		t.Errorf("auth headers %v", rr.Header)
	}
	out := map[string][]byte{}
	for k, v := range body {
		out[k] = v
	}
	return out
}

func TestAzure(t *testing.T) {
	srv := llmtest.StartServer(t, llmtest.WithAPIKeys(azureTarget.APIKey), llmtest.WithEmbeddingDimensions(16))
	p := newProvider(t, srv, Config{BaseURL: srv.URL, Azure: &AzureConfig{}})
	if p.name != "azure" {
		t.Errorf("default name %q", p.name)
	}

	t.Run("chat", func(t *testing.T) {
		resp, err := p.Chat(t.Context(), azureTarget, userRequest("hello azure"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Message.Text() != "Echo: hello azure" || resp.Model != "chat-deployment" {
			t.Errorf("response %+v", resp)
		}
		body := checkAzureRequest(t, srv, http.MethodPost, "/openai/deployments/chat-deployment/chat/completions", DefaultAzureAPIVersion)
		if string(body["model"]) != `"chat-deployment"` {
			t.Errorf("model in the body %s", body["model"])
		}
	})
	t.Run("stream", func(t *testing.T) {
		req := userRequest("stream azure")
		req.Stream = true
		chunks := streamAll(t, p, azureTarget, req)
		if a := assemble(t, chunks); a.Content != "Echo: stream azure" || !a.UsageLast || a.Usage.PromptTokens != 2 {
			t.Errorf("stream %+v", a)
		}
		checkAzureRequest(t, srv, http.MethodPost, "/openai/deployments/chat-deployment/chat/completions", DefaultAzureAPIVersion)
	})
	t.Run("embeddings", func(t *testing.T) {
		tg := azureTarget
		tg.Model = "embedding-deployment"
		resp, err := p.Embed(t.Context(), tg, &chat.EmbeddingRequest{Input: []string{"a b c"}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(resp.Vectors, [][]float32{llmtest.EmbedText("a b c", 16)}) {
			t.Errorf("vectors %v", resp.Vectors)
		}
		checkAzureRequest(t, srv, http.MethodPost, "/openai/deployments/embedding-deployment/embeddings", DefaultAzureAPIVersion)
	})
	t.Run("models", func(t *testing.T) {
		ids, err := p.ListModels(t.Context(), azureTarget)
		if err != nil || len(ids) == 0 {
			t.Fatalf("ids %v: %v", ids, err)
		}
		checkAzureRequest(t, srv, http.MethodGet, "/openai/models", DefaultAzureAPIVersion)
	})
	t.Run("forward", func(t *testing.T) {
		body, _ := PatchModel([]byte(`{"model":"alias","messages":[{"role":"user","content":"fwd"}]}`), azureTarget.Model)
		resp, err := p.Forward(t.Context(), azureTarget, chat.FormatOpenAI, chat.EndpointChat, body, false)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if got, err := DecodeChatResponse(raw, chat.Lenient); err != nil || got.Message.Text() != "Echo: fwd" {
			t.Errorf("forwarded %s: %v", raw, err)
		}
		checkAzureRequest(t, srv, http.MethodPost, "/openai/deployments/chat-deployment/chat/completions", DefaultAzureAPIVersion)
	})
	t.Run("deployment names are escaped", func(t *testing.T) {
		tg := azureTarget
		tg.Model = "my dep/x?y"
		want := srv.URL + "/openai/deployments/my%20dep%2Fx%3Fy/chat/completions?api-version=" + DefaultAzureAPIVersion
		if got := p.endpointURL(tg, chat.EndpointChat); got != want {
			t.Errorf("url %s, want %s", got, want)
		}
	})
}

func TestAzureAPIVersion(t *testing.T) {
	srv := llmtest.StartServer(t)
	p := newProvider(t, srv, Config{BaseURL: srv.URL + "/", Azure: &AzureConfig{APIVersion: "2025-04-01-preview"}, Name: "azure-west"})
	if _, err := p.Chat(t.Context(), azureTarget, userRequest("x")); err != nil {
		t.Fatal(err)
	}
	checkAzureRequest(t, srv, http.MethodPost, "/openai/deployments/chat-deployment/chat/completions", "2025-04-01-preview")
}

func TestAzureErrors(t *testing.T) {
	srv := llmtest.StartServer(t, llmtest.WithAPIKeys(azureTarget.APIKey))
	p := newProvider(t, srv, Config{BaseURL: srv.URL, Azure: &AzureConfig{}, Name: "azure-east"})

	t.Run("429 with x-ms-retry-after-ms", func(t *testing.T) {
		setDefault(t, srv, llmtest.Behavior{RateLimitNext: 2, RetryAfter: 700 * time.Millisecond})
		t.Cleanup(func() { setDefault(t, srv, llmtest.Behavior{}) })
		for _, stream := range []bool{false, true} {
			req := userRequest("x")
			req.Stream = stream
			var err error
			if stream {
				_, err = p.ChatStream(t.Context(), azureTarget, req)
			} else {
				_, err = p.Chat(t.Context(), azureTarget, req)
			}
			var ue *chat.UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v", err)
			}
			if ue.Provider != "azure-east" || ue.Status != 429 || ue.RetryAfter != 700*time.Millisecond || !ue.Retryable() {
				t.Errorf("error %+v", ue)
			}
			if ue.Header.Get("X-Ms-Retry-After-Ms") != "700" || ue.Header.Get("Retry-After-Ms") != "" || ue.Header.Get("Retry-After") != "1" {
				t.Errorf("headers %v", ue.Header)
			}
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		tg := azureTarget
		tg.APIKey = "not-the-key-000000"
		_, err := p.Chat(t.Context(), tg, userRequest("x"))
		var ue *chat.UpstreamError
		if !errors.As(err, &ue) || ue.Status != 401 || ue.Code != "401" || ue.Retryable() {
			t.Errorf("error %v", err)
		}
	})
	t.Run("bearer auth is not Azure's", func(t *testing.T) {
		plain := newProvider(t, srv, Config{BaseURL: srv.URL})
		plain.chatURL = srv.URL + "/openai/deployments/chat-deployment/chat/completions?api-version=" + DefaultAzureAPIVersion
		_, err := plain.Chat(t.Context(), azureTarget, userRequest("x"))
		var ue *chat.UpstreamError
		if !errors.As(err, &ue) || ue.Status != 401 {
			t.Errorf("error %v", err)
		}
	})
}
