package openai

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
)

// recvAll reads s to its end and returns the chunks and the final error
// (nil after [DONE]).
// streamAll streams req through p as tg and returns every chunk, failing
// the test on any error.
func streamAll(t *testing.T, p *Provider, tg chat.Target, req *chat.Request) []*chat.Chunk {
	t.Helper()
	s, err := p.ChatStream(t.Context(), tg, req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunks, err := recvAll(s)
	if err != nil {
		t.Fatal(err)
	}
	return chunks
}

func recvAll(s chat.Stream) ([]*chat.Chunk, error) {
	var chunks []*chat.Chunk
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, c)
	}
}

// assembled is a completion put back together from chunks, the way clients do.
type assembled struct {
	Role, Content, Finish string
	Calls                 []chat.ToolCall
	Usage                 *chat.Usage
	UsageLast             bool
}

func assemble(t *testing.T, chunks []*chat.Chunk) assembled {
	t.Helper()
	var a assembled
	for _, c := range chunks {
		if c.Role != "" {
			a.Role = c.Role
		}
		a.Content += c.Content
		for _, d := range c.ToolCalls {
			for len(a.Calls) <= d.Index {
				a.Calls = append(a.Calls, chat.ToolCall{})
			}
			call := &a.Calls[d.Index]
			if d.ID != "" || d.Name != "" {
				if call.ID != "" || call.Name != "" {
					t.Errorf("tool call %d: id or name sent twice", d.Index)
				}
				call.ID, call.Name = d.ID, d.Name
			}
			call.Arguments += d.Arguments
		}
		if c.FinishReason != "" {
			a.Finish = c.FinishReason
		}
		a.UsageLast = false
		if c.Usage != nil {
			if c.Role != "" || c.Content != "" || len(c.ToolCalls) > 0 || c.FinishReason != "" {
				t.Errorf("usage chunk with a delta: %+v", c)
			}
			a.Usage, a.UsageLast = c.Usage, true
		}
	}
	return a
}

func sseText(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("data: ")
		b.WriteString(e)
		b.WriteString("\n\n")
	}
	return b.String()
}

func TestStreamParsing(t *testing.T) {
	cases := []struct {
		name string
		body string
		want assembled
	}{
		{
			name: "tool-call deltas by index, id and name on the first piece",
			body: sseText(
				`{"id":"a","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"c0","type":"function","function":{"name":"f","arguments":""}}]}}]}`,
				`{"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c1","type":"function","function":{"name":"g","arguments":"{\"b\""}}]}}]}`,
				`{"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}`,
				`{"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}},{"index":1,"function":{"arguments":":2}"}}]}}]}`,
				`{"id":"a","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
				`{"id":"a","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}}`,
				`[DONE]`),
			want: assembled{Role: "assistant", Finish: "tool_calls",
				Calls: []chat.ToolCall{{ID: "c0", Name: "f", Arguments: `{"a":1}`}, {ID: "c1", Name: "g", Arguments: `{"b":2}`}},
				Usage: &chat.Usage{PromptTokens: 5, CompletionTokens: 7, CachedTokens: 2, ReasoningTokens: 1}, UsageLast: true},
		},
		{
			name: "ids repeated on every piece are reported once",
			body: sseText(
				`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c0","function":{"name":"f","arguments":"{"}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c0","function":{"name":"f","arguments":"}"}}]}}]}`,
				`[DONE]`),
			want: assembled{Calls: []chat.ToolCall{{ID: "c0", Name: "f", Arguments: "{}"}}},
		},
		{
			name: "pieces without an index follow their id",
			body: sseText(
				`{"choices":[{"delta":{"tool_calls":[{"id":"c0","function":{"name":"f","arguments":"{"}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"id":"c1","function":{"name":"g","arguments":"[]"}}]}}]}`,
				`[DONE]`),
			want: assembled{Calls: []chat.ToolCall{{ID: "c0", Name: "f", Arguments: "{}"}, {ID: "c1", Name: "g", Arguments: "[]"}}},
		},
		{
			name: "usage sent with the finish becomes its own last chunk",
			body: sseText(`{"choices":[{"delta":{"content":"x"},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`, `[DONE]`),
			want: assembled{Content: "x", Finish: "length", Usage: &chat.Usage{PromptTokens: 1, CompletionTokens: 1}, UsageLast: true},
		},
		{
			name: "comments, other fields, CRLF, no space after the colon, unknown members",
			body: ": hello\r\nevent: delta\r\nid: 7\r\nretry: 10\r\nfoo\r\ndata:{\"choices\":[{\"delta\":{\"content\":\"a\",\"reasoning_content\":\"r\"},\"x\":1}],\"y\":[]}\r\n\r\n" +
				":\n\n" + "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n" + "data: [DONE]\n\n",
			want: assembled{Content: "ab"},
		},
		{
			name: "a multi-line event is one JSON text",
			body: "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"joined\"}}]}\n\ndata: [DONE]\n\n",
			want: assembled{Content: "joined"},
		},
		{
			name: "[DONE] without a blank line before the end",
			body: "data: {\"choices\":[{\"delta\":{\"content\":\"z\"}}]}\n\ndata: [DONE]\n",
			want: assembled{Content: "z"},
		},
		{
			name: "empty chunks are skipped",
			body: sseText(`{"choices":[]}`, `{"choices":[{"index":0,"delta":{}}],"usage":null}`, `{"choices":[{"delta":{"content":"q"}}]}`, `[DONE]`),
			want: assembled{Content: "q"},
		},
		{
			name: "choice 0 is taken among several",
			body: sseText(`{"choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"}}]}`, `[DONE]`),
			want: assembled{Content: "yes"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chunks, err := recvAll(streamOf([]byte(c.body)))
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if got := assemble(t, chunks); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %s\nwant %s", dump(got), dump(c.want))
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		chunks  int // delivered before the error
		status  int
		message string
		cause   error
	}{
		{"in-band error", sseText(`{"choices":[{"delta":{"content":"a"}}]}`, `{"error":{"message":"The server had an error","type":"server_error","code":null}}`),
			1, 0, "The server had an error", errStreamError},
		{"in-band error with an HTTP code", sseText(`{"error":{"message":"Provider returned error","code":502}}`), 0, 502, "Provider returned error", errStreamError},
		{"in-band error as text", sseText(`{"error":"overloaded"}`), 0, 0, "overloaded", errStreamError},
		{"cut before [DONE]", sseText(`{"choices":[{"delta":{"content":"a"}}]}`), 1, 0, "stream cut before [DONE]", errNoDone},
		{"cut mid-line", "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choi", 1, 0, "stream cut before [DONE]", io.ErrUnexpectedEOF},
		{"empty body", "", 0, 0, "stream cut before [DONE]", errNoDone},
		{"malformed JSON", sseText(`{"choices":[{"delta":{"content":"a"}}]}`, `{"choices":[`), 1, 0, "malformed stream event", nil},
		{"not an object", sseText(`[1]`), 0, 0, "malformed stream event", nil},
		{"bad tool index", sseText(`{"choices":[{"delta":{"tool_calls":[{"index":-1,"function":{"arguments":"{}"}}]}}]}`), 0, 0, "malformed stream event", errBadToolIndex},
		{"huge tool index", sseText(`{"choices":[{"delta":{"tool_calls":[{"index":99999999,"function":{"arguments":"{}"}}]}}]}`), 0, 0, "malformed stream event", errBadToolIndex},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := streamOf([]byte(c.body))
			chunks, err := recvAll(s)
			if len(chunks) != c.chunks {
				t.Errorf("%d chunks before the error, want %d", len(chunks), c.chunks)
			}
			var ue *chat.UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v (%T), want *chat.UpstreamError", err, err)
			}
			if ue.Status != c.status || ue.Message != c.message || ue.Provider != "test" {
				t.Errorf("error %+v, want status %d message %q", ue, c.status, c.message)
			}
			if c.cause != nil && !errors.Is(err, c.cause) {
				t.Errorf("error %v does not wrap %v", err, c.cause)
			}
			if ue.Status == 0 && ue.Err == nil {
				t.Errorf("status 0 without a cause: %+v", ue)
			}
			if !ue.Retryable() {
				t.Errorf("%v is not retryable", err)
			}
			if _, again := s.Recv(); again != err {
				t.Errorf("Recv after the error: %v, want the same error", again)
			}
		})
	}
}

