package llmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Google Gemini API (generativelanguage.googleapis.com/v1beta):
// POST /v1beta/models/{model}:generateContent, :streamGenerateContent (SSE with
// alt=sse, else a streamed JSON array), :embedContent and :batchEmbedContents, and
// GET /v1beta/models.

// geminiWire is the Gemini API's wire format: the key in x-goog-api-key or the key
// query parameter, errors shaped {"error":{"code","message","status","details"}}.
type geminiWire struct{}

var _ wire = geminiWire{}

func (geminiWire) apiKey(r *http.Request) string {
	if key := r.Header.Get("X-Goog-Api-Key"); key != "" {
		return key
	}
	if strings.Contains(r.URL.RawQuery, "key=") {
		return r.URL.Query().Get("key")
	}
	return ""
}

// requestIDHeader: Gemini documents no request id header; the mock sends the
// common X-Request-Id (the body's responseId identifies a response).
func (geminiWire) requestIDHeader() string { return "X-Request-Id" }

func (geminiWire) requestIDPrefix() string { return "req_" }

// geminiReasonKeyInvalid is the ErrorInfo reason of a rejected API key; as an apiError
// code it makes the error body carry that ErrorInfo.
const geminiReasonKeyInvalid = "API_KEY_INVALID"

// authError answers as Google does: a missing key is 403 PERMISSION_DENIED, an
// unknown one 400 INVALID_ARGUMENT with the API_KEY_INVALID reason (not 401).
func (geminiWire) authError(key string) *apiError {
	if key == "" {
		return &apiError{status: http.StatusForbidden, message: "Method doesn't allow unregistered callers " +
			"(callers without established identity). Please use API Key or other form of API consumer identity to call this API."}
	}
	return &apiError{status: http.StatusBadRequest, message: "API key not valid. Please pass a valid API key.",
		code: geminiReasonKeyInvalid}
}

// geminiStatus is the google.rpc status name Google reports with an HTTP status.
func geminiStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// appendError writes {"error":{"code","message","status"}} with the details Google
// adds: ErrorInfo for a bad key, QuotaFailure on 429, RetryInfo when the mock
// advertises a retry delay.
func (geminiWire) appendError(dst []byte, e *apiError) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = appendInt(dst, e.status)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, e.message)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, geminiStatus(e.status)...)
	dst = append(dst, '"')
	var details [][]byte
	if e.code == geminiReasonKeyInvalid {
		details = append(details, []byte(`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID",`+
			`"domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}`))
	}
	if e.status == http.StatusTooManyRequests {
		details = append(details, []byte(`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[`+
			`{"quotaMetric":"generativelanguage.googleapis.com/generate_content_requests",`+
			`"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]}`))
	}
	if e.retryAfter > 0 {
		d := append([]byte(`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"`), appendProtoDuration(nil, e.retryAfter)...)
		details = append(details, append(d, `"}`...))
	}
	if len(details) > 0 {
		dst = append(dst, `,"details":[`...)
		dst = append(dst, bytes.Join(details, []byte{','})...)
		dst = append(dst, ']')
	}
	return append(dst, "}}"...)
}

// appendProtoDuration appends d as a protobuf JSON Duration: seconds with 0, 3, 6 or 9
// fractional digits and an "s" ("2s", "1.500s").
func appendProtoDuration(dst []byte, d time.Duration) []byte {
	dst = strconv.AppendInt(dst, int64(d/time.Second), 10)
	nanos := int64(d % time.Second)
	switch {
	case nanos == 0:
	case nanos%1e6 == 0:
		dst = append(dst, '.')
		dst = append(dst, fmt.Sprintf("%03d", nanos/1e6)...)
	case nanos%1e3 == 0:
		dst = append(dst, '.')
		dst = append(dst, fmt.Sprintf("%06d", nanos/1e3)...)
	default:
		dst = append(dst, '.')
		dst = append(dst, fmt.Sprintf("%09d", nanos)...)
	}
	return append(dst, 's')
}

