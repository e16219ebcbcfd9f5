package llm

import (
	"bytes"
	"net/http"

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
	// streamError decodes a passed-through SSE event that is an in-band
	// error; nil for any other event.
	streamError(provider string, ev []byte) *chat.UpstreamError
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

func (openAIFormat) responseUsage(body []byte) chat.Usage { return openai.ResponseUsage(body) }
func (openAIFormat) streamError(provider string, ev []byte) *chat.UpstreamError {
	return openai.DecodeStreamError(provider, ev)
}

// usageObject, in either spacing, is in every chunk that carries usage;
// checking for it first keeps the decoding off the path of the others.
var usageObject = []byte(`"usage":{`)
var usageObjectSpaced = []byte(`"usage": {`)

func (openAIFormat) eventUsage(ev []byte, u *chat.Usage, includeUsage bool) bool {
	if !bytes.Contains(ev, usageObject) && !bytes.Contains(ev, usageObjectSpaced) {
		return true
	}
	usage, choices, ok := openai.ChunkUsage(sseData(ev))
	if !ok {
		return true
	}
	*u = usage
	// The usage-only chunk (no choices) goes to the client only when it asked.
	return includeUsage || choices
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

func (anthropicFormat) responseUsage(body []byte) chat.Usage { return anthropic.ResponseUsage(body) }
func (anthropicFormat) streamError(provider string, ev []byte) *chat.UpstreamError {
	return anthropic.DecodeStreamError(provider, ev)
}

func (anthropicFormat) eventUsage(ev []byte, u *chat.Usage, _ bool) bool {
	if bytes.Contains(ev, []byte(`"usage"`)) {
		anthropic.EventUsage(sseData(ev), u)
	}
	return true
}

func (anthropicFormat) appendStreamError(dst []byte, e *apiError) []byte {
	return anthropic.AppendStreamError(dst, anthropic.ErrorType(e.Status), e.Message)
}
