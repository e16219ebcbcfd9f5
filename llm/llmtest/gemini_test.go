package llmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

const geminiModel = "gemini-2.5-flash"

// geminiPath returns the path of a model method.
func geminiPath(model, method string) string { return "/v1beta/models/" + model + ":" + method }

// newGeminiRequest builds a Gemini request with the key in x-goog-api-key; an empty
// body makes a GET.
func newGeminiRequest(ctx context.Context, baseURL, path, key, body string) *http.Request {
	return rawRequest(ctx, baseURL+path, body, "x-goog-api-key", key)
}

// geminiBody returns a request with one user text and extra top-level fields.
func geminiBody(text, extra string) string {
	msg, _ := json.Marshal(text)
	return `{"contents":[{"role":"user","parts":[{"text":` + string(msg) + `}]}]` + extra + `}`
}

// --- Gemini shapes, as the SDKs decode them ---

type gmResponse struct {
	Candidates []struct {
		Content struct {
			Role  string   `json:"role"`
			Parts []gmPart `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
		Index        int    `json:"index"`
	} `json:"candidates"`
	UsageMetadata *gmUsage `json:"usageMetadata"`
	ModelVersion  string   `json:"modelVersion"`
	ResponseID    string   `json:"responseId"`
}

type gmPart struct {
	Text         *string `json:"text,omitempty"`
	FunctionCall *struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall,omitempty"`
}

type gmUsage struct {
	PromptTokenCount     int  `json:"promptTokenCount"`
	CandidatesTokenCount *int `json:"candidatesTokenCount"`
	TotalTokenCount      int  `json:"totalTokenCount"`
}

type gmError struct {
	Error *struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

// detail returns the error detail of the given @type suffix ("RetryInfo"), if any.
func (e *gmError) detail(kind string) map[string]any {
	for _, raw := range e.Error.Details {
		var d map[string]any
		_ = json.Unmarshal(raw, &d)
		if t, _ := d["@type"].(string); t == "type.googleapis.com/google.rpc."+kind {
			return d
		}
	}
	return nil
}

// gmStream is a response accumulated from a Gemini stream as the SDKs do it: texts
// concatenated, function calls collected, the last usage kept.
type gmStream struct {
	Text         string
	Calls        []ToolCall
	FinishReason string
	Usage        *gmUsage
	Chunks       int
	UsageChunks  int // chunks whose usage had candidatesTokenCount
}

func (s *gmStream) add(r *gmResponse) {
	s.Chunks++
	if len(r.Candidates) > 0 {
		c := r.Candidates[0]
		for _, p := range c.Content.Parts {
			if p.Text != nil {
				s.Text += *p.Text
			}
			if fc := p.FunctionCall; fc != nil {
				s.Calls = append(s.Calls, ToolCall{ID: fc.ID, Name: fc.Name, Arguments: string(fc.Args)})
			}
		}
		if c.FinishReason != "" {
			s.FinishReason = c.FinishReason
		}
	}
	if r.UsageMetadata != nil {
		s.Usage = r.UsageMetadata
		if r.UsageMetadata.CandidatesTokenCount != nil {
			s.UsageChunks++
		}
	}
}

// readGeminiSSE decodes "data: {...}" events separated by blank lines (CRLF or LF).
// The stream has no terminator: it ends at EOF, which is an error (unexpected EOF)
// when no finish reason was seen.
func readGeminiSSE(r io.Reader) (gmStream, error) {
	var s gmStream
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return s, fmt.Errorf("unexpected line %q", line)
		}
		var resp gmResponse
		if err := json.Unmarshal([]byte(data), &resp); err != nil {
			return s, fmt.Errorf("decode chunk %q: %w", data, err)
		}
		s.add(&resp)
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if s.FinishReason == "" {
		return s, io.ErrUnexpectedEOF
	}
	return s, nil
}

// serveGemini runs a Gemini request in-process.
func serveGeminiReq(m *Mock, ctx context.Context, path, body string) *httptest.ResponseRecorder {
	return serve(m, newGeminiRequest(ctx, "", path, testKey, body))
}

func TestGeminiGenerateContent(t *testing.T) {
	srv := StartServer(t)
	body := `{"systemInstruction":{"parts":[{"text":"be very brief"}]},` +
		`"contents":[{"role":"user","parts":[{"text":"what is the time"},{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}],` +
		`"generationConfig":{"temperature":0.2,"topK":3},"safetySettings":[]}`
	status, header, raw := do(t, newGeminiRequest(t.Context(), srv.URL, geminiPath(geminiModel, "generateContent"), testKey, body))
	checkJSONReply(t, status, header, raw)
	var resp gmResponse
	decodeJSON(t, raw, &resp)
	if len(resp.Candidates) != 1 || resp.ModelVersion != geminiModel || len(resp.ResponseID) != idLength {
		t.Fatalf("response %s", raw)
	}
	c := resp.Candidates[0]
	if c.Content.Role != "model" || len(c.Content.Parts) != 1 || c.Content.Parts[0].Text == nil ||
		*c.Content.Parts[0].Text != "Echo: what is the time" || c.FinishReason != "STOP" {
		t.Errorf("candidate %s", raw)
	}
	// prompt: "be very brief" (3) + "what is the time" (4); completion 5
	if u := resp.UsageMetadata; u == nil || u.PromptTokenCount != 7 || u.CandidatesTokenCount == nil ||
		*u.CandidatesTokenCount != 5 || u.TotalTokenCount != 12 {
		t.Errorf("usage %+v", resp.UsageMetadata)
	}
}

func TestGeminiSnakeCaseFields(t *testing.T) {
	m := New()
	t.Cleanup(m.Close)
	body := `{"system_instruction":{"parts":[{"text":"s"}]},"generation_config":{"max_output_tokens":2},` +
		`"contents":[{"parts":[{"text":"one two three four"}]}]}`
	rec := serveGeminiReq(m, t.Context(), geminiPath(geminiModel, "generateContent"), body)
	var resp gmResponse
	decodeJSON(t, rec.Body.Bytes(), &resp)
	if rec.Code != http.StatusOK || *resp.Candidates[0].Content.Parts[0].Text != "Echo: one" ||
		resp.Candidates[0].FinishReason != "MAX_TOKENS" || resp.UsageMetadata.PromptTokenCount != 5 {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

func TestGeminiAuth(t *testing.T) {
	m := New(WithAPIKeys(testKey))
	t.Cleanup(m.Close)
	path := geminiPath(geminiModel, "generateContent")
	body := geminiBody("hi", "")

	byHeader := newGeminiRequest(t.Context(), "", path, testKey, body)
	if rec := serve(m, byHeader); rec.Code != http.StatusOK {
		t.Errorf("x-goog-api-key: %d %s", rec.Code, rec.Body)
	}
	byQuery := newGeminiRequest(t.Context(), "", path+"?key="+testKey, "", body)
	if rec := serve(m, byQuery); rec.Code != http.StatusOK {
		t.Errorf("key parameter: %d %s", rec.Code, rec.Body)
	}
	if last, _ := m.LastRequest(); last.Key != testKey || last.Endpoint != EndpointGenerateContent {
		t.Errorf("recorded %+v", last)
	}

	tests := []struct {
		name, key, status, reason string
		code                      int
	}{
		{"missing", "", "PERMISSION_DENIED", "", http.StatusForbidden},
		{"unknown", otherKey, "INVALID_ARGUMENT", "API_KEY_INVALID", http.StatusBadRequest},
	}
	for _, tt := range tests {
		rec := serve(m, newGeminiRequest(t.Context(), "", path, tt.key, body))
		var e gmError
		decodeJSON(t, rec.Body.Bytes(), &e)
		if rec.Code != tt.code || e.Error == nil || e.Error.Code != tt.code || e.Error.Status != tt.status {
			t.Errorf("%s: %d %s", tt.name, rec.Code, rec.Body)
			continue
		}
		info := e.detail("ErrorInfo")
		if got, _ := info["reason"].(string); got != tt.reason {
			t.Errorf("%s: reason %q in %s", tt.name, got, rec.Body)
		}
	}
}

func TestGeminiValidation(t *testing.T) {
	m := New(WithModels(geminiModel))
	t.Cleanup(m.Close)
	gen := geminiPath(geminiModel, "generateContent")
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		code      int
		status    string
		inMessage string
	}{
		{name: "invalid json", path: gen, body: `{"contents"`, code: 400, status: "INVALID_ARGUMENT", inMessage: "Invalid JSON payload"},
		{name: "trailing data", path: gen, body: geminiBody("hi", "") + `{}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "Invalid JSON payload"},
		{name: "unknown field", path: gen, body: `{"messages":[]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: `Unknown name "messages"`},
		{name: "unknown part field", path: gen, body: `{"contents":[{"parts":[{"txt":"a"}]}]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: `Unknown name "txt"`},
		{name: "wrong type", path: gen, body: `{"contents":[{"parts":[{"text":5}]}]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "Invalid value at 'contents.parts.text'"},
		{name: "no contents", path: gen, body: `{}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "contents is not specified"},
		{name: "empty contents", path: gen, body: `{"contents":[]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "contents is not specified"},
		{name: "bad role", path: gen, body: `{"contents":[{"role":"assistant","parts":[{"text":"a"}]}]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "valid role: user, model"},
		{name: "no parts", path: gen, body: `{"contents":[{"role":"user","parts":[]}]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "contents[0].parts"},
		{name: "empty part", path: gen, body: `{"contents":[{"role":"user","parts":[{}]}]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "oneof field 'data'"},
		{name: "negative max tokens", path: gen, body: geminiBody("hi", `,"generationConfig":{"maxOutputTokens":-1}`), code: 400, status: "INVALID_ARGUMENT", inMessage: "max_output_tokens"},
		{name: "bad alt", path: geminiPath(geminiModel, "streamGenerateContent") + "?alt=proto", body: geminiBody("hi", ""), code: 400, status: "INVALID_ARGUMENT", inMessage: "alt"},
		{name: "unknown model", path: geminiPath("gemini-9", "generateContent"), body: geminiBody("hi", ""), code: 404, status: "NOT_FOUND", inMessage: "models/gemini-9 is not found"},
		{name: "unknown method", path: geminiPath(geminiModel, "countTokens"), body: geminiBody("hi", ""), code: 404, status: "NOT_FOUND"},
		{name: "unknown path", path: "/v1beta/files", body: `{}`, code: 404, status: "NOT_FOUND"},
		{name: "wrong http method", method: http.MethodGet, path: gen, code: 405, status: "FAILED_PRECONDITION"},
		{name: "embed without content", path: geminiPath(geminiModel, "embedContent"), body: `{}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "content is not specified"},
		{name: "embed too many dims", path: geminiPath(geminiModel, "embedContent"), body: `{"content":{"parts":[{"text":"a"}]},"outputDimensionality":99999}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "output_dimensionality"},
		{name: "batch empty", path: geminiPath(geminiModel, "batchEmbedContents"), body: `{"requests":[]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "requests is not specified"},
		{name: "batch other model", path: geminiPath(geminiModel, "batchEmbedContents"), body: `{"requests":[{"model":"models/other","content":{"parts":[{"text":"a"}]}}]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "must match"},
		{name: "batch too large", path: geminiPath(geminiModel, "batchEmbedContents"), body: `{"requests":[` + strings.Repeat(`{"content":{"parts":[{"text":"a"}]}},`, maxGeminiBatch) + `{"content":{"parts":[{"text":"a"}]}}]}`, code: 400, status: "INVALID_ARGUMENT", inMessage: "at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newGeminiRequest(t.Context(), "", tt.path, testKey, tt.body)
			if tt.method != "" {
				req.Method = tt.method
			}
			rec := serve(m, req)
			var e gmError
			decodeJSON(t, rec.Body.Bytes(), &e)
			if rec.Code != tt.code || e.Error == nil || e.Error.Code != tt.code || e.Error.Status != tt.status {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body, tt.code, tt.status)
			}
			if !strings.Contains(e.Error.Message, tt.inMessage) {
				t.Errorf("message %q lacks %q", e.Error.Message, tt.inMessage)
			}
		})
	}
}

func TestGeminiStream(t *testing.T) {
	srv := StartServer(t)
	path := geminiPath(geminiModel, "streamGenerateContent") + "?alt=sse"
	resp := openStream(t, newGeminiRequest(t.Context(), srv.URL, path, testKey, geminiBody("tell me a story", "")))
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "[DONE]") || !strings.HasSuffix(string(raw), "}\r\n\r\n") {
		t.Errorf("stream framing: %q", raw)
	}
	s, err := readGeminiSSE(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("stream: %v (%+v)", err, s)
	}
	// 5 words + the last chunk; only the last carries the candidates' usage
	if s.Text != "Echo: tell me a story" || s.FinishReason != "STOP" || s.Chunks != 6 || s.UsageChunks != 1 {
		t.Errorf("stream %+v", s)
	}
	if s.Usage == nil || s.Usage.PromptTokenCount != 4 || *s.Usage.CandidatesTokenCount != 5 || s.Usage.TotalTokenCount != 9 {
		t.Errorf("usage %+v", s.Usage)
	}
	if got := srv.Stats().ByEndpoint[EndpointStreamGenerateContent]; got != 1 {
		t.Errorf("counted %d stream requests", got)
	}
}

func TestGeminiStreamJSONArray(t *testing.T) {
	m := New()
	t.Cleanup(m.Close)
	mustSet(t, m, Behavior{Script: []Turn{{Text: "a b", ToolCalls: []ToolCall{Call("f", map[string]int{"x": 1})}}}})
	rec := serveGeminiReq(m, t.Context(), geminiPath(geminiModel, "streamGenerateContent"), geminiBody("hi", ""))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var chunks []gmResponse
	decodeJSON(t, rec.Body.Bytes(), &chunks)
	var s gmStream
	for i := range chunks {
		s.add(&chunks[i])
	}
	if s.Text != "a b" || len(s.Calls) != 1 || s.Calls[0].Name != "f" || s.Calls[0].Arguments != `{"x":1}` ||
		s.FinishReason != "STOP" || s.Chunks != 4 {
		t.Errorf("array stream %+v", s)
	}
}

// geminiAgentLoop plays a client that answers every function call with a
// functionResponse until the model sends a final text (at most 6 requests).
func geminiAgentLoop(t *testing.T, m *Mock, stream bool) []observedTurn {
	t.Helper()
	contents := []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": "What is the weather in Paris?"}}}}
	path := geminiPath(geminiModel, "generateContent")
	if stream {
		path = geminiPath(geminiModel, "streamGenerateContent") + "?alt=sse"
	}
	var turns []observedTurn
	for range 6 {
		body, _ := json.Marshal(map[string]any{"contents": contents})
		rec := serveGeminiReq(m, t.Context(), path, string(body))
		if rec.Code != http.StatusOK {
			t.Fatalf("turn %d: %d %s", len(turns), rec.Code, rec.Body)
		}
		var s gmStream
		if stream {
			var err error
			if s, err = readGeminiSSE(rec.Body); err != nil {
				t.Fatalf("stream: %v", err)
			}
		} else {
			var resp gmResponse
			decodeJSON(t, rec.Body.Bytes(), &resp)
			s.add(&resp)
		}
		turn := observedTurn{text: s.Text, calls: s.Calls, finish: s.FinishReason}
		turns = append(turns, turn)
		var modelParts, results []any
		if turn.text != "" {
			modelParts = append(modelParts, map[string]any{"text": turn.text})
		}
		for _, c := range turn.calls {
			modelParts = append(modelParts, map[string]any{"functionCall": map[string]any{"name": c.Name, "args": json.RawMessage(c.Arguments)}})
			results = append(results, map[string]any{"functionResponse": map[string]any{"name": c.Name,
				"response": map[string]any{"output": "result of " + c.Name}}})
		}
		contents = append(contents, map[string]any{"role": "model", "parts": modelParts})
		if len(results) == 0 {
			return turns
		}
		contents = append(contents, map[string]any{"role": "user", "parts": results})
	}
	t.Fatal("no final message after 6 turns")
	return nil
}

func TestGeminiScript(t *testing.T) {
	for _, stream := range []bool{false, true} {
		for _, mode := range []ScriptMode{ScriptInOrder, ScriptByToolResults} {
			t.Run(fmt.Sprintf("stream=%v/%s", stream, mode), func(t *testing.T) {
				m := New()
				t.Cleanup(m.Close)
				mustSet(t, m, Behavior{Script: testScript, ScriptMode: mode})
				got := geminiAgentLoop(t, m, stream)
				if len(got) != len(testScript) {
					t.Fatalf("%d turns: %+v", len(got), got)
				}
				for i, want := range testScript {
					g := got[i]
					if g.text != want.Text || g.finish != "STOP" || len(g.calls) != len(want.ToolCalls) {
						t.Fatalf("turn %d: %+v, want %+v", i, g, want)
					}
					for j, wc := range want.ToolCalls {
						gc := g.calls[j]
						// Gemini sends an id only when the script gave one.
						if gc.ID != wc.ID || gc.Name != wc.Name || compactJSON(t, gc.Arguments) != compactJSON(t, wc.Arguments) {
							t.Errorf("turn %d call %d: %+v, want %+v", i, j, gc, wc)
						}
					}
				}
			})
		}
	}
}

func TestGeminiLatencyAndPacing(t *testing.T) {
	ms := time.Millisecond
	var rec sleepRecorder
	m := New(WithSleep(rec.sleep))
	t.Cleanup(m.Close)
	mustSet(t, m, Behavior{Latency: 1 * ms, TimeToFirstChunk: 2 * ms, ChunkDelay: 3 * ms, Reply: "a b"})
	if r := serveGeminiReq(m, t.Context(), geminiPath(geminiModel, "generateContent"), geminiBody("hi", "")); r.Code != 200 {
		t.Fatalf("status %d", r.Code)
	}
	if got := rec.take(); !slices.Equal(got, []time.Duration{1 * ms}) {
		t.Errorf("non-streaming delays %v", got)
	}
	serveGeminiReq(m, t.Context(), geminiPath(geminiModel, "streamGenerateContent")+"?alt=sse", geminiBody("hi", ""))
	// chunks: "a", " b", last
	if got, want := rec.take(), []time.Duration{1 * ms, 2 * ms, 3 * ms, 3 * ms}; !slices.Equal(got, want) {
		t.Errorf("stream delays %v, want %v", got, want)
	}
}

func TestGeminiFailures(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{0, "INTERNAL"},
		{503, "UNAVAILABLE"},
		{504, "DEADLINE_EXCEEDED"},
		{400, "INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		m := New()
		t.Cleanup(m.Close)
		mustSet(t, m, Behavior{FailPercent: 100, FailStatus: tt.status})
		rec := serveGeminiReq(m, t.Context(), geminiPath(geminiModel, "generateContent"), geminiBody("hi", ""))
		var e gmError
		decodeJSON(t, rec.Body.Bytes(), &e)
		wantCode := max(tt.status, 500)
		if tt.status == 400 {
			wantCode = 400
		}
		if rec.Code != wantCode || e.Error == nil || e.Error.Code != wantCode || e.Error.Status != tt.want || e.Error.Message == "" {
			t.Errorf("FailStatus %d: %d %s", tt.status, rec.Code, rec.Body)
		}
	}
}

func TestGeminiRateLimit(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&t0)
	m := New(WithNow(func() time.Time { return *clock.Load() }))
	t.Cleanup(m.Close)
	call := func() (*httptest.ResponseRecorder, gmError) {
		rec := serveGeminiReq(m, t.Context(), geminiPath(geminiModel, "generateContent"), geminiBody("hi", ""))
		var e gmError
		if rec.Code != http.StatusOK {
			decodeJSON(t, rec.Body.Bytes(), &e)
		}
		return rec, e
	}
	check := func(what string, rec *httptest.ResponseRecorder, e gmError, retryAfter, retryDelay string) {
		t.Helper()
		if rec.Code != http.StatusTooManyRequests || e.Error == nil || e.Error.Status != "RESOURCE_EXHAUSTED" || e.Error.Code != 429 {
			t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Retry-After"); got != retryAfter {
			t.Errorf("%s: retry-after %q, want %q", what, got, retryAfter)
		}
		if got, _ := e.detail("RetryInfo")["retryDelay"].(string); got != retryDelay {
			t.Errorf("%s: retryDelay %q, want %q in %s", what, got, retryDelay, rec.Body)
		}
		if e.detail("QuotaFailure") == nil {
			t.Errorf("%s: no QuotaFailure in %s", what, rec.Body)
		}
	}

	mustSet(t, m, Behavior{RateLimitWindows: []Window{{Start: t0, Duration: 10 * time.Second}}})
	later := t0.Add(7*time.Second + 500*time.Millisecond)
	clock.Store(&later)
	rec, e := call()
	check("window", rec, e, "3", "2.500s")
	after := t0.Add(10 * time.Second)
	clock.Store(&after)
	if rec, _ := call(); rec.Code != http.StatusOK {
		t.Errorf("after the window: %d", rec.Code)
	}

	mustSet(t, m, Behavior{RateLimitNext: 1, RetryAfter: 3 * time.Second})
	rec, e = call()
	check("next", rec, e, "3", "3s")
	if rec, _ := call(); rec.Code != http.StatusOK {
		t.Errorf("after RateLimitNext: %d", rec.Code)
	}
}

func TestGeminiHang(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	mustSet(t, srv.Mock, Behavior{Hang: true})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		resp, err := testClient.Do(newGeminiRequest(ctx, srv.URL, geminiPath(geminiModel, "generateContent"), testKey, geminiBody("hi", "")))
		if err == nil {
			resp.Body.Close()
			err = errors.New("answered: " + resp.Status)
		}
		errc <- err
	}()
	testkit.Eventually(t, 5*time.Second, "the request to reach the mock", func() bool { return srv.InFlight() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	testkit.Eventually(t, 5*time.Second, "the handler to return", func() bool { return srv.InFlight() == 0 })
	if got := srv.Stats().Canceled; got != 1 {
		t.Errorf("canceled %d", got)
	}
}

func TestGeminiCloseAfterChunks(t *testing.T) {
	srv := StartServer(t)
	mustSet(t, srv.Mock, Behavior{CloseAfterChunks: 2, Reply: "one two three four"})
	path := geminiPath(geminiModel, "streamGenerateContent") + "?alt=sse"
	resp := openStream(t, newGeminiRequest(t.Context(), srv.URL, path, testKey, geminiBody("hi", "")))
	s, err := readGeminiSSE(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("stream error %v, want unexpected EOF", err)
	}
	if s.Chunks != 2 || s.Text != "one two" || s.FinishReason != "" {
		t.Errorf("before the cut: %+v", s)
	}
	if got := srv.Stats().Cut; got != 1 {
		t.Errorf("cut %d", got)
	}
}

func TestGeminiEmbeddings(t *testing.T) {
	m := New(WithEmbeddingDimensions(64))
	t.Cleanup(m.Close)
	rec := serveGeminiReq(m, t.Context(), geminiPath("gemini-embedding-001", "embedContent"),
		`{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"hello"},{"text":"world"}]},"taskType":"RETRIEVAL_QUERY"}`)
	var one struct {
		Embedding struct {
			Values []float32 `json:"values"`
		} `json:"embedding"`
	}
	decodeJSON(t, rec.Body.Bytes(), &one)
	if rec.Code != http.StatusOK || !slices.Equal(one.Embedding.Values, EmbedText("hello world", 64)) {
		t.Errorf("embedContent: %d %s", rec.Code, truncate(rec.Body.Bytes()))
	}

	rec = serveGeminiReq(m, t.Context(), geminiPath("gemini-embedding-001", "batchEmbedContents"),
		`{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a cat"}]},"outputDimensionality":8},`+
			`{"content":{"parts":[{"text":"a dog"}]}}]}`)
	var batch struct {
		Embeddings []struct {
			Values []float32 `json:"values"`
		} `json:"embeddings"`
	}
	decodeJSON(t, rec.Body.Bytes(), &batch)
	if rec.Code != http.StatusOK || len(batch.Embeddings) != 2 ||
		!slices.Equal(batch.Embeddings[0].Values, EmbedText("a cat", 8)) ||
		!slices.Equal(batch.Embeddings[1].Values, EmbedText("a dog", 64)) {
		t.Errorf("batchEmbedContents: %d %s", rec.Code, truncate(rec.Body.Bytes()))
	}
	stats := m.Stats()
	if stats.ByEndpoint[EndpointEmbedContent] != 1 || stats.ByEndpoint[EndpointBatchEmbedContents] != 1 {
		t.Errorf("stats %+v", stats.ByEndpoint)
	}
}

func TestGeminiModels(t *testing.T) {
	srv := StartServer(t, WithModels(geminiModel, "gemini-embedding-001"))
	req := newGeminiRequest(t.Context(), srv.URL, "/v1beta/models?key="+testKey, "", "")
	status, _, raw := do(t, req)
	var list struct {
		Models []struct {
			Name                       string   `json:"name"`
			DisplayName                string   `json:"displayName"`
			SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
		} `json:"models"`
	}
	decodeJSON(t, raw, &list)
	if status != http.StatusOK || len(list.Models) != 2 || list.Models[0].Name != "models/"+geminiModel ||
		list.Models[1].DisplayName != "gemini-embedding-001" || !slices.Contains(list.Models[0].SupportedGenerationMethods, "generateContent") {
		t.Errorf("models %d %s", status, raw)
	}
	want := map[Endpoint]int64{EndpointGeminiModels: 1}
	if got := srv.Stats().ByEndpoint; !maps.Equal(got, want) {
		t.Errorf("stats %v", got)
	}
}

func TestAppendProtoDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{2 * time.Second, "2s"},
		{1500 * time.Millisecond, "1.500s"},
		{time.Second + 250*time.Microsecond, "1.000250s"},
		{time.Nanosecond, "0.000000001s"},
	}
	for _, tt := range tests {
		if got := string(appendProtoDuration(nil, tt.d)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.d, got, tt.want)
		}
	}
}

// FuzzGeminiRequest feeds arbitrary bodies to the Gemini endpoints: the mock must
// never panic and must answer 200 or a 4xx in Gemini's error shape.
func FuzzGeminiRequest(f *testing.F) {
	for _, s := range []string{
		geminiBody("hello", ""),
		geminiBody("hello", `,"generationConfig":{"maxOutputTokens":1}`),
		`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"a":1}}}]}]}`,
		`{"content":{"parts":[{"text":"a"}]},"outputDimensionality":3}`,
		`{"requests":[{"content":{"parts":[{"text":"a"}]}}]}`,
		`{"contents":[{"parts":[{}]}]}`, `null`, `[]`, `{`, ``, `{"contents":{}}`,
	} {
		f.Add(s)
	}
	m := New(WithRequestLog(1), WithEmbeddingDimensions(4))
	f.Cleanup(m.Close)
	mustSetF(f, m, Behavior{Script: testScript, ScriptMode: ScriptByToolResults})
	paths := []string{
		geminiPath(geminiModel, "generateContent"),
		geminiPath(geminiModel, "streamGenerateContent") + "?alt=sse",
		geminiPath(geminiModel, "embedContent"),
		geminiPath(geminiModel, "batchEmbedContents"),
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range paths {
			rec := serveGeminiReq(m, context.Background(), path, body+" ")
			if rec.Code == http.StatusOK {
				continue
			}
			if rec.Code < 400 || rec.Code > 499 {
				t.Fatalf("%s: status %d for %q: %s", path, rec.Code, body, rec.Body)
			}
			var e gmError
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == nil || e.Error.Code != rec.Code ||
				e.Error.Status == "" || e.Error.Message == "" {
				t.Fatalf("%s: error body %q is not Gemini-shaped", path, rec.Body)
			}
		}
	})
}
