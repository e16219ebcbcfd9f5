package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/providerstore"
)

// FuzzAdminProviderBody drives POST /admin/v1/providers and PATCH
// /admin/v1/providers/{name} in process with arbitrary bodies: the answer
// is always a JSON error in the admin API's shape with a 4xx status, or a
// success, and never a 5xx or a panic (the recoverer would make it a 500).
func FuzzAdminProviderBody(f *testing.F) {
	for _, s := range []struct {
		patch bool
		body  string
	}{
		{false, `{"name":"fz","type":"openai","base_url":"http://127.0.0.1:9/v1","models":["m"],"keys":[{"name":"k","value":"sk-1","weight":2}],"timeouts":{"first_byte":"20s"}}`},
		{false, `{"name":"fz2","type":"anthropic","base_url":"http://127.0.0.1:9","headers":{"X-A":"b"},"keys":[{"value":"sk"}]}`},
		{false, `{"name":"fz3","type":"azure","base_url":"http://127.0.0.1:9","api_version":"2024-06-01","keys":[{"value":"sk","models":["m"]}]}`},
		{false, `{"name":"mock","type":"openai","keys":[{"value":"sk"}]}`},
		{false, `{"name":"","keys":[]}`},
		{false, `{"name":"x","type":"nope","keys":[{"value":"sk"}]}`},
		{false, `{"name":"x","type":"openai","keys":[{"value":"sk","weight":-1}]}`},
		{false, `{"name":"x","type":"openai","keys":[{"value":"sk"}],"timeouts":{"connect":"forever"}}`},
		{false, `{"name":"x","type":"openai","keys":[{"value":"sk"}],"timeouts":{"connect":-5}}`},
		{false, `{"name":"x","type":"openai","base_url":"::not a url","keys":[{"value":"sk"}]}`},
		{false, `{"name":"x","unknown":1}`},
		{false, `{"name":7}`},
		{false, `{"name":"a/b","type":"openai","keys":[{"value":"sk"}]}`},
		{false, `{"name":"a,b%41é?#","type":"openai","keys":[{"value":"sk"}]}`},
		{false, `[]`}, {false, `null`}, {false, ``}, {false, `{`}, {false, `{"name":"x"} trailing`},
		{true, `{"models":["m","n"]}`},
		{true, `{"keys":[{"name":"k"}]}`},
		{true, `{"keys":[{"name":"other"}]}`},
		{true, `{"keys":null}`},
		{true, `{"name":"renamed"}`},
		{true, `{"name":null}`},
		{true, `{"type":"gemini","base_url":null}`},
		{true, `{"timeouts":{"stream_idle":"1ms"}}`},
		{true, `{"headers":{"X-A":null}}`},
		{true, `{"extra":true}`},
		{true, `[1]`}, {true, `null`}, {true, `"x"`}, {true, ``}, {true, `{`},
	} {
		f.Add(s.patch, []byte(s.body))
	}
	g, err := New(context.Background(), Config{DataDir: f.TempDir(), AdminKey: testAdminKey,
		Providers: []llm.ProviderConfig{{Name: "mock", Type: llm.TypeOpenAI, BaseURL: "http://127.0.0.1:9/v1",
			Keys: []llm.ProviderKeyConfig{{Name: "main", Value: "sk-main"}}, Models: []string{"gpt-4o-mini"}}}},
		Options{Logger: zerolog.Nop(), Version: "test", Terminal: io.Discard})
	if err != nil {
		f.Fatal(err)
	}
	testkit.ShutdownAtEnd(f, 5*time.Second, g.Shutdown)
	h := g.Handler()
	serve := func(method, path string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// The API provider the patches apply to.
	const target = "/admin/v1/providers/fzt"
	ensureTarget := func(t testing.TB) {
		if serve(http.MethodGet, target, nil).Code == http.StatusOK {
			return
		}
		rec := serve(http.MethodPost, "/admin/v1/providers", []byte(`{"name":"fzt","type":"openai","base_url":"http://127.0.0.1:9/v1","keys":[{"name":"k","value":"sk-t"}]}`))
		if rec.Code != http.StatusCreated {
			t.Fatalf("create the patch target: %d %s", rec.Code, rec.Body.Bytes())
		}
	}
	ensureTarget(f)

	f.Fuzz(func(t *testing.T, patch bool, body []byte) {
		method, path := http.MethodPost, "/admin/v1/providers"
		if patch {
			method, path = http.MethodPatch, target
		}
		rec := serve(method, path, body)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %q: %d %s", method, body, rec.Code, rec.Body.Bytes())
		case rec.Code >= 400:
			var e struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Message == "" {
				t.Fatalf("%s %q: %d with a body that is not an error: %s", method, body, rec.Code, rec.Body.Bytes())
			}
		case rec.Code == http.StatusCreated || rec.Code == http.StatusOK:
			var info providerstore.Info
			if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil || info.Name == "" || info.Source != "api" {
				t.Fatalf("%s %q: %d %s", method, body, rec.Code, rec.Body.Bytes())
			}
			if !patch {
				// What was made is found by its name, escaped as a client
				// escapes a path segment; then removed, to keep the store small.
				if got := serve(http.MethodGet, "/admin/v1/providers/"+url.PathEscape(info.Name), nil); got.Code != http.StatusOK {
					t.Fatalf("get %q: %d %s", info.Name, got.Code, got.Body.Bytes())
				}
				if del := serve(http.MethodDelete, "/admin/v1/providers/"+url.PathEscape(info.Name), nil); del.Code != http.StatusNoContent {
					t.Fatalf("delete %q: %d %s", info.Name, del.Code, del.Body.Bytes())
				}
			}
		default:
			t.Fatalf("%s %q: status %d", method, body, rec.Code)
		}
		ensureTarget(t)
	})
}
