package llm

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/anthropic"
	"github.com/junctionhq/junction/llm/provider/openai"
)

// clientFormat is the wire format a client speaks to Junction: OpenAI's chat
// completions or Anthropic's messages. The handler is written once over it.
type clientFormat interface {
	// name is the chat.Format* a Forwarder takes as is.
	name() string
	decode(body []byte) (*chat.Request, error)
	appendResponse(dst []byte, resp *chat.Response, model string) []byte
	newEncoder(model string, includeUsage bool) streamEncoder
	writeError(w http.ResponseWriter, r *http.Request, err error)
	// prepare turns the client's body into the upstream body for a
	// pass-through: the model replaced, usage requested in streams.
	prepare(body []byte, h *chatHead, model string) ([]byte, error)
	// responseUsage reads the usage of a passed-through JSON response.
	responseUsage(body []byte) chat.Usage
	// eventUsage inspects one passed-through SSE event: it updates u when the
	// event carries usage and reports whether to forward the event.
	eventUsage(ev []byte, u *chat.Usage, includeUsage bool) (forward bool)
	// appendStreamError is an in-band error event, after the 200 was sent.
	appendStreamError(dst []byte, e *apiError) []byte
}

// streamEncoder writes canonical chunks in the client's stream format.
type streamEncoder interface {
	Append(dst []byte, c *chat.Chunk) []byte
	Finish(dst []byte, u *chat.Usage) []byte
}

type openAIFormat struct{}

func (openAIFormat) name() string                              { return chat.FormatOpenAI }
func (openAIFormat) decode(body []byte) (*chat.Request, error) { return openai.DecodeChatRequest(body) }
func (openAIFormat) appendResponse(dst []byte, resp *chat.Response, model string) []byte {
	return openai.AppendChatResponse(dst, resp, model)
}
func (openAIFormat) newEncoder(model string, includeUsage bool) streamEncoder {
	return &openAIEncoder{model: model, includeUsage: includeUsage}
}
func (openAIFormat) writeError(w http.ResponseWriter, r *http.Request, err error) {
	WriteOpenAIError(w, r, err)
}
func (openAIFormat) prepare(body []byte, h *chatHead, model string) ([]byte, error) {
	out, err := h.patchModel(body, model)
	if err != nil || !h.Stream {
		return out, err
	}
	// The model splice moved the offsets, so rescan only when the edit
	// cannot be done at the front.
	return h.ensureStreamUsage(out)
}

// openAIUsage is the usage object of OpenAI's responses and chunks.
type openAIUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

func (u *openAIUsage) canonical() chat.Usage {
	out := chat.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		out.CachedTokens = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		out.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}

func (openAIFormat) responseUsage(body []byte) chat.Usage {
	// The usage object comes last in OpenAI's responses: decode just it
	// rather than the whole body.
	if obj := lastObjectAfter(body, `"usage"`); obj != nil {
		if u, ok := scanOpenAIUsage(obj); ok {
			return u
		}
		var u openAIUsage
		if json.Unmarshal(obj, &u) == nil {
			return u.canonical()
		}
	}
	var v struct {
		Usage *openAIUsage `json:"usage"`
	}
	if json.Unmarshal(body, &v) != nil || v.Usage == nil {
		return chat.Usage{}
	}
	return v.Usage.canonical()
}

// scanOpenAIUsage reads the counts of a usage object without reflection:
// the key names are unique within it, so each is found by a plain search.
func scanOpenAIUsage(obj []byte) (chat.Usage, bool) {
	var u chat.Usage
	var ok bool
	if u.PromptTokens, ok = intAfter(obj, `"prompt_tokens"`); !ok {
		return u, false
	}
	if u.CompletionTokens, ok = intAfter(obj, `"completion_tokens"`); !ok {
		return u, false
	}
	u.CachedTokens, _ = intAfter(obj, `"cached_tokens"`)
	u.ReasoningTokens, _ = intAfter(obj, `"reasoning_tokens"`)
	return u, true
}

// intAfter reads the integer value of key in obj.
func intAfter(obj []byte, key string) (int64, bool) {
	i := bytes.Index(obj, []byte(key))
	if i < 0 {
		return 0, false
	}
	j := i + len(key)
	for j < len(obj) && (obj[j] == ' ' || obj[j] == ':' || obj[j] == '\n' || obj[j] == '\t' || obj[j] == '\r') {
		j++
	}
	start := j
	for j < len(obj) && obj[j] >= '0' && obj[j] <= '9' {
		j++
	}
	if j == start || j-start > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(obj[start:j]), 10, 64)
	return n, err == nil
}

