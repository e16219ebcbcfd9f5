package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

const testTimeout = 15 * time.Second

func TestRunRejectsBadCommandLines(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no mode", nil, exitUsage, "exactly one of --stdio and --listen"},
		{"both modes", []string{"--stdio", "--listen", "127.0.0.1:0"}, exitUsage, "exactly one of"},
		{"positional argument", []string{"--stdio", "extra"}, exitUsage, `unexpected arguments ["extra"]`},
		{"unknown flag", []string{"--nope"}, exitUsage, "flag provided but not defined"},
		{"unknown tool", []string{"--stdio", "--tools", "echo,nope"}, exitUsage, `unknown built-in tool "nope"`},
		{"bad prefix", []string{"--stdio", "--prefix", "a b"}, exitUsage, "tool prefix"},
		{"bad shutdown timeout", []string{"--stdio", "--shutdown-timeout", "0s"}, exitUsage, "--shutdown-timeout"},
		{"remote listen", []string{"--listen", "0.0.0.0:0"}, exitUsage, "pass --allow-remote"},
		{"all interfaces", []string{"--listen", ":0"}, exitUsage, "pass --allow-remote"},
		{"help", []string{"--help"}, exitOK, "Usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(t.Context(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.wantCode, tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

// TestRunStdio feeds a whole session on stdin and checks the JSON-RPC
// answers on stdout; logs must go to stderr only.
func TestRunStdio(t *testing.T) {
	stdin := strings.NewReader(strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
	}, "\n") + "\n")
	var stdout, stderr strings.Builder
	code := run(t.Context(), []string{"--stdio", "--name", "piped", "--tools", "echo,add", "--prefix", "t_"}, stdin, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("run = %d, stderr:\n%s", code, stderr.String())
	}
	answers := map[float64]map[string]any{}
	for line := range strings.Lines(stdout.String()) {
		var msg map[string]any
		if err := json.Unmarshal([]byte(line), &msg); err != nil {
			t.Fatalf("stdout line is not JSON-RPC: %q", line)
		}
		id, _ := msg["id"].(float64)
		answers[id] = msg
	}
	info := answers[1]["result"].(map[string]any)["serverInfo"].(map[string]any)
	if info["name"] != "piped" {
		t.Errorf("serverInfo = %v, want name piped", info)
	}
	var names []string
	for _, tool := range answers[2]["result"].(map[string]any)["tools"].([]any) {
		names = append(names, tool.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "t_add,t_echo" {
		t.Errorf("tools = %q, want t_add and t_echo", names)
	}
	if !strings.Contains(stderr.String(), "serving MCP over stdio") || !strings.Contains(stderr.String(), "stdio server stopped") {
		t.Errorf("stderr lacks the start and stop logs:\n%s", stderr.String())
	}
}

var mcpURLPattern = regexp.MustCompile(`mcp_url=(\S+)`)

// TestRunHTTP serves on a free loopback port, makes a call with a real
// client, then cancels the context as SIGTERM would and expects a graceful
// stop with status 0.
func TestRunHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs, logWriter := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--listen", "127.0.0.1:0", "--generated-tools", "2"}, strings.NewReader(""), io.Discard, logWriter)
		_ = logWriter.Close()
	}()

	// Read the logs until the server says where it listens, and keep
	// draining them afterwards so that run never blocks on stderr.
	urls := make(chan string, 1)
	var stderr strings.Builder
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		scanner := bufio.NewScanner(logs)
		for scanner.Scan() {
			stderr.WriteString(scanner.Text() + "\n")
			if m := mcpURLPattern.FindStringSubmatch(scanner.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(testTimeout):
		t.Fatal("server did not log its URL")
	}

	httpTransport := &http.Transport{}
	defer httpTransport.CloseIdleConnections()
	tr, err := transport.NewStreamableHTTP(url,
		transport.WithHTTPBasicClient(&http.Client{Transport: httpTransport}),
		transport.WithHTTPLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	callCtx, cancelCall := context.WithTimeout(ctx, testTimeout)
	defer cancelCall()
	if err := c.Start(callCtx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(callCtx, mcp.InitializeRequest{}); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	tools, err := c.ListTools(callCtx, mcp.ListToolsRequest{})
	if err != nil || len(tools.Tools) != 9 {
		t.Fatalf("tools/list = %v, %v; want 7 built-in and 2 generated tools", tools, err)
	}
	res, err := c.CallTool(callCtx, mcp.CallToolRequest{Params: mcp.CallToolParams{
		Name: "gen_00002", Arguments: map[string]any{"message": "over http"},
	}})
	if err != nil || mcp.GetTextFromContent(res.Content[0]) != "over http" {
		t.Fatalf("call gen_00002 = %+v, %v", res, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close client: %v", err)
	}

	cancel()
	select {
	case got := <-code:
		if got != exitOK {
			t.Errorf("run = %d after cancel, want %d", got, exitOK)
		}
	case <-time.After(testTimeout):
		t.Fatal("run did not return after its context was cancelled")
	}
	<-logsDone
	if !strings.Contains(stderr.String(), "http server stopped") {
		t.Errorf("stderr lacks the stop log:\n%s", stderr.String())
	}
}
