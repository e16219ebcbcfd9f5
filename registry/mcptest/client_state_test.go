package mcptest

import (
	"encoding/json"
	"os"
	"testing"
)

// rootsText returns the roots tool's answer in a tools/call response.
func rootsText(t *testing.T, msg map[string]any) RootsOutput {
	t.Helper()
	res, _ := msg["result"].(map[string]any)
	content, _ := res["content"].([]any)
	if len(content) != 1 || res["isError"] == true {
		t.Fatalf("roots answered %v", msg)
	}
	var out RootsOutput
	if err := json.Unmarshal([]byte(content[0].(map[string]any)["text"].(string)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRootsToolOverStdio: the roots tool asks a 2025-11-25 stdio client
// with roots/list once, answers later calls of the session from its cache,
// and asks again after notifications/roots/list_changed; a client without
// the capability is told so.
func TestRootsToolOverStdio(t *testing.T) {
	srv := mustServer(t, WithTools(ToolRoots))
	r := startRawStdio(t, srv)
	r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"raw","version":"1"}}}`)
	r.recv(t)
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	ask := func(id int, root string) {
		t.Helper()
		r.send(t, `{"jsonrpc":"2.0","id":`+string(rune('0'+id))+`,"method":"tools/call","params":{"name":"roots","arguments":{}}}`)
		req := r.recv(t)
		if req["method"] != "roots/list" {
			t.Fatalf("the tool did not ask for the roots: %v", req)
		}
		reqID, _ := json.Marshal(req["id"])
		r.send(t, `{"jsonrpc":"2.0","id":`+string(reqID)+`,"result":{"roots":[{"uri":"`+root+`"}]}}`)
		if out := rootsText(t, r.recv(t)); out.Cached || len(out.Roots) != 1 || out.Roots[0].URI != root {
			t.Errorf("asked roots: %+v", out)
		}
	}
	ask(2, "file:///one")
	r.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"roots","arguments":{}}}`)
	if out := rootsText(t, r.recv(t)); !out.Cached || out.Roots[0].URI != "file:///one" {
		t.Errorf("cached roots: %+v", out)
	}
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`)
	ask(4, "file:///two")

	plain := mustServer(t, WithTools(ToolRoots))
	p := startRawStdio(t, plain)
	p.initialize(t)
	p.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"roots","arguments":{}}}`)
	if msg := p.recv(t); msg["result"].(map[string]any)["isError"] != true {
		t.Errorf("a client without roots: %v", msg)
	}
}

func TestEnvTool(t *testing.T) {
	t.Setenv("MCPTEST_ENV_PROBE", "probe-value")
	srv := mustServer(t, WithTools(ToolEnv))
	r := startRawStdio(t, srv)
	r.initialize(t)
	r.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"env","arguments":{}}}`)
	res, _ := r.recv(t)["result"].(map[string]any)
	raw, _ := json.Marshal(res["structuredContent"])
	var out EnvOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if out.Env["MCPTEST_ENV_PROBE"] != "probe-value" || out.Env["PATH"] != os.Getenv("PATH") {
		t.Errorf("env tool: %v", out.Env)
	}
}
