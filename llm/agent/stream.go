package agent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
)

// A streamed loop is one stream in the client's format (StreamWriter):
// every turn's deltas as they come, Junction's event after each tool
// result, the loop's end; the loop's headers are its trailers.

// streamed is what one streamed turn produced.
type streamed struct {
	msg    chat.Message
	finish string
}

// pump relays one open turn to the client through sw and collects it.
// base is the index the turn's first tool call takes in the client's
// stream; roleSent is whether the role went out already. Its error is the
// stream's, as Recv returned it.
func pump(st ModelStream, sw StreamWriter, out *sse.Writer, base int, roleSent *bool) (streamed, error) {
	var (
		turn streamed
		text strings.Builder
		pos  = map[int]int{} // the upstream's call index → position in turn.msg.ToolCalls
		buf  []byte
	)
	for {
		chunk, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			turn.msg = chat.TextMessage(chat.RoleAssistant, text.String())
			return turn, err
		}
		if chunk.FinishReason != "" {
			turn.finish = chunk.FinishReason
		}
		d := chat.Chunk{ID: chunk.ID, Created: chunk.Created, Content: chunk.Content}
		if !*roleSent {
			d.Role, *roleSent = chat.RoleAssistant, true
		}
		text.WriteString(chunk.Content)
		for _, td := range chunk.ToolCalls {
			p, ok := pos[td.Index]
			if !ok {
				p = len(turn.msg.ToolCalls)
				pos[td.Index] = p
				turn.msg.ToolCalls = append(turn.msg.ToolCalls, chat.ToolCall{ID: td.ID, Name: td.Name})
			}
			call := &turn.msg.ToolCalls[p]
			if call.ID == "" {
				call.ID = td.ID
			}
			if call.Name == "" {
				call.Name = td.Name
			}
			call.Arguments += td.Arguments
			d.ToolCalls = append(d.ToolCalls, chat.ToolCallDelta{Index: base + p, ID: td.ID, Name: td.Name, Arguments: td.Arguments})
		}
		if d.Role != "" || d.Content != "" || len(d.ToolCalls) > 0 {
			buf = sw.Delta(buf[:0], &d)
			out.Send(buf)
		}
	}
	calls := turn.msg.ToolCalls
	turn.msg = chat.TextMessage(chat.RoleAssistant, text.String())
	if text.Len() == 0 {
		turn.msg.Content = nil
	}
	turn.msg.ToolCalls = calls
	return turn, nil
}

// serveStream runs the loop for a streamed request. The 200 goes out with
// the first answer; a failure before it is an ordinary error response,
// after it an in-band error.
func (a *run) serveStream(ctx context.Context) {
	f, w, r := a.in.Format, a.w, a.r
	sw := f.NewStream(a.in.Model, a.in.IncludeUsage)
	var out *sse.Writer
	var buf []byte
	begin := func() {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		h.Set("Trailer", IterationsHeader+", "+StopReasonHeader+", "+ToolCallsHeader+", X-Junction-Target, X-Junction-Overhead-Ms")
		a.in.Models.SetHeaders(h)
		w.WriteHeader(http.StatusOK)
		out = sse.NewWriter(w)
	}
	emit := func(outs []Outcome) {
		for i := range outs {
			buf = sw.ToolResult(buf[:0], &ToolEvent{Type: "junction.tool_result", ToolRecord: outs[i].Record, Content: outs[i].Text})
			out.Send(buf)
		}
	}
	pending := a.runPending(ctx)
	base, roleSent := 0, false
	finish := ""
	for {
		a.box.Offer(ctx, a.iterations)
		a.req.Stream, a.req.IncludeUsage = true, true
		var (
			turn    streamed
			pumpErr error
		)
		spent, err := a.in.Models.Stream(ctx, a.req, func(st ModelStream) bool {
			a.iterations++
			if out == nil {
				begin()
				emit(pending)
			}
			pumped := time.Now()
			turn, pumpErr = pump(st, sw, out, base, &roleSent)
			a.upstream += time.Since(pumped)
			base += len(turn.msg.ToolCalls)
			return out.Gone()
		})
		if err != nil {
			cause := refusal(err)
			switch {
			case cause != nil && out != nil:
				a.stop = stopFor(cause)
			case out == nil:
				if cause != nil {
					err = cause
				}
				f.WriteError(w, r, err)
				return
			case ctx.Err() != nil && r.Context().Err() == nil:
				a.stop = StopTimeout
			default:
				a.stop = StopError
				out.Send(f.AppendStreamError(nil, err))
				return
			}
			break
		}
		a.record(ctx, spent)
		if pumpErr != nil {
			a.stop = StopError
			out.Send(f.AppendStreamError(nil, pumpErr))
			return
		}
		finish = turn.finish
		calls := turn.msg.ToolCalls
		if a.stop = a.stopAfter(calls); a.stop != "" {
			if a.stop == StopClientTools || a.stop == StopApproval {
				finish = chat.FinishToolCalls
			}
			break
		}
		if out.Gone() || r.Context().Err() != nil {
			a.stop = StopCancelled
			return
		}
		outs := a.runTools(ctx, calls, false)
		a.appendTurn(turn.msg, calls, outs)
		emit(outs)
		if ctx.Err() != nil {
			a.stop = StopTimeout
			if r.Context().Err() != nil {
				a.stop = StopCancelled
				return
			}
			break
		}
	}
	limited := LimitedStop(a.stop)
	if limited {
		finish = chat.FinishLength
		buf = sw.Delta(buf[:0], &chat.Chunk{Content: "\n\n" + StopNote(a.stop, a.iterations)})
		out.Send(buf)
	}
	if finish == "" {
		finish = chat.FinishStop
	}
	out.Send(sw.Finish(nil, finish, limited, a.usage, a.summary()))
	a.setHeaders(w.Header()) // the trailers
}
