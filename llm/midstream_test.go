package llm

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// plainErrorEvent is the OpenAI error event with nothing to hide that
// midStreamErrorServer sends for "plain".
const plainErrorEvent = `data: {"error":{"message":"the model crashed at token 2","type":"server_error","code":null}}` + "\n\n"

// midStreamErrorServer streams two content events in the OpenAI or the
// Anthropic format (by path), then an error event chosen by the request's
// text: "quote" quotes the API key the request came with and an OpenAI-style
// key; "auth" is an auth failure quoting the key (OpenAI's invalid_api_key,
// Anthropic's authentication_error); "plain" is plainErrorEvent.
func midStreamErrorServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		if key == "" {
			key = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		body := readAll(r)
		w.Header().Set("Content-Type", "text/event-stream")
		anthropic := strings.HasSuffix(r.URL.Path, "/messages")
		if anthropic {
			fmt.Fprint(w, "event: message_start\n"+
				`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}`+"\n\n"+
				"event: content_block_start\n"+`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n"+
				"event: content_block_delta\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Once"}}`+"\n\n")
		} else {
			for _, word := range []string{"Once", " upon"} {
				fmt.Fprintf(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":%q},"finish_reason":null}]}`+"\n\n", word)
			}
		}
		quoted := fmt.Sprintf("upstream failed for key %s (also sk-proj-AbCdEf0123456789)", key)
		switch {
		case strings.Contains(body, "plain") && !anthropic:
			fmt.Fprint(w, plainErrorEvent)
		case strings.Contains(body, "auth") && anthropic:
			fmt.Fprintf(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":%q}}\n\n", "invalid x-api-key "+key)
		case strings.Contains(body, "auth"):
			fmt.Fprintf(w, "data: {\"error\":{\"message\":%q,\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}\n\n", "Incorrect API key provided: "+key)
		case anthropic:
			fmt.Fprintf(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":%q}}\n\n", quoted)
		default:
			fmt.Fprintf(w, "data: {\"error\":{\"message\":%q,\"type\":\"server_error\",\"code\":null}}\n\n", quoted)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestMidStreamErrorEventsAreScrubbed: an error event in the middle of a
// stream, passed through in the client's format or translated from
// another, loses the configured provider key (even one that looks like
// nothing secret) and anything key-like, as errors before the first byte
// do; an auth failure becomes the provider_auth_failed message; an error
// event with nothing to hide reaches the client byte for byte.
func TestMidStreamErrorEventsAreScrubbed(t *testing.T) {
	const plainKey = "local-llm-key-7f3a9c"
	up := midStreamErrorServer(t)
	chatReq := func(model, text string) string {
		return fmt.Sprintf(`{"model":%q,"stream":true,"max_tokens":16,"messages":[{"role":"user","content":%q}]}`, model, text)
	}
	cases := []struct {
		name, path, body string
		want             []string // in the client's stream
	}{
		{"openai passthrough", chatPath, chatReq("oai/gpt-4o", "quote"), []string{"Once", "upstream failed for key [redacted]"}},
		{"anthropic passthrough", "/v1/messages", chatReq("ant/claude-haiku-4-5", "quote"), []string{"Once", "event: error", "upstream failed for key [redacted]"}},
		{"anthropic to chat", chatPath, chatReq("ant/claude-haiku-4-5", "quote"), []string{"Once", "upstream failed for key [redacted]"}},
		{"openai to messages", "/v1/messages", chatReq("oai/gpt-4o", "quote"), []string{"Once", "event: error", "upstream failed for key [redacted]"}},
		{"openai auth passthrough", chatPath, chatReq("oai/gpt-4o", "auth"), []string{"Once", `"code":"provider_auth_failed"`, "rejected Junction's credentials for oai"}},
		{"anthropic auth passthrough", "/v1/messages", chatReq("ant/claude-haiku-4-5", "auth"), []string{"Once", "rejected Junction's credentials for ant"}},
		{"anthropic auth to chat", chatPath, chatReq("ant/claude-haiku-4-5", "auth"), []string{"Once", "rejected Junction's credentials for ant"}},
		{"nothing to hide", chatPath, chatReq("oai/gpt-4o", "plain"), []string{"Once", plainErrorEvent}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A service each: an auth failure leaves the key out afterwards.
			s := newKeyedService(t, up.URL, plainKey)
			rec, logs := serveLogged(s, c.path, c.body)
			got := rec.Body.String()
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("the stream lacks %q:\n%s", w, got)
				}
			}
			for _, leak := range []string{plainKey, "7f3a9c", "sk-proj", "Incorrect API key", "invalid x-api-key"} {
				if strings.Contains(got, leak) {
					t.Errorf("the client sees %q:\n%s", leak, got)
				}
			}
			if strings.Contains(logs, plainKey) {
				t.Errorf("the log holds the key: %s", logs)
			}
		})
	}
}
