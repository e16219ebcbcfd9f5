package llmtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Test keys.
const (
	testKey  = "sk-test-0123456789"
	otherKey = "sk-other-0123456789"
)

// mustSet sets b as the default behaviour or fails the test.
func mustSet(t *testing.T, m *Mock, b Behavior) {
	t.Helper()
	if err := m.SetDefault(b); err != nil {
		t.Fatalf("SetDefault: %v", err)
	}
}

// testClient has a timeout so a broken test cannot hang the run.
var testClient = &http.Client{Timeout: 20 * time.Second}

// format says which provider a request is for.
type format int

const (
	openAI format = iota
	anthropic
)

func (f format) String() string {
	if f == anthropic {
		return "anthropic"
	}
	return "openai"
}

// newRequest builds a request for the format's chat endpoint (or path, when given)
// with the format's auth headers.
func newRequest(ctx context.Context, f format, baseURL, path, key, body string) *http.Request {
	if path == "" {
		path = string(EndpointChatCompletions)
		if f == anthropic {
			path = string(EndpointMessages)
		}
	}
	if f == anthropic {
		req := rawRequest(ctx, baseURL+path, body, "x-api-key", key)
		req.Header.Set("anthropic-version", "2023-06-01")
		return req
	}
	if key != "" {
		key = "Bearer " + key
	}
	return rawRequest(ctx, baseURL+path, body, "Authorization", key)
}

// rawRequest builds a request to url: a JSON POST of body, or a GET when body
// is empty, with the key in the header keyHeader unless key is empty.
func rawRequest(ctx context.Context, url, body, keyHeader, key string) *http.Request {
	method := http.MethodPost
	var rd io.Reader = strings.NewReader(body)
	if body == "" {
		method, rd = http.MethodGet, nil
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		panic(err) // constant inputs in tests
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set(keyHeader, key)
	}
	return req
}

// openStream sends a streaming request and returns the response, whose body
// is closed at the end of the test, after checking it is an event stream.
func openStream(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("content-type %q", ct)
	}
	return resp
}

// checkJSONReply checks a successful JSON answer: status 200, the JSON
// Content-Type and a request id.
func checkJSONReply(t *testing.T, status int, header http.Header, raw []byte) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	if id := header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("x-request-id %q", id)
	}
}

// do sends a request to a live server and returns status, headers and body.
func do(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, resp.Header, body
}

// serve runs a request through the handler in-process.
func serve(m *Mock, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, req)
	return rec
}

// chatBody returns a minimal request body with one user message.
func chatBody(f format, text string, extra string) string {
	msg, _ := json.Marshal(text)
	switch f {
	case anthropic:
		return `{"model":"claude-haiku-4-5","max_tokens":1024,"messages":[{"role":"user","content":` + string(msg) + `}]` + extra + `}`
	default:
		return `{"model":"gpt-4o-mini","messages":[{"role":"user","content":` + string(msg) + `}]` + extra + `}`
	}
}

// --- OpenAI shapes, as the SDK decodes them ---

type oaCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int       `json:"index"`
		Message      oaMessage `json:"message"`
		FinishReason string    `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

// oaMessage is a choice's message, or a streamed chunk's delta of one.
type oaMessage struct {
	Role      string       `json:"role"`
	Content   *string      `json:"content"`
	ToolCalls []oaToolCall `json:"tool_calls"`
}

type oaToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type oaChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int       `json:"index"`
		Delta        oaMessage `json:"delta"`
		FinishReason *string   `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

type oaError struct {
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// oaStream is a chat completion accumulated from a stream the way the SDKs do it.
type oaStream struct {
	ID           string
	Role         string
	Content      string
	ToolCalls    []oaToolCall // by index
	FinishReason string
	Usage        *oaUsage
	UsageLast    bool // the usage chunk (empty choices) was the last before [DONE]
	Events       int  // data events before [DONE]
	Done         bool // [DONE] was seen
}

// readOpenAIStream decodes an OpenAI SSE stream: "data: " lines until [DONE];
// tool-call deltas are accumulated by index, id and name come from the first delta of
// a call. It returns what it got so far together with any read or decode error.
func readOpenAIStream(r io.Reader) (oaStream, error) {
	var s oaStream
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return s, fmt.Errorf("unexpected line %q", line)
		}
		if data == "[DONE]" {
			s.Done = true
			return s, nil
		}
		var c oaChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return s, fmt.Errorf("decode chunk %q: %w", data, err)
		}
		if c.Object != "chat.completion.chunk" {
			return s, fmt.Errorf("chunk object %q", c.Object)
		}
		s.Events++
		s.ID = c.ID
		s.UsageLast = false
		if c.Usage != nil {
			if len(c.Choices) != 0 {
				return s, fmt.Errorf("usage chunk with %d choices", len(c.Choices))
			}
			s.Usage = c.Usage
			s.UsageLast = true
		}
		for _, ch := range c.Choices {
			if ch.Delta.Role != "" {
				s.Role = ch.Delta.Role
			}
			if ch.Delta.Content != nil {
				s.Content += *ch.Delta.Content
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index == nil {
					return s, errors.New("tool-call delta without index")
				}
				i := *tc.Index
				for len(s.ToolCalls) <= i {
					s.ToolCalls = append(s.ToolCalls, oaToolCall{})
				}
				acc := &s.ToolCalls[i]
				if tc.ID != "" {
					if acc.ID != "" {
						return s, fmt.Errorf("tool call %d: id sent twice", i)
					}
					acc.ID, acc.Type, acc.Function.Name = tc.ID, tc.Type, tc.Function.Name
				} else if tc.Function.Name != "" {
					return s, fmt.Errorf("tool call %d: name in a later delta", i)
				}
				acc.Function.Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				s.FinishReason = *ch.FinishReason
			}
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	return s, io.ErrUnexpectedEOF // the stream ended without [DONE]
}

