package anthropic

import (
	"github.com/junctionhq/junction/llm/chat"
)

// StreamEncoder turns a canonical chunk stream into Anthropic's named SSE
// events, for an inbound streamed POST /v1/messages:
//
//	message_start                         on the first chunk
//	content_block_start / _delta / _stop  per text run and per tool call
//	message_delta                         stop_reason and cumulative usage
//	message_stop                          from Finish
//
// A text run is one text block; a tool call's first piece starts a tool_use
// block and its argument pieces become input_json_delta events. A block is
// stopped when the next one starts or the choice finishes. The finish reason
// and the usage may arrive in either order and in separate chunks: the
// message_delta is written once both are known (or at Finish), and again if
// the usage changes afterwards. Argument pieces for a tool call whose block
// was already stopped (an upstream interleaving parallel calls) are still
// written, with that block's index, since the SDKs accumulate by index.
//
// A StreamEncoder serves one stream and is not safe for concurrent use.
type StreamEncoder struct {
	model    string
	started  bool
	finished bool

	open     int  // index of the open block, -1 when none
	openText bool // the open block is a text block
	next     int  // index of the next block
	tools    []toolBlock

	finish     string // the canonical finish reason, once known
	usage      chat.Usage
	haveUsage  bool
	deltaSent  bool
	sentUsage  chat.Usage // the usage of the last message_delta
	calledTool bool
}

// toolBlock links a canonical tool-call index to its content block.
type toolBlock struct {
	call, block int
}

// NewStreamEncoder returns an encoder reporting model as the message's model
// (the chunks' model when empty).
func NewStreamEncoder(model string) *StreamEncoder {
	return &StreamEncoder{model: model, open: -1}
}

// Append appends the events c calls for to dst. Chunks after Finish are
// ignored.
func (e *StreamEncoder) Append(dst []byte, c *chat.Chunk) []byte {
	if e.finished {
		return dst
	}
	if !e.started {
		dst = e.appendMessageStart(dst, c)
	}
	if c.Content != "" {
		if e.open < 0 || !e.openText {
			dst = e.appendBlockStop(dst)
			dst = e.appendBlockStartHead(dst)
			dst = append(dst, `{"type":"text","text":""}}`+"\n\n"...)
			e.openText = true
		}
		dst = appendDeltaHead(dst, e.open)
		dst = append(dst, `{"type":"text_delta","text":`...)
		dst = appendString(dst, c.Content)
		dst = append(dst, "}}\n\n"...)
	}
	for i := range c.ToolCalls {
		dst = e.appendToolPiece(dst, &c.ToolCalls[i])
	}
	if c.FinishReason != "" {
		e.finish = c.FinishReason
		dst = e.appendBlockStop(dst)
	}
	if c.Usage != nil {
		e.usage, e.haveUsage = *c.Usage, true
	}
	if e.finish != "" && e.haveUsage && (!e.deltaSent || e.usage != e.sentUsage) {
		dst = e.appendMessageDelta(dst)
	}
	return dst
}

// Finish ends the stream: it stops the open block, writes the message_delta
// if it is not written yet (or if usage, when non-nil, changes it) and
// message_stop. A stream that produced no chunk still gets a complete, empty
// message. Finish is idempotent.
func (e *StreamEncoder) Finish(dst []byte, usage *chat.Usage) []byte {
	if e.finished {
		return dst
	}
	if !e.started {
		dst = e.appendMessageStart(dst, &chat.Chunk{})
	}
	dst = e.appendBlockStop(dst)
	if usage != nil {
		e.usage, e.haveUsage = *usage, true
	}
	if !e.deltaSent || e.usage != e.sentUsage {
		dst = e.appendMessageDelta(dst)
	}
	e.finished = true
	return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// appendMessageStart writes message_start, with the input usage when the
// first chunk carries usage.
func (e *StreamEncoder) appendMessageStart(dst []byte, c *chat.Chunk) []byte {
	e.started = true
	model := e.model
	if model == "" {
		model = c.Model
	}
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	dst = appendMessageID(dst, c.ID)
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	var u chat.Usage
	if c.Usage != nil {
		u = *c.Usage
	}
	dst = appendUsage(dst, &u)
	return append(dst, "}}\n\n"...)
}

// appendToolPiece writes a tool-call piece: a tool_use block start for the
// first piece of a call, an input_json_delta for its arguments.
func (e *StreamEncoder) appendToolPiece(dst []byte, d *chat.ToolCallDelta) []byte {
	e.calledTool = true
	block := -1
	for _, t := range e.tools {
		if t.call == d.Index {
			block = t.block
			break
		}
	}
	if block < 0 {
		dst = e.appendBlockStop(dst)
		dst = e.appendBlockStartHead(dst)
		e.openText = false
		block = e.open
		e.tools = append(e.tools, toolBlock{call: d.Index, block: block})
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = appendToolUseID(dst, d.ID, d.Index)
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, d.Name)
		dst = append(dst, `,"input":{}}}`+"\n\n"...)
	}
	if d.Arguments == "" {
		return dst
	}
	dst = appendDeltaHead(dst, block)
	dst = append(dst, `{"type":"input_json_delta","partial_json":`...)
	dst = appendString(dst, d.Arguments)
	return append(dst, "}}\n\n"...)
}

// appendBlockStartHead opens the next block and writes its
// content_block_start event up to the content block.
func (e *StreamEncoder) appendBlockStartHead(dst []byte) []byte {
	e.open = e.next
	e.next++
	dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	dst = appendInt(dst, int64(e.open))
	return append(dst, `,"content_block":`...)
}

// appendBlockStop stops the open block, if any.
func (e *StreamEncoder) appendBlockStop(dst []byte) []byte {
	if e.open < 0 {
		return dst
	}
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	dst = appendInt(dst, int64(e.open))
	e.open = -1
	return append(dst, "}\n\n"...)
}

// appendDeltaHead writes a content_block_delta event up to its delta.
func appendDeltaHead(dst []byte, index int) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	dst = appendInt(dst, int64(index))
	return append(dst, `,"delta":`...)
}

// appendMessageDelta writes message_delta with the stop reason and the usage
// so far.
func (e *StreamEncoder) appendMessageDelta(dst []byte) []byte {
	e.deltaSent, e.sentUsage = true, e.usage
	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	dst = append(dst, stopReason(e.finish, e.calledTool)...)
	dst = append(dst, `","stop_sequence":null},"usage":`...)
	dst = appendUsage(dst, &e.usage)
	return append(dst, "}\n\n"...)
}
