package llm

import (
	"net/http"
	"strconv"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
	"github.com/junctionhq/junction/llm/respcache"
)

// replay writes a cached answer in the caller's format: one JSON response,
// or, for stream: true, a complete stream (OpenAI chunks ending with
// data: [DONE], or Anthropic's named events from message_start to
// message_stop). The answer gets a fresh id and creation time and reports
// zero usage, which is what the hit consumed. It returns the usage record's
// status.
func (c *chatCall) replay(w http.ResponseWriter, resp *chat.Response) string {
	resp.ID = respcache.NewResponseID(c.format.name())
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
	for _, chunk := range respcache.ReplayChunks(resp) {
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
