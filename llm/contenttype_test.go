package llm

import (
	"net/http"
	"testing"

	"github.com/junctionhq/junction/policy"
)

// TestV1RefusesNonJSONContentType: a body declared as anything but JSON is
// a 415 in the endpoint's own error shape; JSON with parameters, +json
// types and a missing Content-Type are read as JSON.
func TestV1RefusesNonJSONContentType(t *testing.T) {
	e := newTestEnv(t, nil)
	admin := policy.AdminIdentity()
	paths := []struct{ path, model string }{
		{chatPath, "mock/gpt-4o-mini"}, {"/v1/messages", "claude/claude-haiku-4-5"}, {"/v1/embeddings", "mock/text-embedding-3-small"},
	}
	for _, p := range paths {
		body := chatBody(p.path, p.model)
		for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x",
			"application/json; charset=latin1", "not a media type"} {
			e.up.ResetStats()
			rec := e.post(admin, p.path, body, "Content-Type", ct)
			if rec.Code != http.StatusUnsupportedMediaType {
				t.Errorf("%s %q: %d %s", p.path, ct, rec.Code, rec.Body)
				continue
			}
			er := readErr(t, rec)
			switch p.path {
			case "/v1/messages":
				if er.Type != "error" || er.Error.Type != "invalid_request_error" {
					t.Errorf("%s %q: not Anthropic-shaped: %s", p.path, ct, rec.Body)
				}
			default:
				if er.Error.Code == nil || *er.Error.Code != "unsupported_media_type" {
					t.Errorf("%s %q: not OpenAI-shaped: %s", p.path, ct, rec.Body)
				}
			}
			if e.up.Stats().Requests != 0 {
				t.Errorf("%s %q reached the provider", p.path, ct)
			}
		}
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
			"application/vnd.api+json", ""} {
			rec := e.post(admin, p.path, body, "Content-Type", ct)
			if rec.Code != http.StatusOK {
				t.Errorf("%s %q: %d %s", p.path, ct, rec.Code, rec.Body)
			}
		}
	}
}