// The Gemini endpoints. Their paths carry the model, so route matches them after the
// exact paths.
var (
	geminiModelsEndpoint = &endpoint{index: indexGeminiModels, method: http.MethodGet, wire: geminiWire{}, serve: (*Mock).serveGeminiModels}
	geminiMethods        = map[string]*endpoint{
		"generateContent":       {index: indexGenerateContent, method: http.MethodPost, wire: geminiWire{}, serve: (*Mock).serveGenerateContent},
		"streamGenerateContent": {index: indexStreamGenerateContent, method: http.MethodPost, wire: geminiWire{}, serve: (*Mock).serveStreamGenerateContent},
		"embedContent":          {index: indexEmbedContent, method: http.MethodPost, wire: geminiWire{}, serve: (*Mock).serveEmbedContent},
		"batchEmbedContents":    {index: indexBatchEmbedContents, method: http.MethodPost, wire: geminiWire{}, serve: (*Mock).serveBatchEmbedContents},
	}
	// geminiUnknownEndpoint answers other /v1beta/ paths with a 404 in Gemini's shape.
	geminiUnknownEndpoint = &endpoint{index: indexUnknown, wire: geminiWire{}}
)

// geminiPathPrefix starts every Gemini path the mock serves.
const geminiPathPrefix = "/v1beta/"

// routeGemini returns the endpoint serving a Gemini path, nil when path is not one.
func routeGemini(path string) *endpoint {
	rest, ok := strings.CutPrefix(path, geminiPathPrefix)
	if !ok {
		return nil
	}
	if rest == "models" {
		return geminiModelsEndpoint
	}
	if model, method, ok := geminiModelMethod(path); ok && model != "" {
		if ep := geminiMethods[method]; ep != nil {
			return ep
		}
	}
	return geminiUnknownEndpoint
}

// geminiModelMethod splits "/v1beta/models/{model}:{method}".
func geminiModelMethod(path string) (model, method string, ok bool) {
	name, ok := strings.CutPrefix(path, geminiPathPrefix+"models/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(name, ':')
	if i < 0 || strings.IndexByte(name[:i], '/') >= 0 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// geminiRequest is a GenerateContentRequest. Unknown top-level fields, and unknown
// fields of contents and parts, are rejected as the API rejects them; the fields the
// mock does not model are kept raw (and not checked). Both the lowerCamel and the
// snake_case spellings are accepted, as the API accepts both.
type geminiRequest struct {
	Model                  json.RawMessage `json:"model"`
	Contents               []geminiContent `json:"contents"`
	SystemInstruction      *geminiContent  `json:"systemInstruction"`
	SystemInstructionSnake *geminiContent  `json:"system_instruction"`
	GenerationConfig       json.RawMessage `json:"generationConfig"` // a geminiGenConfig, not checked
	GenerationConfigSnake  json.RawMessage `json:"generation_config"`
	Tools                  json.RawMessage `json:"tools"`
	ToolConfig             json.RawMessage `json:"toolConfig"`
	ToolConfigSnake        json.RawMessage `json:"tool_config"`
	SafetySettings         json.RawMessage `json:"safetySettings"`
	SafetySettingsSnake    json.RawMessage `json:"safety_settings"`
	CachedContent          json.RawMessage `json:"cachedContent"`
	CachedContentSnake     json.RawMessage `json:"cached_content"`
}

type geminiContent struct {
	Role  string       `json:"role"`
	Parts []geminiPart `json:"parts"`
}

// geminiPart is one member of Part's data oneof, plus the part's metadata.
type geminiPart struct {
	Text                  *string                 `json:"text"`
	FunctionCall          *geminiFunctionCall     `json:"functionCall"`
	FunctionCallSnake     *geminiFunctionCall     `json:"function_call"`
	FunctionResponse      *geminiFunctionResponse `json:"functionResponse"`
	FunctionResponseSnake *geminiFunctionResponse `json:"function_response"`
	InlineData            json.RawMessage         `json:"inlineData"`
	InlineDataSnake       json.RawMessage         `json:"inline_data"`
	FileData              json.RawMessage         `json:"fileData"`
	FileDataSnake         json.RawMessage         `json:"file_data"`
	ExecutableCode        json.RawMessage         `json:"executableCode"`
	ExecutableCodeSnake   json.RawMessage         `json:"executable_code"`
	CodeExecResult        json.RawMessage         `json:"codeExecutionResult"`
	CodeExecResultSnake   json.RawMessage         `json:"code_execution_result"`
	Thought               json.RawMessage         `json:"thought"`
	ThoughtSignature      json.RawMessage         `json:"thoughtSignature"`
	ThoughtSignatureSnake json.RawMessage         `json:"thought_signature"`
	VideoMetadata         json.RawMessage         `json:"videoMetadata"`
	VideoMetadataSnake    json.RawMessage         `json:"video_metadata"`
	PartMetadata          json.RawMessage         `json:"partMetadata"`
	PartMetadataSnake     json.RawMessage         `json:"part_metadata"`
}

type geminiFunctionCall struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type geminiFunctionResponse struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Response     json.RawMessage `json:"response"`
	Parts        json.RawMessage `json:"parts"`
	WillContinue json.RawMessage `json:"willContinue"`
	Scheduling   json.RawMessage `json:"scheduling"`
}

// geminiGenConfig holds the generation settings the mock reads; the others are
// ignored (not checked).
type geminiGenConfig struct {
	MaxOutputTokens      *int `json:"maxOutputTokens"`
	MaxOutputTokensSnake *int `json:"max_output_tokens"`
}

func (p *geminiPart) functionCall() *geminiFunctionCall {
	if p.FunctionCall != nil {
		return p.FunctionCall
	}
	return p.FunctionCallSnake
}

func (p *geminiPart) functionResponse() *geminiFunctionResponse {
	if p.FunctionResponse != nil {
		return p.FunctionResponse
	}
	return p.FunctionResponseSnake
}

// hasData reports whether the part's data oneof is set.
func (p *geminiPart) hasData() bool {
	return p.Text != nil || p.functionCall() != nil || p.functionResponse() != nil ||
		p.InlineData != nil || p.InlineDataSnake != nil || p.FileData != nil || p.FileDataSnake != nil ||
		p.ExecutableCode != nil || p.ExecutableCodeSnake != nil || p.CodeExecResult != nil || p.CodeExecResultSnake != nil
}

// decodeGeminiBody decodes the request body into v as decodeGemini does;
// false after answering with the error.
func (x *exchange) decodeGeminiBody(v any) bool {
	if apiErr := decodeGemini(x.body, v); apiErr != nil {
		x.fail(apiErr)
		return false
	}
	return true
}

// decodeGemini decodes body into v, rejecting unknown fields, with errors worded as
// Google's.
func decodeGemini(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON object")
	}
	if err == nil {
		return nil
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return newAPIError(http.StatusBadRequest, "Invalid JSON payload received. Unknown name %s: Cannot find field.", name)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return newAPIError(http.StatusBadRequest, "Invalid value at '%s' (%s), %s", field, typeErr.Type, typeErr.Value)
	}
	return newAPIError(http.StatusBadRequest, "Invalid JSON payload received. %v", err)
}

