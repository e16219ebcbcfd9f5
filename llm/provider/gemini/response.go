package gemini

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// generateResponse is a GenerateContentResponse, also one chunk of a stream.
// Error is set on an error sent in-band in a stream.
type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	Error          *apiStatus      `json:"error"`
}

type candidate struct {
	Content      content `json:"content"`
	FinishReason string  `json:"finishReason"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type usageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount"`
}

// usage converts usageMetadata. Prompt tokens include the cached ones (as in
// Gemini's count) and the tool-use prompt tokens (billed as input);
// completion tokens include the thoughts, which are also reported as
// reasoning tokens.
func (u *usageMetadata) usage() chat.Usage {
	return chat.Usage{
		PromptTokens:     u.PromptTokenCount + u.ToolUsePromptTokenCount,
		CompletionTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedTokens:     u.CachedContentTokenCount,
		ReasoningTokens:  u.ThoughtsTokenCount,
	}
}

// finishReason maps Gemini's finish reason: STOP is tool_calls when the
// answer calls functions; MAX_TOKENS is length; the safety and policy stops
// are content_filter; anything else (OTHER, MALFORMED_FUNCTION_CALL, ...) is
// stop. "" (no reason yet) stays "".
func finishReason(reason string, calls bool) string {
	switch reason {
	case "":
		return ""
	case "MAX_TOKENS":
		return chat.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return chat.FinishContentFilter
	}
	if calls {
		return chat.FinishToolCalls
	}
	return chat.FinishStop
}

// callID is the id of the n-th function call of an answer when Gemini gave
// it none.
func callID(n int) string { return "call_" + strconv.Itoa(n) }

// splitParts returns the text of parts, thoughts left out, and their
// function calls. A call without an id is named after its index in the
// answer, first being the index of the first call of parts.
func splitParts(parts []part, first int) (string, []chat.ToolCall) {
	var text strings.Builder
	var calls []chat.ToolCall
	for _, p := range parts {
		switch {
		case p.Thought:
		case p.FunctionCall != nil:
			id := p.FunctionCall.ID
			if id == "" {
				id = callID(first + len(calls))
			}
			calls = append(calls, chat.ToolCall{ID: id, Name: p.FunctionCall.Name, Arguments: compactArgs(p.FunctionCall.Args)})
		default:
			text.WriteString(p.Text)
		}
	}
	return text.String(), calls
}

// compactArgs returns a function call's args as compact JSON text, {} when
// absent.
func compactArgs(args json.RawMessage) string {
	if len(args) == 0 || string(args) == "null" {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, args) != nil {
		return string(args)
	}
	return b.String()
}

// decodeResponse translates a GenerateContentResponse: the first
// candidate's text parts (thoughts left out) concatenated, its function calls
// as tool calls (ids call_0, call_1, ... unless Gemini sent ids), the finish
// reason and the usage. A prompt blocked before any candidate finishes with
// content_filter.
func decodeResponse(raw []byte, model string, created int64) (*chat.Response, error) {
	var r generateResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	out := &chat.Response{
		ID:      r.ResponseID,
		Model:   model,
		Created: created,
		Message: chat.Message{Role: chat.RoleAssistant},
	}
	if r.ModelVersion != "" {
		out.Model = r.ModelVersion
	}
	if r.UsageMetadata != nil {
		out.Usage = r.UsageMetadata.usage()
	}
	if len(r.Candidates) == 0 {
		out.FinishReason = chat.FinishStop
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			out.FinishReason = chat.FinishContentFilter
		}
		return out, nil
	}
	c := &r.Candidates[0]
	var text string
	text, out.Message.ToolCalls = splitParts(c.Content.Parts, 0)
	if text != "" {
		out.Message.Content = []chat.Part{{Type: chat.PartText, Text: text}}
	}
	out.FinishReason = finishReason(c.FinishReason, len(out.Message.ToolCalls) > 0)
	if out.FinishReason == "" {
		out.FinishReason = chat.FinishStop
	}
	return out, nil
}
