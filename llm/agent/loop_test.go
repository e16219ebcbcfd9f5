package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/openai"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

func TestWants(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	if Wants(r, []byte(`{"model":"m"}`)) {
		t.Error("plain body")
	}
	if !Wants(r, []byte(`{"tools":[{"type":"mcp"}]}`)) || !Wants(r, []byte(`{"mcp_servers":[]}`)) {
		t.Error("MCP body")
	}
	r.Header.Set(ToolsHeader, "*")
	if !Wants(r, []byte(`{}`)) {
		t.Error("header")
	}
}

// loopHub has one tool, web__add, which answers "3".
type loopHub struct{ calls int }

func (h *loopHub) Tools(_ *policy.Identity, toolset string) []mcp.ToolInfo {
	if toolset != "" {
		return nil
	}
	return []mcp.ToolInfo{tool("web", "add")}
}

func (h *loopHub) CallTool(context.Context, *policy.Identity, string, json.RawMessage) (json.RawMessage, error) {
	h.calls++
	return json.RawMessage(`{"content":[{"type":"text","text":"3"}]}`), nil
}

// scriptedModels answers the loop's calls from a script: each turn is an
// answer or an error; streamed turns are cut into one chunk per piece.
type scriptedModels struct {
	turns    []scriptedTurn
	requests []*chat.Request // copies of what each call was sent
	headers  int
}

type scriptedTurn struct {
	msg       chat.Message
	err       error // the call fails
	streamErr error // the stream breaks after its pieces
}

func (m *scriptedModels) next(req *chat.Request) scriptedTurn {
	cp := *req
	cp.Messages = append([]chat.Message(nil), req.Messages...)
	m.requests = append(m.requests, &cp)
	t := m.turns[0]
	m.turns = m.turns[1:]
	return t
}

func spent() Spent {
	return Spent{Usage: chat.Usage{PromptTokens: 10, CompletionTokens: 2}, CostUSD: 0.001, Target: "mock/m", Status: "ok"}
}

func (m *scriptedModels) Complete(_ context.Context, req *chat.Request) (*chat.Response, Spent, error) {
	t := m.next(req)
	if t.err != nil {
		return nil, Spent{}, t.err
	}
	finish := chat.FinishStop
	if len(t.msg.ToolCalls) > 0 {
		finish = chat.FinishToolCalls
	}
	return &chat.Response{ID: "r", Message: t.msg, FinishReason: finish}, spent(), nil
}

func (m *scriptedModels) Stream(_ context.Context, req *chat.Request, relay func(ModelStream) bool) (Spent, error) {
	t := m.next(req)
	if t.err != nil {
		return Spent{}, t.err
	}
	var chunks []*chat.Chunk
	if text := t.msg.Text(); text != "" {
		chunks = append(chunks, &chat.Chunk{ID: "c", Content: text})
	}
	for i, c := range t.msg.ToolCalls {
		chunks = append(chunks, &chat.Chunk{ID: "c", ToolCalls: []chat.ToolCallDelta{{Index: i, ID: c.ID, Name: c.Name, Arguments: c.Arguments}}})
	}
	relay(&chunkStream{chunks: chunks, err: t.streamErr})
	return spent(), nil
}

func (m *scriptedModels) SetHeaders(h http.Header) {
	m.headers++
	h.Set("X-Ratelimit-Limit-Requests", "100")
}

type chunkStream struct {
	chunks []*chat.Chunk
	err    error
}