// lastObjectAfter finds the last occurrence of key in body followed by a
// colon and a JSON object, and returns that object's bytes (nil when there
// is none; the caller then decodes the whole body).
func lastObjectAfter(body []byte, key string) []byte {
	i := bytes.LastIndex(body, []byte(key))
	if i < 0 {
		return nil
	}
	j := i + len(key)
	for j < len(body) && (body[j] == ' ' || body[j] == ':' || body[j] == '\n' || body[j] == '\t' || body[j] == '\r') {
		j++
	}
	if j >= len(body) || body[j] != '{' {
		return nil
	}
	depth := 0
	for k := j; k < len(body); k++ {
		switch body[k] {
		case '"':
			for k++; k < len(body) && body[k] != '"'; k++ {
				if body[k] == '\\' {
					k++
				}
			}
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return body[j : k+1]
			}
		}
	}
	return nil
}

var usageObject = []byte(`"usage":{`)
var usageObjectSpaced = []byte(`"usage": {`)

func (openAIFormat) eventUsage(ev []byte, u *chat.Usage, includeUsage bool) bool {
	if !bytes.Contains(ev, usageObject) && !bytes.Contains(ev, usageObjectSpaced) {
		return true
	}
	data := sseData(ev)
	var v struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   *openAIUsage      `json:"usage"`
	}
	if json.Unmarshal(data, &v) != nil || v.Usage == nil {
		return true
	}
	*u = v.Usage.canonical()
	// The usage-only chunk (no choices) goes to the client only when it asked.
	return includeUsage || len(v.Choices) > 0
}

func (openAIFormat) appendStreamError(dst []byte, e *apiError) []byte {
	dst = append(dst, "data: "...)
	dst = openai.AppendError(dst, e.Status, e.Type, e.Code, e.Param, e.Message)
	return append(dst, "\n\n"...)
}

type openAIEncoder struct {
	model        string
	includeUsage bool
}

func (e *openAIEncoder) Append(dst []byte, c *chat.Chunk) []byte {
	if c.Usage != nil && !e.includeUsage && c.Content == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" {
		return dst
	}
	if c.Usage != nil && !e.includeUsage {
		cc := *c
		cc.Usage = nil
		return openai.AppendChunk(dst, &cc, e.model)
	}
	return openai.AppendChunk(dst, c, e.model)
}

func (e *openAIEncoder) Finish(dst []byte, _ *chat.Usage) []byte { return openai.AppendDone(dst) }

type anthropicFormat struct{}

func (anthropicFormat) name() string { return chat.FormatAnthropic }
func (anthropicFormat) decode(body []byte) (*chat.Request, error) {
	return anthropic.DecodeMessagesRequest(body)
}
func (anthropicFormat) appendResponse(dst []byte, resp *chat.Response, model string) []byte {
	return anthropic.AppendMessagesResponse(dst, resp, model)
}
func (anthropicFormat) newEncoder(model string, _ bool) streamEncoder {
	return anthropic.NewStreamEncoder(model)
}
func (anthropicFormat) writeError(w http.ResponseWriter, r *http.Request, err error) {
	WriteAnthropicError(w, r, err)
}
func (anthropicFormat) prepare(body []byte, h *chatHead, model string) ([]byte, error) {
	return h.patchModel(body, model)
}

// anthropicUsage is the usage object of Anthropic's messages and events.
type anthropicUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
}

// merge sets the counts u carries (Anthropic's counts are cumulative: set,
// never add) into out, which keeps input and cache counts separately in
// PromptTokens terms.
func (u *anthropicUsage) merge(out *chat.Usage, in *[3]int64) {
	if u.InputTokens != nil {
		in[0] = *u.InputTokens
	}
	if u.CacheReadInputTokens != nil {
		in[1] = *u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens != nil {
		in[2] = *u.CacheCreationInputTokens
	}
	if u.OutputTokens != nil {
		out.CompletionTokens = *u.OutputTokens
	}
	out.PromptTokens = in[0] + in[1] + in[2]
	out.CachedTokens, out.CacheWriteTokens = in[1], in[2]
}

func (anthropicFormat) responseUsage(body []byte) chat.Usage {
	var v struct {
		Usage *anthropicUsage `json:"usage"`
	}
	var out chat.Usage
	if json.Unmarshal(body, &v) == nil && v.Usage != nil {
		var in [3]int64
		v.Usage.merge(&out, &in)
	}
	return out
}

func (anthropicFormat) eventUsage(ev []byte, u *chat.Usage, _ bool) bool {
	if !bytes.Contains(ev, []byte(`"usage"`)) {
		return true
	}
	var v struct {
		Usage   *anthropicUsage `json:"usage"`
		Message *struct {
			Usage *anthropicUsage `json:"usage"`
		} `json:"message"`
	}
	if json.Unmarshal(sseData(ev), &v) != nil {
		return true
	}
	in := [3]int64{u.PromptTokens - u.CachedTokens - u.CacheWriteTokens, u.CachedTokens, u.CacheWriteTokens}
	if v.Message != nil && v.Message.Usage != nil {
		v.Message.Usage.merge(u, &in)
	}
	if v.Usage != nil {
		v.Usage.merge(u, &in)
	}
	return true
}

func (anthropicFormat) appendStreamError(dst []byte, e *apiError) []byte {
	return anthropic.AppendStreamError(dst, anthropic.ErrorType(e.Status), e.Message)
}
