package llmtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
)

// observedTurn is one assistant answer as a client saw it.
type observedTurn struct {
	text   string
	calls  []ToolCall
	finish string
}

// testScript has parallel calls, a call whose arguments stream in many pieces
// (with multi-byte characters), and a final text.
var testScript = []Turn{
	ToolTurn(
		Call("get_weather", map[string]string{"city": "Paris"}),
		ToolCall{ID: "fixed-id", Name: "get_time", Arguments: `{"tz": "Europe/Paris"}`},
	),
	{Text: "Let me look that up.", ToolCalls: []ToolCall{
		Call("lookup", map[string]any{"q": "a long argument with ünïcödé characters, split into pieces", "n": 3}),
	}},
	TextTurn("It is sunny in Paris."),
}

// runAgentLoop plays a client that answers every tool call with a result until the
// assistant sends a final message (at most maxTurns requests).
func runAgentLoop(t *testing.T, m *Mock, f format, stream bool) []observedTurn {
	t.Helper()
	const maxTurns = 6
	var turns []observedTurn
	var messages []any
	messages = append(messages, map[string]any{"role": "user", "content": "What is the weather in Paris?"})
	for range maxTurns {
		req := map[string]any{"model": "m", "messages": messages, "stream": stream}
		if f == anthropic {
			req["max_tokens"] = 1000
		}
		body, _ := json.Marshal(req)
		rec := serve(m, newRequest(t.Context(), f, "", "", testKey, string(body)))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s stream=%v turn %d: status %d: %s", f, stream, len(turns), rec.Code, rec.Body)
		}
		var turn observedTurn
		switch f {
		case openAI:
			if stream {
				s, err := readOpenAIStream(rec.Body)
				if err != nil {
					t.Fatalf("stream: %v", err)
				}
				turn.text, turn.finish = s.Content, s.FinishReason
				for _, tc := range s.ToolCalls {
					if tc.Type != "function" {
						t.Errorf("tool call type %q", tc.Type)
					}
					turn.calls = append(turn.calls, ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
				}
			} else {
				var c oaCompletion
				decodeJSON(t, rec.Body.Bytes(), &c)
				msg := c.Choices[0].Message
				if msg.Content != nil {
					turn.text = *msg.Content
				}
				turn.finish = c.Choices[0].FinishReason
				for _, tc := range msg.ToolCalls {
					turn.calls = append(turn.calls, ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
				}
			}
			var toolCalls []any
			for _, c := range turn.calls {
				toolCalls = append(toolCalls, map[string]any{"id": c.ID, "type": "function",
					"function": map[string]any{"name": c.Name, "arguments": c.Arguments}})
			}
			assistant := map[string]any{"role": "assistant", "content": nil}
			if turn.text != "" {
				assistant["content"] = turn.text
			}
			if len(toolCalls) > 0 {
				assistant["tool_calls"] = toolCalls
			}
			messages = append(messages, assistant)
			for _, c := range turn.calls {
				messages = append(messages, map[string]any{"role": "tool", "tool_call_id": c.ID, "content": "result of " + c.Name})
			}
		case anthropic:
			msg := readAnthropicMessage(t, rec.Body, stream)
			turn.finish = msg.StopReason
			var results []any
			for _, b := range msg.Content {
				switch b.Type {
				case "text":
					turn.text += b.Text
				case "tool_use":
					turn.calls = append(turn.calls, ToolCall{ID: b.ID, Name: b.Name, Arguments: string(b.Input)})
					results = append(results, map[string]any{"type": "tool_result", "tool_use_id": b.ID,
						"content": []any{map[string]any{"type": "text", "text": "result of " + b.Name}}})
				}
			}
			messages = append(messages, map[string]any{"role": "assistant", "content": msg.Content})
			if len(results) > 0 {
				messages = append(messages, map[string]any{"role": "user", "content": results})
			}
		}
		turns = append(turns, turn)
		if len(turn.calls) == 0 {
			return turns
		}
	}
	t.Fatalf("%s stream=%v: no final message after %d turns", f, stream, maxTurns)
	return nil
}

// checkScriptedTurns asserts that the client saw testScript.
func checkScriptedTurns(t *testing.T, f format, got []observedTurn) {
	t.Helper()
	if len(got) != len(testScript) {
		t.Fatalf("%d turns, want %d: %+v", len(got), len(testScript), got)
	}
	wantFinish := map[bool]string{true: "tool_calls", false: "stop"}
	idPrefix := "call_"
	if f == anthropic {
		wantFinish = map[bool]string{true: "tool_use", false: "end_turn"}
		idPrefix = "toolu_"
	}
	ids := map[string]bool{}
	for i, want := range testScript {
		g := got[i]
		if g.text != want.Text {
			t.Errorf("turn %d: text %q, want %q", i, g.text, want.Text)
		}
		if g.finish != wantFinish[len(want.ToolCalls) > 0] {
			t.Errorf("turn %d: finish %q", i, g.finish)
		}
		if len(g.calls) != len(want.ToolCalls) {
			t.Fatalf("turn %d: %d calls, want %d", i, len(g.calls), len(want.ToolCalls))
		}
		for j, wc := range want.ToolCalls {
			gc := g.calls[j]
			if gc.Name != wc.Name || compactJSON(t, gc.Arguments) != compactJSON(t, wc.Arguments) {
				t.Errorf("turn %d call %d: %+v, want %+v", i, j, gc, wc)
			}
			switch {
			case wc.ID != "" && gc.ID != wc.ID:
				t.Errorf("turn %d call %d: id %q, want the scripted %q", i, j, gc.ID, wc.ID)
			case wc.ID == "" && !strings.HasPrefix(gc.ID, idPrefix):
				t.Errorf("turn %d call %d: id %q lacks %q", i, j, gc.ID, idPrefix)
			}
			if ids[gc.ID] {
				t.Errorf("turn %d call %d: id %q repeated", i, j, gc.ID)
			}
			ids[gc.ID] = true
		}
	}
}

func TestScript(t *testing.T) {
	for _, f := range []format{openAI, anthropic} {
		for _, stream := range []bool{false, true} {
			for _, mode := range []ScriptMode{ScriptInOrder, ScriptByToolResults} {
				t.Run(fmt.Sprintf("%s/stream=%v/%s", f, stream, mode), func(t *testing.T) {
					m := New()
					t.Cleanup(m.Close)
					mustSet(t, m, Behavior{Script: testScript, ScriptMode: mode})
					checkScriptedTurns(t, f, runAgentLoop(t, m, f, stream))

					// A second conversation: by tool results it starts over; in order
					// the script is exhausted and its last turn repeats.
					again := runAgentLoop(t, m, f, stream)
					switch mode {
					case ScriptByToolResults:
						checkScriptedTurns(t, f, again)
					default:
						if len(again) != 1 || again[0].text != testScript[len(testScript)-1].Text {
							t.Errorf("after the script: %+v", again)
						}
					}
				})
			}
		}
	}
}

func TestScriptValidation(t *testing.T) {
	tests := []struct {
		name string
		b    Behavior
		bad  []string
	}{
		{name: "valid", b: Behavior{Script: testScript}},
		{name: "everything wrong", b: Behavior{
			Latency: -1, Jitter: -1, TimeToFirstChunk: -1, ChunkDelay: -1, RetryAfter: -1,
			FailPercent: 101, FailStatus: 200, RateLimitWindows: []Window{{}}, RateLimitNext: -1,
			CloseAfterChunks: -1, ErrorAfterChunks: -1, ReplyTokens: -1, ScriptMode: 7,
			Script: []Turn{ToolTurn(ToolCall{Name: " ", Arguments: "[1]"})},
		}, bad: []string{
			"latency", "jitter", "time_to_first_chunk", "chunk_delay", "retry_after", "fail_percent",
			"fail_status", "rate_limit_windows[0].duration", "rate_limit_next", "close_after_chunks",
			"error_after_chunks", "reply_tokens", "script_mode", "script[0].tool_calls[0].name", "script[0].tool_calls[0].arguments",
		}},
		{name: "too many tokens", b: Behavior{ReplyTokens: maxReplyTokens + 1}, bad: []string{"reply_tokens"}},
		{name: "huge jitter", b: Behavior{Jitter: math.MaxInt64, Latency: MaxDelay + 1}, bad: []string{"jitter", "latency"}},
		{name: "NaN percent", b: Behavior{FailPercent: math.NaN()}, bad: []string{"fail_percent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.b.Validate()
			if len(tt.bad) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid behavior")
			}
			for _, field := range tt.bad {
				if !strings.Contains(err.Error(), field+":") {
					t.Errorf("error does not name %s: %v", field, err)
				}
			}
			m := New()
			t.Cleanup(m.Close)
			if m.SetDefault(tt.b) == nil || m.SetBehavior(testKey, tt.b) == nil {
				t.Error("an invalid behavior was set")
			}
		})
	}
}

func TestScriptIsCopied(t *testing.T) {
	m := New()
	t.Cleanup(m.Close)
	script := []Turn{TextTurn("original")}
	mustSet(t, m, Behavior{Script: script})
	script[0].Text = "mutated"
	rec := serve(m, newRequest(t.Context(), openAI, "", "", testKey, chatBody(openAI, "hi", "")))
	var c oaCompletion
	decodeJSON(t, rec.Body.Bytes(), &c)
	if got := *c.Choices[0].Message.Content; got != "original" {
		t.Errorf("reply %q: the mock shares the caller's script", got)
	}
}
