package mcptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// TestConformanceInProcess runs the client checks against in-process
// servers over every transport this package serves.
func TestConformanceInProcess(t *testing.T) {
	tests := []struct {
		name      string
		transport string // "streamable", "sse" or "pipe"
		era       era
		// cancelReachesServer is false for SSE: mcp-go's SSE client does
		// not send notifications/cancelled.
		cancelReachesServer bool
	}{
		{"streamable http modern", "streamable", eraModern, true},
		{"streamable http legacy", "streamable", eraLegacy, true},
		{"sse legacy", "sse", eraLegacy, false},
		{"stdio pipe modern", "pipe", eraModern, true},
		{"stdio pipe legacy", "pipe", eraLegacy, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Every case gets its own server: list_changed changes the catalog.
			h := StartHTTP(t, WithName("inproc"))
			var connect func(*testing.T, *recorder) *client.Client
			switch tt.transport {
			case "streamable":
				connect = connectStreamable(h.URL, tt.era)
			case "sse":
				connect = connectSSE(h.SSEURL)
			case "pipe":
				connect = connectPipe(h.Server, tt.era)
			default:
				t.Fatalf("unknown transport %q", tt.transport)
			}
			runConformance(t, target{
				era:                 tt.era,
				connect:             connect,
				wantName:            "inproc",
				wantTools:           CoreTools(),
				server:              h.Server,
				cancelReachesServer: tt.cancelReachesServer,
			})
		})
	}
}

// connectPipe serves srv with ServeStdio over a pair of pipes and connects a
// client of the era to them. When the test ends the client closes its end,
// and ServeStdio must then return nil.
func connectPipe(srv *Server, e era) func(*testing.T, *recorder) *client.Client {
	return func(t *testing.T, rec *recorder) *client.Client {
		t.Helper()
		serverIn, clientOut := io.Pipe()
		clientIn, serverOut := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.ServeStdio(ctx, serverIn, serverOut) }()
		t.Cleanup(func() {
			defer cancel()
			// Registered before the client's cleanup, so this runs after
			// the client has closed its output: the server sees EOF. A
			// client process would also close its input when it exits; do
			// that too, or the server could block writing its last answers.
			_ = clientIn.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("ServeStdio at EOF = %v, want nil", err)
				}
			case <-time.After(testTimeout):
				t.Errorf("ServeStdio did not return at EOF")
				cancel()
				_ = serverOut.CloseWithError(errors.New("test over"))
				<-done
			}
			_ = serverOut.Close()
		})
		tr := transport.NewIO(clientIn, clientOut, nil)
		transport.WithCommandLogger(quietLogger)(tr) // NewIO takes no options
		c := client.NewClient(tr, e.clientOptions()...)
		return startClient(t, c, rec)
	}
}