// geminiModelNotFound returns the 404 of method for a model the mock does
// not serve.
func geminiModelNotFound(method string) func(model string) *apiError {
	return func(model string) *apiError {
		return newAPIError(http.StatusNotFound, "models/%s is not found for API version v1beta, or is not supported for %s. "+
			"Call ListModels to see the list of available models and their supported methods.", model, method)
	}
}

// serveGenerateContent answers POST /v1beta/models/{model}:generateContent.
func (m *Mock) serveGenerateContent(x *exchange) { m.serveGemini(x, false) }

// serveStreamGenerateContent answers POST /v1beta/models/{model}:streamGenerateContent:
// server-sent events with alt=sse, otherwise a JSON array streamed element by element.
func (m *Mock) serveStreamGenerateContent(x *exchange) { m.serveGemini(x, true) }

func (m *Mock) serveGemini(x *exchange, stream bool) {
	model, method, _ := geminiModelMethod(x.r.URL.Path)
	sse := false
	if stream {
		switch alt := x.r.URL.Query().Get("alt"); alt {
		case "sse":
			sse = true
		case "", "json":
		default:
			x.fail(newAPIError(http.StatusBadRequest, "Invalid value at 'alt' (type.googleapis.com/system_parameter.Alt), %q", alt))
			return
		}
	}
	var req geminiRequest
	if !x.decodeGeminiBody(&req) {
		return
	}
	pr, apiErr := req.prompt(model, x.profile.needsLastUserText())
	pr.stream = stream
	m.answerChat(x, pr, apiErr, geminiModelNotFound(method),
		func(pr *prompt, r *reply) { x.streamGemini(pr, r, sse) }, x.appendGeminiResponse)
}

