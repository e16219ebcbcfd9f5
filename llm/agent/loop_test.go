package agent

import (
	"net/http"
	"testing"
)

func TestWants(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	if Wants(r, []byte(`{"model":"m"}`)) {
		t.Error("plain body")
	}
	if !Wants(r, []byte(`{"tools":[{"type":"mcp"}]}`)) || !Wants(r, []byte(`{"mcp_servers":[]}`)) {
		t.Error("MCP body")
	}
	r.Header.Set(ToolsHeader, "*")
	if !Wants(r, []byte(`{}`)) {
		t.Error("header")
	}
}
