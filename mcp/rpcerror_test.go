package mcp

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/junctionhq/junction/registry/mcptest"
)

// rpcErrorReply is an HTTP answer that must be a JSON-RPC error.
type rpcErrorReply struct {
	status int
	ct     string
	body   rpcError
	raw    string
}

// send makes a request with key and headers and decodes the answer.
func send(t *testing.T, method, url, key, body string, headers map[string]string) rpcErrorReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := rpcErrorReply{status: resp.StatusCode, ct: resp.Header.Get("Content-Type"), raw: string(b)}
	_ = json.Unmarshal(b, &out.body)
	return out
}

// check asserts that r is a JSON-RPC error with status, id (raw JSON) and
// a message containing want.
func (r rpcErrorReply) check(t *testing.T, what string, status int, id, want string) {
	t.Helper()
	if r.status != status || !strings.HasPrefix(r.ct, "application/json") || r.body.JSONRPC != "2.0" ||
		string(r.body.ID) != id || r.body.Error.Code == 0 || !strings.Contains(r.body.Error.Message, want) {
		t.Errorf("%s: %d %s %s; want %d, a JSON-RPC error with id %s saying %q", what, r.status, r.ct, r.raw, status, id, want)
	}
}

// TestMCPErrorsAreJSONRPC: the errors /mcp, /mcp/{toolset} and the SSE
// transport answer themselves (an unknown toolset, another key's SSE
// session) and those of the transport underneath (a wrong Content-Type)
// are JSON-RPC error objects with the request's id (null when none is
// known) and the right HTTP status, not plain text.
func TestMCPErrorsAreJSONRPC(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	list := `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`

	send(t, http.MethodPost, f.url+"/mcp/nope", f.all, list, nil).check(t, "POST to an unknown toolset", http.StatusNotFound, "7", `unknown toolset "nope"`)
	send(t, http.MethodPost, f.url+"/mcp/nope", f.all, `{"jsonrpc":"2.0","id":"a-1","method":"tools/list"}`, nil).
		check(t, "string id", http.StatusNotFound, `"a-1"`, `unknown toolset "nope"`)
	send(t, http.MethodGet, f.url+"/mcp/nope", f.all, "", nil).check(t, "GET of an unknown toolset", http.StatusNotFound, "null", `unknown toolset "nope"`)
	send(t, http.MethodPost, f.url+"/mcp", f.all, list, map[string]string{"Content-Type": "text/plain"}).
		check(t, "a text/plain body", http.StatusBadRequest, "7", "application/json")

	sse, err := client.NewSSEMCPClient(f.url+SSEPath, transport.WithHeaders(map[string]string{"Authorization": "Bearer " + f.all}))
	if err != nil {
		t.Fatal(err)
	}
	mcptest.StartClient(t, sse)
	sid := client.GetEndpoint(sse).Query().Get("sessionId")
	send(t, http.MethodPost, f.url+SSEMessagePath+"?sessionId="+sid, f.read, list, nil).
		check(t, "another key's SSE session", http.StatusForbidden, "7", "belongs to another key")

	// A refused resources/subscribe on SSE (whose answers travel on the
	// stream) is the POST's error, as a JSON-RPC error too.
	_, _, url, key := newSubscribingFixture(t, Options{})
	base := strings.TrimSuffix(url, "/mcp")
	sub, err := client.NewSSEMCPClient(base+SSEPath, transport.WithHeaders(map[string]string{"Authorization": "Bearer " + key}))
	if err != nil {
		t.Fatal(err)
	}
	mcptest.StartClient(t, sub)
	sid = client.GetEndpoint(sub).Query().Get("sessionId")
	send(t, http.MethodPost, base+SSEMessagePath+"?sessionId="+sid, key, `{"jsonrpc":"2.0","id":3,"method":"resources/subscribe","params":{"uri":""}}`, nil).
		check(t, "a refused subscription on SSE", http.StatusForbidden, "3", "uri is required")
}

// TestMCPBatchRefusedClearly: a JSON-RPC batch (a JSON array body) is
// answered with a JSON-RPC error saying batches are not supported, on
// every MCP endpoint and whatever protocol revision the client declares.
func TestMCPBatchRefusedClearly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	batch := " \n[" + `{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"prompts/list"}]`
	for _, tc := range []struct {
		name, url string
		headers   map[string]string
		want      string
	}{
		{"/mcp", f.url + "/mcp", nil, "batches are not supported by Junction"},
		{"/mcp/{toolset}", f.url + "/mcp/readonly", nil, "removed batching in protocol revision 2025-06-18"},
		{"/mcp, 2025-11-25", f.url + "/mcp", map[string]string{"MCP-Protocol-Version": legacyEra}, "batches are not supported by Junction"},
		{"/mcp, 2025-03-26", f.url + "/mcp", map[string]string{"MCP-Protocol-Version": "2025-03-26"}, "although protocol revision 2025-03-26 allows them"},
		{"SSE", f.url + SSEMessagePath + "?sessionId=x", nil, "batches are not supported by Junction"},
	} {
		send(t, http.MethodPost, tc.url, f.all, batch, tc.headers).check(t, tc.name, http.StatusBadRequest, "null", tc.want)
	}
	// One request still works.
	c := connect(t, f.url+"/mcp", f.all, legacyEra)
	if len(mcptest.ToolNames(t, c)) == 0 {
		t.Error("no tools after the batch refusals")
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"jsonrpc":"2.0","id":7,"method":"x"}`:        "7",
		`{"jsonrpc":"2.0","id":"s","method":"x"}`:      `"s"`,
		`{"jsonrpc":"2.0","method":"notifications/x"}`: "",
		`{"jsonrpc":"2.0","id":null,"method":"x"}`:     "",
		`{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`:  "",
		`{"jsonrpc":"2.0","id":7,"result":{}}`:         "",
		`[{"jsonrpc":"2.0","id":7,"method":"x"}]`:      "",
		`not json`: "",
	} {
		if got := string(requestID([]byte(body))); got != want {
			t.Errorf("requestID(%s) = %q, want %q", body, got, want)
		}
	}
}
