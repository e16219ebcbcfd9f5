package llm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// clientWriter writes stream events to the client, flushing each, and
// remembers when the client went away so that the upstream can still be
// drained for its usage.
type clientWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	gone bool
}

func (cw *clientWriter) write(b []byte) {
	if cw.gone || len(b) == 0 {
		return
	}
	if _, err := cw.w.Write(b); err != nil {
		cw.gone = true
		return
	}
	if err := cw.rc.Flush(); err != nil {
		cw.gone = true
	}
}

// watchdog cancels the upstream when no event arrived for idle, and, once
// the client has gone, after drain at the latest; at once when the server is
// shutting down (the client's context ended with http.ErrServerClosed as its
// cause), since nothing may outlive the shutdown.
type watchdog struct {
	mu     sync.Mutex // guards timer
	timer  *time.Timer
	idle   time.Duration
	cancel context.CancelFunc
	stop   func() bool
	// clientCut is set when the stream was cut because its client had gone
	// (or the server is shutting down): the stream is then cancelled, not
	// broken by its upstream.
	clientCut atomic.Bool
}

func newWatchdog(clientCtx context.Context, idle, drain time.Duration, cancel context.CancelFunc) *watchdog {
	wd := &watchdog{idle: idle, cancel: cancel}
	wd.timer = time.AfterFunc(idle, cancel)
	cut := func() { wd.clientCut.Store(true); cancel() }
	wd.stop = context.AfterFunc(clientCtx, func() {
		if errors.Is(context.Cause(clientCtx), http.ErrServerClosed) {
			cut()
			return
		}
		time.AfterFunc(drain, cut)
	})
	return wd
}

// kick restarts the idle timer after an event.
func (wd *watchdog) kick() {
	wd.mu.Lock()
	wd.timer.Reset(wd.idle)
	wd.mu.Unlock()
}

func (wd *watchdog) close() {
	wd.mu.Lock()
	wd.timer.Stop()
	wd.mu.Unlock()
	wd.stop()
	wd.cancel()
}

// relay sends the stream to the client and returns the usage record's
// status. The 200 is written here; errors after it go in-band.
func (c *chatCall) relay(w http.ResponseWriter, r *http.Request) string {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	cw := &clientWriter{w: w, rc: http.NewResponseController(w)}
	up := c.s.upstreamOf(c.cand)
	wd := newWatchdog(r.Context(), up.cfg.Timeouts.StreamIdle, c.s.cfg.Routing.DrainTimeout, c.upCancel)
	defer wd.close()
	var status string
	if c.passthrough {
		status = c.relayEvents(cw, wd)
		_ = c.upBody.Close()
	} else {
		status = c.relayChunks(cw, wd)
		_ = c.stream.Close()
	}
	if wd.clientCut.Load() || (cw.gone && status == "ok") {
		status = "cancelled"
	}
	return status
}

// relayEvents forwards upstream SSE events byte for byte, reading usage on
// the way (and hiding OpenAI's usage chunk from clients that did not ask).
func (c *chatCall) relayEvents(cw *clientWriter, wd *watchdog) string {
	includeUsage := c.head.StreamOptions != nil && c.head.StreamOptions.IncludeUsage
	produced := int64(0)
	ev := c.firstEvent
	for {
		c.recordEvent(ev)
		if c.format.eventUsage(ev, &c.usage, includeUsage) {
			cw.write(ev)
		}
		if isDone(ev) {
			break
		}
		produced++
		next, err := c.events.next()
		if err != nil {
			if errors.Is(err, io.EOF) && c.format.name() == chat.FormatAnthropic {
				break // Anthropic streams end after message_stop with no marker
			}
			c.billProduced(produced)
			cw.write(c.format.appendStreamError(nil, classify(&chat.UpstreamError{Provider: c.cand.Target.Provider,
				Message: "the upstream stream broke off", Err: err})))
			return "error"
		}
		wd.kick()
		ev = next
	}
	if c.usage == (chat.Usage{}) {
		c.billProduced(produced)
	}
	return "ok"
}

// relayChunks encodes canonical chunks in the client's format.
func (c *chatCall) relayChunks(cw *clientWriter, wd *watchdog) string {
	includeUsage := c.head.StreamOptions != nil && c.head.StreamOptions.IncludeUsage
	enc := c.format.newEncoder(c.head.Model, includeUsage)
	var buf []byte
	produced := int64(0)
	chunk := c.firstChunk
	for {
		c.recordChunk(chunk)
		if chunk.Usage != nil {
			c.usage = *chunk.Usage
		}
		if chunk.Content != "" || len(chunk.ToolCalls) > 0 {
			produced++
		}
		buf = enc.Append(buf[:0], chunk)
		cw.write(buf)
		next, err := c.stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.billProduced(produced)
			cw.write(c.format.appendStreamError(nil, classify(err)))
			return "error"
		}
		wd.kick()
		chunk = next
	}
	if c.usage == (chat.Usage{}) {
		c.billProduced(produced)
	}
	usage := c.usage
	cw.write(enc.Finish(buf[:0], &usage))
	return "ok"
}

// billProduced stands in for the usage the upstream did not report (yet): the
// prompt estimate when no prompt count came, and about one token per content
// event produced when fewer completion tokens were reported (a stream cut
// after Anthropic's message_start reported only its first token).
func (c *chatCall) billProduced(events int64) {
	if c.usage.PromptTokens == 0 {
		c.usage.PromptTokens = estimateTokens(len(c.body))
	}
	c.usage.CompletionTokens = max(c.usage.CompletionTokens, events)
}
