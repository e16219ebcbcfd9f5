package llm

import (
	"net/http"
	"strconv"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
)

// replay writes a cached answer in the caller's format: one JSON response,
// or, for stream: true, a complete stream (OpenAI chunks ending with
// data: [DONE], or Anthropic's named events from message_start to
// message_stop). The answer gets a fresh id and creation time and reports
// zero usage, which is what the hit consumed. It returns the usage record's
// status.
func (c *chatCall) replay(w http.ResponseWriter, resp *chat.Response) string {
	resp.ID = newResponseID(c.format.name())
	resp.Created = c.s.now().Unix()
	resp.Usage = chat.Usage{}
	h := w.Header()
	if !c.head.Stream {
		body := c.format.appendResponse(nil, resp, c.head.Model)
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return "ok"
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	cw := sse.NewWriter(w)
	includeUsage := c.head.StreamOptions != nil && c.head.StreamOptions.IncludeUsage
	enc := c.format.newEncoder(c.head.Model, includeUsage)
	var buf []byte
	for _, chunk := range replayChunks(resp) {
		buf = enc.Append(buf[:0], &chunk)
		cw.Send(buf)
	}
	usage := chat.Usage{}
	cw.Send(enc.Finish(buf[:0], &usage))
	if cw.Gone() {
		return "cancelled"
	}
	return "ok"
}

// replayChunks are the chunks of a stream carrying resp: the role with the
// text, one chunk per tool call, the finish reason, and the usage.
func replayChunks(resp *chat.Response) []chat.Chunk {
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