// TestSchemasServedByteForByte checks that tools/list sends the stored raw
// schemas unchanged, which is what lets a gateway test compare bytes.
func TestSchemasServedByteForByte(t *testing.T) {
	h := StartHTTP(t)
	c := connectStreamable(h.URL, eraLegacy)(t, newRecorder())
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if _, err := c.Initialize(ctx, mcp.InitializeRequest{}); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(int64(1000)), Method: string(mcp.MethodToolsList),
	})
	if err != nil || resp.Error != nil {
		t.Fatalf("tools/list: %v %+v", err, resp)
	}
	var result struct {
		Tools []struct {
			Name         string          `json:"name"`
			InputSchema  json.RawMessage `json:"inputSchema"`
			OutputSchema json.RawMessage `json:"outputSchema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(resp.Result, &result); err != nil {
		t.Fatalf("decode tools/list: %v", err)
	}
	if len(result.Tools) != len(CoreTools()) {
		t.Fatalf("got %d tools, want %d", len(result.Tools), len(CoreTools()))
	}
	for _, served := range result.Tools {
		stored, ok := h.Server.Tool(served.Name)
		if !ok {
			t.Fatalf("served tool %q is not stored", served.Name)
		}
		if !bytes.Equal(served.InputSchema, stored.RawInputSchema) {
			t.Errorf("%s inputSchema served as\n%s\nstored as\n%s", served.Name, served.InputSchema, stored.RawInputSchema)
		}
		if !bytes.Equal(served.OutputSchema, stored.RawOutputSchema) {
			t.Errorf("%s outputSchema served as\n%s\nstored as\n%s", served.Name, served.OutputSchema, stored.RawOutputSchema)
		}
	}
}

// TestSchemasCompact pins the properties of the built-in schemas that the
// byte-for-byte promise relies on.
func TestSchemasCompact(t *testing.T) {
	srv := mustServer(t, WithControlTools())
	for _, name := range srv.ToolNames() {
		tool, _ := srv.Tool(name)
		for _, schema := range []json.RawMessage{tool.RawInputSchema, tool.RawOutputSchema} {
			if schema == nil {
				continue
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, schema); err != nil || !bytes.Equal(buf.Bytes(), schema) {
				t.Errorf("%s: schema is not compact JSON (%v): %s", name, err, schema)
			}
			if bytes.ContainsAny(schema, "<>&") {
				t.Errorf("%s: schema contains a character encoding/json escapes: %s", name, schema)
			}
		}
	}
}

// inProcessClient connects mcp-go's in-process transport to srv.
func inProcessClient(t *testing.T, srv *Server) *client.Client {
	t.Helper()
	c, err := client.NewInProcessClient(srv.MCP())
	if err != nil {
		t.Fatal(err)
	}
	startClient(t, c, newRecorder())
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if _, err := c.Initialize(ctx, mcp.InitializeRequest{}); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return c
}

func TestOptionsShapeTheCatalog(t *testing.T) {
	panicky := server.ServerTool{
		Tool:    mcp.NewTool("panics", mcp.WithDescription("Panics.")),
		Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { panic("boom") },
	}
	tests := []struct {
		name string
		opts []Option
		want []string
	}{
		{"default", nil, CoreTools()},
		{"subset", []Option{WithTools(ToolLarge, ToolEcho)}, []string{"echo", "large"}},
		{"no built-ins", []Option{WithTools()}, nil},
		{"prefix", []Option{WithToolPrefix("up1_"), WithTools(ToolEcho, ToolAdd)}, []string{"up1_add", "up1_echo"}},
		{"control tools", []Option{WithTools(ToolEcho), WithControlTools()}, []string{"control_add_tool", "control_remove_tool", "echo"}},
		{"generated", []Option{WithTools(), WithGeneratedTools(3), WithToolPrefix("p.")}, []string{"p.gen_00001", "p.gen_00002", "p.gen_00003"}},
		{"extra tools keep their names", []Option{WithTools(ToolEcho), WithToolPrefix("x_"), WithExtraTools(EchoTool("mine"), panicky)}, []string{"mine", "panics", "x_echo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(tt.opts...)
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			if got := srv.ToolNames(); !slices.Equal(got, tt.want) {
				t.Errorf("ToolNames = %q, want %q", got, tt.want)
			}
			if len(tt.want) == 0 {
				return
			}
			c := inProcessClient(t, srv)
			if got := listToolNames(t, t.Context(), c); !slices.Equal(got, tt.want) {
				t.Errorf("tools/list = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewServerRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name  string
		opts  []Option
		wants []string // substrings the error must contain
	}{
		{"empty name", []Option{WithName("")}, []string{"name: must not be empty"}},
		{"empty version", []Option{WithVersion("")}, []string{"version: must not be empty"}},
		{"unknown tool", []Option{WithTools("echo", "nope")}, []string{`unknown built-in tool "nope"`}},
		{"bad prefix", []Option{WithToolPrefix("a b")}, []string{`tool prefix "a b"`}},
		{"long prefix", []Option{WithToolPrefix(strings.Repeat("p", 120))}, []string{"exceed 128 characters"}},
		{"negative generated", []Option{WithGeneratedTools(-1)}, []string{"generated tools: -1"}},
		{"too many generated", []Option{WithGeneratedTools(MaxGeneratedTools + 1)}, []string{"generated tools"}},
		{"negative page size", []Option{WithPageSize(-2)}, []string{"page size: -2"}},
		{"nil handler", []Option{WithExtraTools(server.ServerTool{Tool: mcp.NewTool("x")})}, []string{"extra tools[0]", "handler is nil"}},
		{
			"all problems at once",
			[]Option{WithName(""), WithTools("nope"), WithPageSize(-1)},
			[]string{"name: must not be empty", `"nope"`, "page size"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(tt.opts...)
			if err == nil {
				t.Fatalf("NewServer = %v, want an error", srv)
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestAddAndRemoveToolsValidate(t *testing.T) {
	srv := mustServer(t, WithTools(ToolEcho))
	bothSchemas := EchoTool("both")
	bothSchemas.Tool.InputSchema.Type = "object"
	badJSON := EchoTool("badjson")
	badJSON.Tool.RawOutputSchema = json.RawMessage(`{"type":`)
	tests := []struct {
		name  string
		tools []server.ServerTool
		want  string
	}{
		{"empty name", []server.ServerTool{EchoTool("")}, `name ""`},
		{"bad characters", []server.ServerTool{EchoTool("has space")}, `name "has space"`},
		{"too long", []server.ServerTool{EchoTool(strings.Repeat("n", 129))}, "1 to 128 characters"},
		{"nil handler", []server.ServerTool{{Tool: mcp.NewTool("nohandler")}}, "handler is nil"},
		{"both input schemas", []server.ServerTool{bothSchemas}, "both InputSchema and RawInputSchema"},
		{"invalid output schema", []server.ServerTool{badJSON}, "RawOutputSchema is not valid JSON"},
		{"one bad tool blocks the batch", []server.ServerTool{EchoTool("fine"), EchoTool("")}, "tools[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := srv.AddTools(tt.tools...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AddTools error = %v, want it to contain %q", err, tt.want)
			}
			if got := srv.ToolNames(); !slices.Equal(got, []string{ToolEcho}) {
				t.Errorf("tools after a rejected AddTools = %q", got)
			}
		})
	}

	if err := srv.AddTools(EchoTool("extra"), EchoTool(ToolEcho)); err != nil {
		t.Fatalf("AddTools: %v", err)
	}
	if err := srv.RemoveTools("extra", "missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("RemoveTools with a missing name = %v, want an error naming it", err)
	}
	if got := srv.ToolNames(); !slices.Equal(got, []string{ToolEcho, "extra"}) {
		t.Errorf("tools after a rejected RemoveTools = %q, want nothing removed", got)
	}
	if err := srv.RemoveTools("extra"); err != nil {
		t.Errorf("RemoveTools: %v", err)
	}
	if err := srv.AddTools(); err != nil {
		t.Errorf("AddTools() = %v", err)
	}
	if err := srv.RemoveTools(); err != nil {
		t.Errorf("RemoveTools() = %v", err)
	}
}

// TestToolArgumentValidation checks that bad arguments give tool errors that
// say what is wrong, never protocol errors or panics.
func TestToolArgumentValidation(t *testing.T) {
	srv := mustServer(t, WithControlTools())
	c := inProcessClient(t, srv)
	tests := []struct {
		tool string
		args any
		want string
	}{
		{ToolEcho, nil, `"message" is required`},
		{ToolEcho, map[string]any{"message": 3}, `"message" must be a string, got number`},
		{ToolEcho, map[string]any{"message": "x", "extra": 1}, `unknown arguments ["extra"]`},
		{ToolEcho, []any{"not", "an", "object"}, "must be an object, got array"},
		{ToolAdd, map[string]any{"a": 1}, `"b" is required`},
		{ToolAdd, map[string]any{"a": "1", "b": 2}, `"a" must be a number, got string`},
		{ToolAdd, map[string]any{"a": 1.7e308, "b": 1.7e308}, "overflows"},
		{ToolSleep, map[string]any{"ms": 1.5}, `"ms" must be an integer`},
		{ToolSleep, map[string]any{"ms": -1}, "between 0 and 300000"},
		{ToolSleep, map[string]any{"ms": 1, "progress_interval_ms": 1}, "between 10 and 60000"},
		{ToolFail, map[string]any{"kind": "other"}, `must be one of ["tool" "protocol"]`},
		{ToolLarge, map[string]any{"bytes": MaxLargeBytes + 1}, "between 0 and 8388608"},
		{ToolImage, map[string]any{"color": "purple"}, `"color" must be one of`},
		{ToolStructured, map[string]any{}, `"query" is required`},
		{ToolStructured, map[string]any{"query": "text"}, `"query" must be an object, got string`},
		{ToolStructured, map[string]any{"query": map[string]any{"text": ""}}, "must not be empty"},
		{ToolStructured, map[string]any{"query": map[string]any{"text": "a", "limit": 11}}, "between 1 and 10"},
		{ToolStructured, map[string]any{"query": map[string]any{"text": "a", "x": 1}}, `query: unknown arguments ["x"]`},
		{ToolStructured, map[string]any{"query": map[string]any{"text": "a"}, "tags": []any{1}}, `"tags"[0] must be a string`},
		{ToolStructured, map[string]any{"query": map[string]any{"text": "a"}, "tags": slices.Repeat([]any{"t"}, 11)}, "at most 10"},
		{ToolControlAddTool, map[string]any{"name": "bad name"}, `name "bad name"`},
		{ToolControlRemoveTool, map[string]any{"name": "missing"}, "not served"},
	}
	for _, tt := range tests {
		t.Run(tt.tool+" "+tt.want, func(t *testing.T) {
			res, err := c.CallTool(t.Context(), mcp.CallToolRequest{Params: mcp.CallToolParams{Name: tt.tool, Arguments: tt.args}})
			if err != nil {
				t.Fatalf("call: %v, want a tool error", err)
			}
			if !res.IsError || !strings.Contains(onlyText(t, res), tt.want) {
				t.Errorf("result = %+v, want isError containing %q", res.Content, tt.want)
			}
		})
	}
}

func TestCallStatsAndRecovery(t *testing.T) {
	panicky := server.ServerTool{
		Tool:    mcp.NewTool("panics", mcp.WithDescription("Panics.")),
		Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { panic("boom") },
	}
	srv := mustServer(t, WithExtraTools(panicky))
	c := inProcessClient(t, srv)
	ctx := t.Context()
	for range 3 {
		mustCall(t, ctx, c, ToolEcho, map[string]any{"message": "hi"})
	}
	if _, err := callTool(ctx, c, "panics", nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panicking tool error = %v, want a JSON-RPC error mentioning the panic", err)
	}
	if _, err := callTool(ctx, c, "no_such_tool", nil); err == nil {
		t.Error("unknown tool: want an error")
	}
	mustCall(t, ctx, c, ToolEcho, map[string]any{"message": "still alive"})

	if got := srv.Calls(ToolEcho); got != 4 {
		t.Errorf("Calls(echo) = %d, want 4", got)
	}
	if got := srv.Calls("panics"); got != 1 {
		t.Errorf("Calls(panics) = %d, want 1", got)
	}
	if got := srv.Calls("no_such_tool"); got != 0 {
		t.Errorf("Calls(no_such_tool) = %d, want 0", got)
	}
	if got, want := srv.Stats(), (CallStats{Started: 5}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Errorf("WaitIdle on an idle server: %v", err)
	}
}

func TestPagination(t *testing.T) {
	srv := mustServer(t, WithTools(), WithGeneratedTools(25), WithPageSize(10))
	c := inProcessClient(t, srv)
	ctx := t.Context()
	var pages [][]string
	req := mcp.ListToolsRequest{}
	for {
		page, err := c.ListToolsByPage(ctx, req)
		if err != nil {
			t.Fatalf("tools/list page %d: %v", len(pages)+1, err)
		}
		var names []string
		for _, tool := range page.Tools {
			names = append(names, tool.Name)
		}
		pages = append(pages, names)
		if page.NextCursor == "" || len(pages) > 5 {
			break
		}
		req.Params.Cursor = page.NextCursor
	}
	if len(pages) != 3 || len(pages[0]) != 10 || len(pages[1]) != 10 || len(pages[2]) != 5 {
		t.Fatalf("pages = %q, want 10, 10 and 5 tools", pages)
	}
	if all := slices.Concat(pages...); !slices.Equal(all, srv.ToolNames()) || all[24] != "gen_00025" {
		t.Errorf("paged tools = %q, want every generated tool in order", all)
	}
}

func TestHelpers(t *testing.T) {
	for _, n := range []int{-5, 0, 1, 36, 37, 38, 1000} {
		text := LargeText(n)
		if want := max(n, 0); len(text) != want {
			t.Errorf("LargeText(%d) has %d bytes, want %d", n, len(text), want)
		}
	}
	if got := len(LargeText(MaxLargeBytes + 10)); got != MaxLargeBytes {
		t.Errorf("LargeText above the maximum has %d bytes, want %d", got, MaxLargeBytes)
	}
	for _, colour := range []string{"red", "green", "blue"} {
		if data, err := ImagePNG(colour); err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
			t.Errorf("ImagePNG(%q) = %d bytes, %v", colour, len(data), err)
		}
	}
	if _, err := ImagePNG("mauve"); err == nil {
		t.Error("ImagePNG(mauve): want an error")
	}
	srv := mustServer(t, WithToolPrefix("p_"), WithName("n"), WithVersion("v"))
	if srv.ToolName(ToolEcho) != "p_echo" || srv.Name() != "n" || srv.Version() != "v" {
		t.Errorf("ToolName/Name/Version = %q %q %q", srv.ToolName(ToolEcho), srv.Name(), srv.Version())
	}
	if _, ok := srv.Tool("echo"); ok {
		t.Error("Tool(echo) found an unprefixed tool")
	}
}

// TestPromptErrors checks the greet prompt's argument handling.
func TestPromptErrors(t *testing.T) {
	srv := mustServer(t)
	c := inProcessClient(t, srv)
	for _, args := range []map[string]string{{}, {"name": "Ada", "style": "shouty"}} {
		if _, err := c.GetPrompt(t.Context(), mcp.GetPromptRequest{Params: mcp.GetPromptParams{Name: PromptGreet, Arguments: args}}); err == nil {
			t.Errorf("greet with %v: want an error", args)
		}
	}
	res, err := c.GetPrompt(t.Context(), mcp.GetPromptRequest{Params: mcp.GetPromptParams{Name: PromptGreet, Arguments: map[string]string{"name": "Bo"}}})
	if err != nil {
		t.Fatalf("greet: %v", err)
	}
	if text, _ := mcp.AsTextContent(res.Messages[0].Content); text == nil || !strings.Contains(text.Text, "Say hi to Bo") {
		t.Errorf("casual greet = %+v", res.Messages)
	}
}
