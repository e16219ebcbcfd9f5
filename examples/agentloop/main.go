// Command agentloop shows Junction's agent loop end to end, offline: a chat
// completion that names MCP tools, answered by Junction running the tool
// calls itself.
//
//	go build -o bin/junction ./cmd/junction
//	go build -o bin/toolserver ./examples/toolserver
//	go run ./examples/agentloop --junction bin/junction --toolserver bin/toolserver
//
// It starts the llmtest mock provider in-process with a script (the model
// first calls two tools in parallel, then answers from their results), writes
// a Junction configuration that federates the example tool server over stdio,
// runs `junction serve` on it, and sends the same question twice: once
// non-streamed, printing the answer and Junction's account of the steps, and
// once streamed, printing the stream's events as they arrive. See README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/llmtest"
)

const (
	adminKey = "agentloop-admin-key-0123456789"
	demoKey  = "jk-agentloop-demo-key-0123456789"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the program: 0 when the loop answered, 1 on a failure, 2 on bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentloop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	junction := fs.String("junction", "junction", "the junction binary")
	toolserver := fs.String("toolserver", "toolserver", "the example tool server binary (examples/toolserver)")
	keep := fs.Bool("keep", false, "keep Junction running after the demo, until interrupted")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := demo(ctx, *junction, *toolserver, *keep, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "agentloop:", err)
		return 1
	}
	return 0
}

// script is what the mock model does: two parallel tool calls, then the
// answer. Turns are chosen by how many rounds of tool results a request
// carries, so the streamed run replays it from the start.
var script = []llmtest.Turn{
	{Text: "Let me compute that and echo the note.", ToolCalls: []llmtest.ToolCall{
		llmtest.Call("tools__add", map[string]any{"a": 2, "b": 3}),
		llmtest.Call("tools__echo", map[string]any{"message": "computed by Junction's agent loop"}),
	}},
	llmtest.TextTurn("2 + 3 = 5, and the echo tool said: computed by Junction's agent loop."),
}

func demo(ctx context.Context, junctionBin, toolserverBin string, keep bool, stdout, stderr io.Writer) error {
	for _, bin := range []*string{&junctionBin, &toolserverBin} {
		p, err := exec.LookPath(*bin)
		if err != nil {
			return fmt.Errorf("%s: %w (build it first, see README.md)", *bin, err)
		}
		if *bin, err = filepath.Abs(p); err != nil {
			return err
		}
	}
	mock := llmtest.NewServer()
	defer mock.Close()
	if err := mock.SetDefault(llmtest.Behavior{Script: script, ScriptMode: llmtest.ScriptByToolResults,
		ChunkDelay: 20 * time.Millisecond}); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "agentloop-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	config := fmt.Sprintf(`listen: %s
data_dir: %s
admin_key: %s
providers:
  - name: mock
    type: openai
    base_url: %s/v1
    keys: [{ value: sk-mock }]
models:
  - name: demo
    targets: [{ model: mock/gpt-4o-mini }]
servers:
  - name: tools
    transport: stdio
    command: %s
    args: ["--stdio"]
keys:
  - { name: demo, value: %s }
agent:
  max_iterations: 5
  tool_timeout: 10s
`, addr, filepath.Join(dir, "data"), adminKey, mock.URL, toolserverBin, demoKey)
	cfgPath := filepath.Join(dir, "junction.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config:\n%s\n", indent(config))

	cmd := exec.CommandContext(ctx, junctionBin, "serve", "--config", cfgPath, "--log-format", "json")
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return err
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	defer stop()
	base := "http://" + addr
	if err := waitForTools(ctx, base); err != nil {
		return fmt.Errorf("%w\njunction's log:\n%s", err, logs)
	}

	question := `{"model":"demo","messages":[{"role":"user","content":"What is 2 + 3? Also echo a note."}],
	 "tools":[{"type":"mcp","server_label":"tools","allowed_tools":["add","echo"],"require_approval":"never"}]`
	fmt.Fprintln(stdout, "== non-streamed ==")
	if err := complete(ctx, base, question+`}`, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n== streamed ==")
	if err := stream(ctx, base, question+`,"stream":true}`, stdout); err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(stdout, "\nJunction keeps running on %s (key %s); interrupt to stop.\n", base, demoKey)
		_ = cmd.Wait()
	}
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitForTools waits until Junction is up and lists the tool server's tools.
func waitForTools(ctx context.Context, base string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/v1/servers/tools/tools", nil)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"add"`)) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("junction did not list the tool server's tools within 60s")
}

func post(ctx context.Context, base, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+demoKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("POST /v1/chat/completions: %d %s", resp.StatusCode, b)
	}
	return resp, nil
}

func complete(ctx context.Context, base, body string, out io.Writer) error {
	resp, err := post(ctx, base, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var v struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
		Junction struct {
			Iterations int    `json:"iterations"`
			StopReason string `json:"stop_reason"`
			ToolCalls  []struct {
				Iteration  int     `json:"iteration"`
				Name       string  `json:"name"`
				Status     string  `json:"status"`
				DurationMs float64 `json:"duration_ms"`
			} `json:"tool_calls"`
		} `json:"junction"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return err
	}
	if len(v.Choices) != 1 {
		return errors.New("no choice in the response")
	}
	for _, c := range v.Junction.ToolCalls {
		fmt.Fprintf(out, "step %d: %s → %s (%.1f ms)\n", c.Iteration, c.Name, c.Status, c.DurationMs)
	}
	fmt.Fprintf(out, "answer: %s\n", v.Choices[0].Message.Content)
	fmt.Fprintf(out, "finish_reason: %s, iterations: %s (stop: %s), usage: %d+%d tokens\n", v.Choices[0].FinishReason,
		resp.Header.Get("X-Junction-Iterations"), resp.Header.Get("X-Junction-Stop-Reason"), v.Usage.PromptTokens, v.Usage.CompletionTokens)
	return nil
}

// stream prints the stream's events: text as it arrives, tool calls,
// Junction's tool-result comments and the end.
func stream(ctx context.Context, base, body string, out io.Writer) error {
	resp, err := post(ctx, base, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ": junction."):
			fmt.Fprintf(out, "\n[%s]\n", strings.TrimPrefix(line, ": "))
		case line == "data: [DONE]":
			fmt.Fprintln(out, "\n[DONE]")
		case strings.HasPrefix(line, "data: "):
			var c struct {
				Choices []struct {
					Delta struct {
						Content   string `json:"content"`
						ToolCalls []struct {
							Function struct {
								Name      string `json:"name"`
								Arguments string `json:"arguments"`
							} `json:"function"`
						} `json:"tool_calls"`
					} `json:"delta"`
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &c); err != nil {
				return fmt.Errorf("stream: %v: %s", err, line)
			}
			for _, ch := range c.Choices {
				fmt.Fprint(out, ch.Delta.Content)
				for _, tc := range ch.Delta.ToolCalls {
					if tc.Function.Name != "" {
						fmt.Fprintf(out, "\n<call %s> ", tc.Function.Name)
					}
					fmt.Fprint(out, tc.Function.Arguments)
				}
				if ch.FinishReason != nil {
					fmt.Fprintf(out, "\n<finish_reason %s>", *ch.FinishReason)
				}
			}
		}
	}
	return sc.Err()
}
