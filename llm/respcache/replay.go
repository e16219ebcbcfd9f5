package respcache

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/junctionhq/junction/llm/chat"
)

// ReplayChunks are the chunks of a stream carrying resp, for replaying a
// hit as a stream: the role with the text, one chunk per tool call, the
// finish reason, and the (zero) usage.
func ReplayChunks(resp *chat.Response) []chat.Chunk {
	head := chat.Chunk{ID: resp.ID, Model: resp.Model, Created: resp.Created}
	out := make([]chat.Chunk, 0, 3+len(resp.Message.ToolCalls))
	first := head
	first.Role, first.Content = chat.RoleAssistant, resp.Message.Text()
	out = append(out, first)
	for i, tc := range resp.Message.ToolCalls {
		ch := head
		ch.ToolCalls = []chat.ToolCallDelta{{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}}
		out = append(out, ch)
	}
	finish := head
	finish.FinishReason = resp.FinishReason
	if finish.FinishReason == "" {
		finish.FinishReason = chat.FinishStop
	}
	out = append(out, finish)
	usage := head
	usage.Usage = &chat.Usage{}
	return append(out, usage)
}

// NewResponseID is a fresh id for a replayed answer, in the style of
// format (chat.FormatOpenAI or chat.FormatAnthropic).
func NewResponseID(format string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	if format == chat.FormatAnthropic {
		return "msg_cache" + hex.EncodeToString(b[:])
	}
	return "chatcmpl-cache" + hex.EncodeToString(b[:])
}