// prompt validates the request as the real API does and summarises it.
func (req *geminiRequest) prompt(model string, wantLastUser bool) (prompt, *apiError) {
	if len(req.Contents) == 0 {
		return prompt{}, newAPIError(http.StatusBadRequest, "* GenerateContentRequest.contents: contents is not specified\n")
	}
	pr := prompt{model: model}
	for _, raw := range []json.RawMessage{req.GenerationConfig, req.GenerationConfigSnake} {
		if raw == nil {
			continue
		}
		var gc geminiGenConfig
		if err := json.Unmarshal(raw, &gc); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return prompt{}, newAPIError(http.StatusBadRequest, "Invalid value at 'generation_config.%s' (%s), %s",
					typeErr.Field, typeErr.Type, typeErr.Value)
			}
			return prompt{}, newAPIError(http.StatusBadRequest, "Invalid value at 'generation_config': %v", err)
		}
		for _, limit := range []*int{gc.MaxOutputTokens, gc.MaxOutputTokensSnake} {
			switch {
			case limit == nil:
			case *limit < 0:
				return prompt{}, newAPIError(http.StatusBadRequest,
					"* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n")
			case *limit > 0:
				pr.maxTokens = *limit
			}
		}
	}
	for _, sys := range []*geminiContent{req.SystemInstruction, req.SystemInstructionSnake} {
		if sys == nil {
			continue
		}
		for i := range sys.Parts {
			if t := sys.Parts[i].Text; t != nil {
				pr.inputTokens += countTokens(*t)
			}
		}
	}
	lastUser := -1
	inToolRun := false
	for i := range req.Contents {
		c := &req.Contents[i]
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return prompt{}, newAPIError(http.StatusBadRequest, "Please use a valid role: user, model.")
		}
		if len(c.Parts) == 0 {
			return prompt{}, newAPIError(http.StatusBadRequest,
				"* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.\n", i)
		}
		hasText, toolResults := false, false
		for j := range c.Parts {
			p := &c.Parts[j]
			if !p.hasData() {
				return prompt{}, newAPIError(http.StatusBadRequest,
					"* GenerateContentRequest.contents[%d].parts[%d].data: required oneof field 'data' must have one initialized field\n", i, j)
			}
			if p.Text != nil {
				pr.inputTokens += countTokens(*p.Text)
				hasText = true
			}
			if fc := p.functionCall(); fc != nil {
				pr.inputTokens += countTokens(fc.Name) + countTokens(string(fc.Args))
			}
			if fr := p.functionResponse(); fr != nil {
				pr.inputTokens += countTokens(string(fr.Response))
				toolResults = true
			}
		}
		if c.Role != "model" && hasText {
			lastUser = i
		}
		if toolResults && !inToolRun {
			pr.toolRounds++
		}
		inToolRun = toolResults
	}
	if wantLastUser && lastUser >= 0 {
		pr.lastUserText = partsText(req.Contents[lastUser].Parts, '\n')
	}
	return pr, nil
}

// geminiFinishReason maps a finish reason to Gemini's vocabulary; Gemini ends a turn
// of function calls with STOP.
func geminiFinishReason(f finishReason) string {
	if f == finishLength {
		return "MAX_TOKENS"
	}
	return "STOP"
}

// appendGeminiUsage appends usageMetadata; candidatesTokenCount is left out when
// completion is negative (the chunks before the last of a stream).
func appendGeminiUsage(dst []byte, promptTokens, completionTokens int) []byte {
	dst = append(dst, `{"promptTokenCount":`...)
	dst = appendInt(dst, promptTokens)
	if completionTokens >= 0 {
		dst = append(dst, `,"candidatesTokenCount":`...)
		dst = appendInt(dst, completionTokens)
	}
	dst = append(dst, `,"totalTokenCount":`...)
	dst = appendInt(dst, promptTokens+max(completionTokens, 0))
	dst = append(dst, `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`...)
	dst = appendInt(dst, promptTokens)
	return append(dst, "}]}"...)
}

// appendGeminiFunctionCall appends a functionCall part; the id is sent only when the
// script gave one (Gemini usually sends none).
func appendGeminiFunctionCall(dst []byte, c *ToolCall) []byte {
	dst = append(dst, `{"functionCall":{`...)
	if c.ID != "" {
		dst = append(dst, `"id":`...)
		dst = appendJSONString(dst, c.ID)
		dst = append(dst, ',')
	}
	dst = append(dst, `"name":`...)
	dst = appendJSONString(dst, c.Name)
	dst = append(dst, `,"args":`...)
	dst = append(dst, c.arguments()...) // validated JSON object
	return append(dst, "}}"...)
}

// appendCandidateHead appends a response object up to the parts list, included.
func appendCandidateHead(dst []byte) []byte {
	return append(dst, `{"candidates":[{"content":{"parts":[`...)
}

