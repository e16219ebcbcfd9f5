package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

func TestAdminServersAndTools(t *testing.T) {
	up := mcptest.StartHTTP(t, mcptest.WithName("web"))
	gw := startGateway(t, func(c *Config) {
		c.Servers = []registry.ServerConfig{{Name: "filed", Transport: registry.TransportStreamableHTTP, URL: up.URL}}
	})
	resp, body := adminDo(t, http.MethodPost, gw.URL+"/admin/v1/servers", map[string]any{
		"name": "web", "transport": "streamable-http", "url": up.URL, "bearer": "upstream-secret-token", "headers": map[string]string{"X-Team": "t"},
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "upstream-secret-token") {
		t.Errorf("the bearer token is shown: %s", body)
	}
	// Invalid definitions are refused with the field named.
	resp, body = adminDo(t, http.MethodPost, gw.URL+"/admin/v1/servers", map[string]any{"name": "bad name!", "transport": "carrier-pigeon"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "transport") {
		t.Errorf("invalid server: %d %s", resp.StatusCode, body)
	}
	testkit.Eventually(t, 15*time.Second, "web to be ready", func() bool {
		_, body := adminDo(t, http.MethodGet, gw.URL+"/admin/v1/servers/web", nil)
		var info registry.ServerInfo
		_ = json.Unmarshal(body, &info)
		if info.Status.State != registry.StateReady || !info.Bearer || info.Status.Tools == 0 {
			return false
		}
		// The hub merges the new catalog asynchronously.
		_, tools := adminDo(t, http.MethodGet, gw.URL+"/admin/v1/tools", nil)
		return strings.Contains(string(tools), "web__echo")
	})
	resp, body = adminDo(t, http.MethodGet, gw.URL+"/admin/v1/servers/web/tools", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"public_name":"web__echo"`) {
		t.Errorf("server tools: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodGet, gw.URL+"/admin/v1/tools", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "web__echo") {
		t.Errorf("tools: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodPost, gw.URL+"/admin/v1/tools/call", map[string]any{"name": "web__echo", "arguments": map[string]any{"message": "via admin"}})
	if resp.StatusCode != 200 || !strings.Contains(string(body), "via admin") {
		t.Errorf("call: %d %s", resp.StatusCode, body)
	}
	resp, body = adminDo(t, http.MethodPost, gw.URL+"/admin/v1/tools/call", map[string]any{"name": "nope__x"})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown tool: %d %s", resp.StatusCode, body)
	}
	// File-managed servers are read-only here.
	resp, body = adminDo(t, http.MethodDelete, gw.URL+"/admin/v1/servers/filed", nil)
	if resp.StatusCode != http.StatusConflict || errorJSON(t, body).Code != "read_only" {
		t.Errorf("delete a file server: %d %s", resp.StatusCode, body)
	}
	resp, _ = adminDo(t, http.MethodPost, gw.URL+"/admin/v1/servers/web/refresh", nil)
	if resp.StatusCode != 200 {
		t.Errorf("refresh: %d", resp.StatusCode)
	}
	resp, _ = adminDo(t, http.MethodDelete, gw.URL+"/admin/v1/servers/web", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, _ = adminDo(t, http.MethodGet, gw.URL+"/admin/v1/servers/web", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("after delete: %d", resp.StatusCode)
	}
	// Registering a server is an admin action only.
	resp, _ = get(t, gw.URL+"/admin/v1/servers")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the admin key: %d", resp.StatusCode)
	}
}