func TestStreamEventTooLarge(t *testing.T) {
	body := "data: {\"choices\":[{\"delta\":{\"content\":\"" + strings.Repeat("x", maxEventBytes) + "\"}}]}\n\n"
	_, err := recvAll(streamOf([]byte(body)))
	if !errors.Is(err, sse.ErrTooLarge) {
		t.Errorf("error %v, want sse.ErrTooLarge", err)
	}
	// Many data lines, each small, add up too.
	line := "data: " + strings.Repeat("y", 1<<20) + "\n"
	_, err = recvAll(streamOf([]byte(strings.Repeat(line, 17) + "\n")))
	if !errors.Is(err, sse.ErrTooLarge) {
		t.Errorf("error %v, want sse.ErrTooLarge", err)
	}
}

func TestStreamDoneIsFinal(t *testing.T) {
	s := streamOf([]byte(sseText(`[DONE]`, `{"choices":[{"delta":{"content":"after"}}]}`)))
	for range 2 {
		if c, err := s.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("Recv = %v, %v; want io.EOF", c, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// blockingBody blocks reads until closed.
type blockingBody struct{ closed chan struct{} }

func (b *blockingBody) Read([]byte) (int, error) {
	<-b.closed
	return 0, errors.New("read on closed body")
}
func (b *blockingBody) Close() error { close(b.closed); return nil }

func TestStreamCloseUnblocksRecv(t *testing.T) {
	body := &blockingBody{closed: make(chan struct{})}
	s := newStream("test", &http.Response{Body: body})
	done := make(chan error)
	go func() {
		_, err := s.Recv()
		done <- err
	}()
	_ = s.Close()
	if err := <-done; err == nil {
		t.Fatal("Recv after Close succeeded")
	}
	_ = s.Close() // idempotent
}

func TestJSONStream(t *testing.T) {
	resp := &chat.Response{ID: "x", Model: "m", Message: chat.Message{Role: chat.RoleAssistant,
		Content:   []chat.Part{{Type: chat.PartText, Text: "hi"}},
		ToolCalls: []chat.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}}, FinishReason: chat.FinishToolCalls,
		Usage: chat.Usage{PromptTokens: 2, CompletionTokens: 3}}
	chunks, err := recvAll(jsonStream(resp))
	if err != nil {
		t.Fatal(err)
	}
	want := assembled{Role: "assistant", Content: "hi", Finish: "tool_calls", Calls: resp.Message.ToolCalls,
		Usage: &chat.Usage{PromptTokens: 2, CompletionTokens: 3}, UsageLast: true}
	if got := assemble(t, chunks); !reflect.DeepEqual(got, want) {
		t.Errorf("got %s", dump(got))
	}
}