func (s *chunkStream) Recv() (*chat.Chunk, error) {
	if len(s.chunks) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

// openAITestFormat answers in OpenAI's format, errors as "error: ...".
type openAITestFormat struct{}

func (openAITestFormat) Decode(body []byte) (*chat.Request, error) {
	return openai.DecodeChatRequest(body)
}
func (openAITestFormat) WriteError(w http.ResponseWriter, _ *http.Request, err error) {
	w.WriteHeader(http.StatusTeapot)
	_, _ = io.WriteString(w, "error: "+err.Error())
}
func (openAITestFormat) AppendResponse(dst []byte, resp *chat.Response, model string, _ bool) []byte {
	return openai.AppendChatResponse(dst, resp, model)
}
func (openAITestFormat) NewStream(model string, includeUsage bool) StreamWriter {
	return NewOpenAIStream(model, includeUsage)
}
func (openAITestFormat) AppendStreamError(dst []byte, err error) []byte {
	return append(dst, "data: error: "+err.Error()+"\n\n"...)
}

func newTestLoop(hub Hub) *Loop {
	cfg := Config{}
	cfg.ApplyDefaults()
	return NewLoop(Options{Config: cfg, Hub: hub, Lexical: cache.NewLexical(0)})
}

func serveLoop(t *testing.T, l *Loop, m ModelCaller, stream bool) *httptest.ResponseRecorder {
	t.Helper()
	body := `{"model":"m","messages":[{"role":"user","content":"add 1 and 2"}]}`
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	r.Header.Set(ToolsHeader, "web")
	w := httptest.NewRecorder()
	if !l.Serve(w, r, Request{Body: []byte(body), Model: "m", Stream: stream, Format: openAITestFormat{}, Models: m}) {
		t.Fatal("the loop declined a request naming MCP tools")
	}
	return w
}

func addTurn() scriptedTurn {
	return scriptedTurn{msg: chat.Message{Role: chat.RoleAssistant,
		ToolCalls: []chat.ToolCall{{ID: "call_1", Name: "web__add", Arguments: `{"a":1,"b":2}`}}}}
}

func finalTurn() scriptedTurn {
	return scriptedTurn{msg: chat.TextMessage(chat.RoleAssistant, "it is 3")}
}

// TestLoopComplete: a tool call, its result fed back, the final answer,
// with the loop's sums in the body and the headers.
func TestLoopComplete(t *testing.T) {
	hub := &loopHub{}
	m := &scriptedModels{turns: []scriptedTurn{addTurn(), finalTurn()}}
	w := serveLoop(t, newTestLoop(hub), m, false)
	if w.Code != http.StatusOK || hub.calls != 1 {
		t.Fatalf("%d, %d tool calls: %s", w.Code, hub.calls, w.Body)
	}
	var out struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokens int64 `json:"prompt_tokens"`
		} `json:"usage"`
		Junction Summary `json:"junction"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Choices[0].Message.Content != "it is 3" || out.Usage.PromptTokens != 20 || out.Junction.Iterations != 2 ||
		out.Junction.StopReason != StopFinal || len(out.Junction.ToolCalls) != 1 || out.Junction.CostUSD != 0.002 {
		t.Errorf("response %+v", out)
	}
	h := w.Header()
	if h.Get(IterationsHeader) != "2" || h.Get(StopReasonHeader) != StopFinal || h.Get(ToolCallsHeader) != "1" ||
		h.Get("X-Junction-Target") != "mock/m" || h.Get("X-Ratelimit-Limit-Requests") != "100" {
		t.Errorf("headers %v", h)
	}
	second := m.requests[1].Messages
	if last := second[len(second)-1]; last.Role != chat.RoleTool || last.ToolCallID != "call_1" || last.Text() != "3" {
		t.Errorf("the second call's last message %+v", last)
	}
}

// TestLoopRefusal: a first call refused is the request's error; a later
// one ends the loop with the stop it maps to and a note.
func TestLoopRefusal(t *testing.T) {
	budget := &RefusedError{Err: &policy.BudgetError{}}
	m := &scriptedModels{turns: []scriptedTurn{{err: budget}}}
	if w := serveLoop(t, newTestLoop(&loopHub{}), m, false); w.Code != http.StatusTeapot || m.headers != 0 {
		t.Errorf("first call refused: %d %s", w.Code, w.Body)
	}
	m = &scriptedModels{turns: []scriptedTurn{addTurn(), {err: budget}}}
	w := serveLoop(t, newTestLoop(&loopHub{}), m, false)
	if w.Code != http.StatusOK || w.Header().Get(StopReasonHeader) != StopBudget ||
		!strings.Contains(w.Body.String(), "the budget does not cover another model call") ||
		!strings.Contains(w.Body.String(), `"finish_reason":"length"`) {
		t.Errorf("second call refused: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// TestLoopStream: one stream for the whole loop, the tool result as a
// comment, the summary before [DONE], the loop's headers as trailers.
func TestLoopStream(t *testing.T) {
	m := &scriptedModels{turns: []scriptedTurn{addTurn(), finalTurn()}}
	w := serveLoop(t, newTestLoop(&loopHub{}), m, true)
	body := w.Body.String()
	for _, want := range []string{`"tool_calls":[{"index":0,"id":"call_1"`, ": junction.tool_result {", `"content":"it is 3"`,
		`"finish_reason":"stop"`, ": junction.done {", "data: [DONE]"} {
		if !strings.Contains(body, want) {
			t.Errorf("stream lacks %s:\n%s", want, body)
		}
	}
	if strings.Count(body, `"role":"assistant"`) != 1 {
		t.Errorf("the role is sent once:\n%s", body)
	}
	h := w.Header()
	if h.Get("Content-Type") != "text/event-stream" || h.Get(IterationsHeader) != "2" || h.Get(StopReasonHeader) != StopFinal || m.headers != 1 {
		t.Errorf("headers %v", h)
	}
}

// TestLoopStreamBroken: a stream broken mid-way ends the loop with an
// in-band error and no summary.
func TestLoopStreamBroken(t *testing.T) {
	broken := finalTurn()
	broken.streamErr = &chat.UpstreamError{Provider: "mock", Message: "upstream went away"}
	m := &scriptedModels{turns: []scriptedTurn{addTurn(), broken}}
	w := serveLoop(t, newTestLoop(&loopHub{}), m, true)
	body := w.Body.String()
	if !strings.Contains(body, "data: error: mock: upstream went away") || strings.Contains(body, "[DONE]") {
		t.Errorf("stream:\n%s", body)
	}
}

// TestLoopWithoutHub: requests naming MCP tools are refused when the
// gateway has no hub.
func TestLoopWithoutHub(t *testing.T) {
	w := serveLoop(t, newTestLoop(nil), &scriptedModels{}, false)
	if w.Code != http.StatusTeapot || !strings.Contains(w.Body.String(), "no MCP tool hub") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}
