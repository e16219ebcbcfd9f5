package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
	"github.com/junctionhq/junction/store"
)

// The two MCP protocol eras Junction serves on /mcp.
var mcpEras = []string{"2025-11-25", "2026-07-28"}

// toolserverBuild is examples/toolserver, built once for the package's tests.
var toolserverBuild = testkit.NewBinary("./examples/toolserver")

func toolserverBin(t *testing.T) string {
	t.Helper()
	return toolserverBuild.Path(t)
}

type mcpSetup struct {
	gw      *testGateway
	web     *mcptest.HTTPServer
	bin     string
	all     string // a key that may use every tool
	limited string // a key that may use web/* only
}

// startMCP is a gateway federating a stdio upstream (the example tool
// server), a streamable-HTTP one (mcptest in-process), one with a very long
// name, and one that is down.
func startMCP(t *testing.T) *mcpSetup {
	t.Helper()
	bin := toolserverBin(t)
	web := mcptest.StartHTTP(t, mcptest.WithName("web"))
	long := mcptest.StartHTTP(t, mcptest.WithName("long"), mcptest.WithToolPrefix(strings.Repeat("very_long_tool_name_", 3)))
	webTimeout := registry.Duration(700 * time.Millisecond)
	start := time.Now()
	gw := startGateway(t, func(c *Config) {
		c.Servers = []registry.ServerConfig{
			{Name: "local", Transport: registry.TransportStdio, Command: bin, Args: []string{"--stdio"}},
			{Name: "web", Transport: registry.TransportStreamableHTTP, URL: web.URL, Timeout: webTimeout},
			{Name: strings.Repeat("a-very-long-server-name-", 2), Transport: registry.TransportStreamableHTTP, URL: long.URL},
			{Name: "dead", Transport: registry.TransportStreamableHTTP, URL: "http://127.0.0.1:9/mcp"},
		}
		c.Toolsets = []mcp.ToolsetConfig{{Name: "readonly", Tools: []string{"web/echo"}}}
	})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("start-up took %v: it waited on an upstream", d)
	}
	_, all, err := gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "all"})
	if err != nil {
		t.Fatal(err)
	}
	_, limited, err := gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "limited", Tools: []string{"web/*"}})
	if err != nil {
		t.Fatal(err)
	}
	return &mcpSetup{gw: gw, web: web, bin: bin, all: all, limited: limited}
}

func mcpConnect(t *testing.T, url, key, era string) *client.Client {
	t.Helper()
	return mcptest.ConnectStreamable(t, url, era, []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key})})
}

func has(names []string, want string) bool {
	for _, n := range names {
		if n == want {
			return true
		}
	}
	return false
}

func hasPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

func TestMCPFederationBothEras(t *testing.T) {
	s := startMCP(t)
	for _, era := range mcpEras {
		t.Run(era, func(t *testing.T) {
			c := mcpConnect(t, s.gw.URL+"/mcp", s.all, era)
			testkit.Eventually(t, 15*time.Second, "the three live upstreams' tools", func() bool {
				names := mcptest.ToolNames(t, c)
				return has(names, "local__add") && has(names, "web__echo") && hasPrefix(names, "a-very-long-server-name-")
			})
			names := mcptest.ToolNames(t, c)
			for _, n := range names {
				if len(n) > mcp.MaxNameLen || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
					t.Errorf("public name %q is not within 64 characters of [A-Za-z0-9_.-]", n)
				}
				if strings.HasPrefix(n, "dead") {
					t.Errorf("the dead upstream lists %q", n)
				}
			}
			if !hasPrefix(names, "a-very-long-server-name-") {
				t.Errorf("long-named server's tools missing: %v", names)
			}
			if r := mcptest.CallTool(t, c, "web__echo", map[string]any{"message": "hi through junction"}); r.IsError || mcptest.ResultText(r) != "hi through junction" {
				t.Errorf("web__echo: %+v", r)
			}
			if r := mcptest.CallTool(t, c, "local__add", map[string]any{"a": 2, "b": 40}); r.IsError || !strings.Contains(mcptest.ResultText(r), "42") {
				t.Errorf("local__add: %+v", r)
			}
			// The limited key sees and may call only web's tools.
			lc := mcpConnect(t, s.gw.URL+"/mcp", s.limited, era)
			lnames := mcptest.ToolNames(t, lc)
			if !has(lnames, "web__echo") || hasPrefix(lnames, "local__") {
				t.Errorf("limited key lists %v", lnames)
			}
			if r := mcptest.CallTool(t, lc, "local__add", map[string]any{"a": 1, "b": 1}); !r.IsError {
				t.Errorf("a denied call succeeded: %+v", r)
			}
			// The toolset endpoint shows its subset only.
			tc := mcpConnect(t, s.gw.URL+"/mcp/readonly", s.all, era)
			if got := mcptest.ToolNames(t, tc); len(got) != 1 || got[0] != "web__echo" {
				t.Errorf("toolset lists %v", got)
			}
		})
	}
	_, m := get(t, s.gw.URL+"/metrics")
	for _, want := range []string{`junction_mcp_upstream_state{server="web",state="ready"} 1`, `junction_mcp_upstream_state{server="dead",state="ready"} 0`,
		`junction_mcp_tool_calls_total{outcome="ok",server="web",tool="echo"}`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Every call is recorded.
	_ = s.gw.Policy().FlushUsage(context.Background())
	k, _ := s.gw.Policy().Key("all")
	rows, _ := s.gw.Policy().Usage(context.Background(), storeUsageByTool(k.ID))
	if len(rows) == 0 {
		t.Error("no tool-call usage recorded")
	}
}

