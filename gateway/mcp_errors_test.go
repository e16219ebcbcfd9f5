package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestMCPUnauthenticatedIsJSONRPC: a request to an MCP endpoint without a
// valid key gets 401 with WWW-Authenticate and a JSON-RPC error body, like
// every other /mcp error (not the OpenAI error shape of /v1).
func TestMCPUnauthenticatedIsJSONRPC(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	for _, tc := range []struct{ method, path, key string }{
		{http.MethodPost, "/mcp", ""},
		{http.MethodPost, "/mcp", "sk-wrong"},
		{http.MethodPost, "/mcp/readonly", ""},
		{http.MethodGet, "/sse", ""},
		{http.MethodPost, "/sse/message?sessionId=x", ""},
	} {
		req := mustRequest(t, tc.method, g.URL+tc.path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		resp, body := do(t, req)
		var e struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		err := json.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" || err != nil ||
			e.JSONRPC != "2.0" || string(e.ID) != "null" || e.Error.Code == 0 || e.Error.Message == "" {
			t.Errorf("%s %s key %q: %d %q %s", tc.method, tc.path, tc.key, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
}