// appendCandidateTail closes the parts list and the response: finish reason (when
// not empty), usage, model version and response id.
func (x *exchange) appendCandidateTail(dst []byte, pr *prompt, finish string, completionTokens int) []byte {
	dst = append(dst, `],"role":"model"}`...)
	if finish != "" {
		dst = append(dst, `,"finishReason":"`...)
		dst = append(dst, finish...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"index":0}],"usageMetadata":`...)
	dst = appendGeminiUsage(dst, pr.inputTokens, completionTokens)
	dst = append(dst, `,"modelVersion":`...)
	dst = appendJSONString(dst, pr.model)
	dst = append(dst, `,"responseId":"`...)
	dst = appendID(dst, "", x.m.cfg.seed, x.seq, 0)
	return append(dst, `"}`...)
}

// appendGeminiResponse appends the non-streaming GenerateContentResponse.
func (x *exchange) appendGeminiResponse(dst []byte, pr *prompt, r *reply) []byte {
	dst = appendCandidateHead(dst)
	if r.hasTextBlock() {
		dst = append(dst, `{"text":`...)
		dst = appendJSONString(dst, r.text)
		dst = append(dst, '}')
	}
	for i := range r.calls {
		if i > 0 || r.hasTextBlock() {
			dst = append(dst, ',')
		}
		dst = appendGeminiFunctionCall(dst, &r.calls[i])
	}
	return x.appendCandidateTail(dst, pr, geminiFinishReason(r.finish), r.outputTokens)
}

// streamGemini streams the reply as GenerateContentResponse chunks: one per word of
// text, one per (complete) function call, then a last chunk with an empty text, the
// finish reason and the full usage. The chunks before the last carry only the prompt
// usage. With sse each chunk is a "data:" event ending in CRLF CRLF, as Google sends
// them, and nothing follows the last; otherwise the chunks are the elements of one
// JSON array.
func (x *exchange) streamGemini(pr *prompt, r *reply, sse bool) {
	var s *sseStream
	if sse {
		s = x.beginStream()
	} else {
		s = &sseStream{x: x, rc: http.NewResponseController(x.w), array: true}
		x.writeHead(http.StatusOK, jsonContentType)
		s.flush()
	}
	first := true
	begin := func() {
		switch {
		case sse:
			x.out = append(x.out[:0], "data: "...)
		case first:
			x.out = append(x.out[:0], '[')
		default:
			x.out = append(x.out[:0], ",\r\n"...)
		}
		first = false
		x.out = appendCandidateHead(x.out)
	}
	end := func(finish string, completionTokens int) []byte {
		x.out = x.appendCandidateTail(x.out, pr, finish, completionTokens)
		switch {
		case sse:
			x.out = append(x.out, "\r\n\r\n"...)
		case finish != "":
			x.out = append(x.out, ']')
		}
		return x.out
	}
	for rest := r.text; rest != ""; {
		var piece string
		piece, rest = nextWordPiece(rest)
		begin()
		x.out = append(x.out, `{"text":`...)
		x.out = appendJSONString(x.out, piece)
		x.out = append(x.out, '}')
		if !s.send(end("", -1)) {
			return
		}
	}
	for i := range r.calls {
		begin()
		x.out = appendGeminiFunctionCall(x.out, &r.calls[i])
		if !s.send(end("", -1)) {
			return
		}
	}
	begin()
	x.out = append(x.out, `{"text":""}`...)
	s.send(end(geminiFinishReason(r.finish), r.outputTokens))
}

// Embeddings.

// serveGeminiModels answers GET /v1beta/models with every configured model, in one
// page (pageSize and pageToken are ignored).
func (m *Mock) serveGeminiModels(x *exchange) {
	if !x.admit() {
		return
	}
	x.out = append(x.out[:0], `{"models":[`...)
	for i, id := range m.cfg.models {
		if i > 0 {
			x.out = append(x.out, ',')
		}
		x.out = append(x.out, `{"name":`...)
		x.out = appendJSONString(x.out, "models/"+id)
		x.out = append(x.out, `,"version":"001","displayName":`...)
		x.out = appendJSONString(x.out, id)
		x.out = append(x.out, `,"description":"llmtest mock model","inputTokenLimit":1048576,"outputTokenLimit":65536,`+
			`"supportedGenerationMethods":["generateContent","embedContent","batchEmbedContents"]}`...)
	}
	x.out = append(x.out, "]}"...)
	x.writeJSON(http.StatusOK, x.out)
}

// partsText returns the texts of parts joined by sep.
func partsText(parts []geminiPart, sep byte) string {
	var b strings.Builder
	for _, p := range parts {
		if p.Text == nil {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(*p.Text)
	}
	return b.String()
}
