package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
)

// TestGateway503sCarryRetryAfter: every 503 the gateway layer answers tells
// the client when to retry: the governance layer being unavailable, an MCP
// upstream being unavailable on the admin API, and any other 503, while an
// explicit Retry-After is kept.
func TestGateway503sCarryRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"governance unavailable", policyError(errors.Join(policy.ErrUnavailable, errors.New("redis: i/o timeout"))), "1"},
		{"upstream unavailable", registryError(&registry.UnavailableError{Server: "web", State: registry.StateFailed}), retryAfterUnavailable},
		{"any 503", &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "x", Message: "down"}, retryAfterUnavailable},
		{"explicit", &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "x", Message: "down",
			Header: map[string]string{"Retry-After": "17"}}, "17"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest(http.MethodGet, "/admin/v1/x", nil), tc.err)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != tc.want {
				t.Fatalf("%d Retry-After %q, want 503 with %q: %s", rec.Code, rec.Header().Get("Retry-After"), tc.want, rec.Body)
			}
		})
	}
	// Over HTTP: refreshing a server that cannot be reached.
	g := startGateway(t, nil)
	resp, body := adminDo(t, http.MethodPost, g.URL+"/admin/v1/servers", map[string]any{
		"name": "gone", "transport": "streamable-http", "url": "http://127.0.0.1:9/mcp",
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodPost, g.URL+"/admin/v1/servers/gone/refresh", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("refresh of an unreachable server: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}