// --- Anthropic shapes ---

type anMessage struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Role       string    `json:"role"`
	Model      string    `json:"model"`
	Content    []anBlock `json:"content"`
	StopReason string    `json:"stop_reason"`
	Usage      anUsage   `json:"usage"`
}

type anBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type anUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

type anError struct {
	Type  string `json:"type"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// anStream is a message accumulated from named events as the SDKs do it.
type anStream struct {
	Message anMessage
	Events  []string // event names in order
	Stopped bool     // message_stop was seen
}

// readAnthropicMessage decodes the Anthropic message in body, streamed (an
// SSE stream, see readAnthropicStream) or not.
func readAnthropicMessage(t *testing.T, body *bytes.Buffer, stream bool) anMessage {
	t.Helper()
	var msg anMessage
	if !stream {
		decodeJSON(t, body.Bytes(), &msg)
		return msg
	}
	s, err := readAnthropicStream(body)
	if err != nil {
		t.Fatalf("anthropic stream: %v", err)
	}
	return s.Message
}

// readAnthropicStream decodes an Anthropic SSE stream of event/data pairs: text and
// input_json deltas are appended to their block, usage is set (not added) from
// message_delta, pings and unknown events are ignored.
func readAnthropicStream(r io.Reader) (anStream, error) {
	var s anStream
	partial := map[int]*strings.Builder{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
			continue
		case !strings.HasPrefix(line, "data: "):
			return s, fmt.Errorf("unexpected line %q", line)
		}
		data := strings.TrimPrefix(line, "data: ")
		var ev struct {
			Type         string          `json:"type"`
			Index        int             `json:"index"`
			Message      *anMessage      `json:"message"`
			ContentBlock *anBlock        `json:"content_block"`
			Delta        json.RawMessage `json:"delta"`
			Usage        *anUsage        `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return s, fmt.Errorf("decode %s: %w", event, err)
		}
		if ev.Type != event {
			return s, fmt.Errorf("event %q carries type %q", event, ev.Type)
		}
		s.Events = append(s.Events, event)
		switch event {
		case "message_start":
			s.Message = *ev.Message
		case "content_block_start":
			if ev.Index != len(s.Message.Content) {
				return s, fmt.Errorf("block %d started out of order", ev.Index)
			}
			s.Message.Content = append(s.Message.Content, *ev.ContentBlock)
			partial[ev.Index] = &strings.Builder{}
		case "content_block_delta":
			if ev.Index >= len(s.Message.Content) {
				return s, fmt.Errorf("delta for unknown block %d", ev.Index)
			}
			var d struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
			}
			if err := json.Unmarshal(ev.Delta, &d); err != nil {
				return s, err
			}
			switch d.Type {
			case "text_delta":
				s.Message.Content[ev.Index].Text += d.Text
			case "input_json_delta":
				partial[ev.Index].WriteString(d.PartialJSON)
			default:
				return s, fmt.Errorf("unknown delta type %q", d.Type)
			}
		case "content_block_stop":
			b := &s.Message.Content[ev.Index]
			if b.Type == "tool_use" {
				b.Input = json.RawMessage(partial[ev.Index].String())
				if !json.Valid(b.Input) {
					return s, fmt.Errorf("tool_use %d: invalid input %q", ev.Index, b.Input)
				}
			}
		case "message_delta":
			var d struct {
				StopReason string `json:"stop_reason"`
			}
			if err := json.Unmarshal(ev.Delta, &d); err != nil {
				return s, err
			}
			s.Message.StopReason = d.StopReason
			if ev.Usage != nil {
				s.Message.Usage.OutputTokens = ev.Usage.OutputTokens
			}
		case "message_stop":
			s.Stopped = true
			return s, nil
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	return s, io.ErrUnexpectedEOF // the stream ended without message_stop
}

// decodeJSON decodes body into v or fails the test.
func decodeJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", truncate(body), err)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// compactJSON returns s compacted, for comparisons.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return b.String()
}