func TestMCPHangingUpstreamTimesOut(t *testing.T) {
	s := startMCP(t)
	c := mcpConnect(t, s.gw.URL+"/mcp", s.all, mcpEras[0])
	testkit.Eventually(t, 15*time.Second, "web's tools", func() bool { return has(mcptest.ToolNames(t, c), "web__sleep") })
	start := time.Now()
	r := mcptest.CallTool(t, c, "web__sleep", map[string]any{"ms": 60000})
	if !r.IsError || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %+v", time.Since(start), r)
	}
	// The upstream still works.
	if r := mcptest.CallTool(t, c, "web__echo", map[string]any{"message": "still here"}); r.IsError || mcptest.ResultText(r) != "still here" {
		t.Errorf("after the timeout: %+v", r)
	}
}

func TestMCPStdioUpstreamKilled(t *testing.T) {
	s := startMCP(t)
	c := mcpConnect(t, s.gw.URL+"/mcp", s.all, mcpEras[0])
	changed := make(chan struct{}, 16)
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == "notifications/tools/list_changed" {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	})
	testkit.Eventually(t, 15*time.Second, "local's tools", func() bool { return has(mcptest.ToolNames(t, c), "local__add") })
	pid := findProcess(t, s.bin)
	drain(changed)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "local's tools to vanish", func() bool { return !has(mcptest.ToolNames(t, c), "local__add") })
	// The others keep working meanwhile.
	if r := mcptest.CallTool(t, c, "web__echo", map[string]any{"message": "unaffected"}); r.IsError {
		t.Errorf("web while local is down: %+v", r)
	}
	testkit.Eventually(t, 20*time.Second, "local to be restarted", func() bool { return has(mcptest.ToolNames(t, c), "local__add") })
	if findProcess(t, s.bin) == pid {
		t.Error("the same process is still there")
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Error("no tools/list_changed reached the client")
	}
	if r := mcptest.CallTool(t, c, "local__add", map[string]any{"a": 1, "b": 2}); r.IsError || !strings.Contains(mcptest.ResultText(r), "3") {
		t.Errorf("local after restart: %+v", r)
	}
}

func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// findProcess returns the pid of the running process whose command is bin.
func findProcess(t *testing.T, bin string) int {
	t.Helper()
	var pid int
	testkit.Eventually(t, 10*time.Second, "the stdio upstream's process", func() bool {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			var n int
			if _, err := fmt.Sscanf(e.Name(), "%d", &n); err != nil {
				continue
			}
			cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !strings.HasPrefix(string(cmd), bin+"\x00") {
				continue
			}
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(stat), ") Z ") {
				continue // a zombie not reaped yet
			}
			pid = n
			return true
		}
		return false
	})
	return pid
}

func storeUsageByTool(keyID string) store.UsageQuery {
	return store.UsageQuery{KeyID: keyID, Kind: "tool", GroupBy: "tool"}
}

// TestMCPProgressAndCancellation: the upstream's progress reaches the caller
// under the caller's own token, and a cancelled call stops upstream.
func TestMCPProgressAndCancellation(t *testing.T) {
	s := startMCP(t)
	c := mcpConnect(t, s.gw.URL+"/mcp", s.all, mcpEras[0])
	testkit.Eventually(t, 15*time.Second, "local's tools", func() bool { return has(mcptest.ToolNames(t, c), "local__sleep") })
	progress := make(chan mcpgo.JSONRPCNotification, 64)
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			select {
			case progress <- n:
			default:
			}
		}
	})
	req := mcpgo.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "local__sleep", map[string]any{"ms": 300}
	req.Params.Meta = &mcpgo.Meta{ProgressToken: "caller-token-7"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := c.CallTool(ctx, req); err != nil || r.IsError {
		t.Fatalf("sleep: %v %+v", err, r)
	}
	select {
	case n := <-progress:
		if tok := fmt.Sprint(n.Params.AdditionalFields["progressToken"]); tok != "caller-token-7" {
			t.Errorf("progress token %q", tok)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no progress notification reached the caller")
	}
	// Cancellation: the client gives up on a long call; the call ends promptly
	// and the upstream keeps serving.
	cctx, ccancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer ccancel()
	req.Params.Arguments = map[string]any{"ms": 60000}
	start := time.Now()
	_, err := c.CallTool(cctx, req)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("cancelled call: %v after %v", err, time.Since(start))
	}
	if r := mcptest.CallTool(t, c, "local__add", map[string]any{"a": 1, "b": 1}); r.IsError {
		t.Errorf("after cancellation: %+v", r)
	}
}

// TestMCPStandardHeadersMustMatchTheBody: a 2026-07-28 request whose
// Mcp-Method header disagrees with its body is refused.
func TestMCPStandardHeadersMustMatchTheBody(t *testing.T) {
	s := startMCP(t)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}}}`
	send := func(method string) int {
		req := mustRequest(t, "POST", s.gw.URL+"/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.all)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", method)
		resp, _ := do(t, req)
		return resp.StatusCode
	}
	if got := send("tools/list"); got != 200 {
		t.Fatalf("matching headers: %d", got)
	}
	if got := send("tools/call"); got != 400 {
		t.Errorf("Mcp-Method tools/call on a tools/list body: %d, want 400", got)
	}
}
