package llm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
	"github.com/junctionhq/junction/llm/router"
)

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
	// idled is set when the idle timer cut the upstream: the stream's
	// failure is then the upstream's silence, not a cancellation.
	idled atomic.Bool
	// clientCut is set when the stream was cut because its client had gone
	// (or the server is shutting down): the stream is then cancelled, not
	// broken by its upstream.
	clientCut atomic.Bool
}

func newWatchdog(clientCtx context.Context, idle, drain time.Duration, cancel context.CancelFunc) *watchdog {
	wd := &watchdog{idle: idle, cancel: cancel}
	wd.timer = time.AfterFunc(idle, func() {
		wd.idled.Store(true)
		cancel()
	})
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

// errStreamIdle is the failure of a stream that fell silent past the idle
// timeout after its first event.
var errStreamIdle = errors.New("llm: no stream event within the idle timeout")

// outcome is what a relayed stream that ended with err (nil: it ran to
// its end) says about its upstream, for Result.Finish: errStreamIdle (as
// an upstream failure of provider) when the watchdog cut it for silence;
// context.Canceled when it was cut because its client went away and the
// drain ran out, which is no fault of the upstream; err otherwise.
func (wd *watchdog) outcome(provider string, err error) error {
	switch {
	case err == nil:
		return nil
	case wd.clientCut.Load():
		// Cut for its client (gone, or the server shutting down): cancelled,
		// not the upstream's fault.
		return context.Canceled
	case wd.idled.Load():
		return &chat.UpstreamError{Provider: provider, Message: "the stream fell silent", Err: errStreamIdle}
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return err
}

// streamStatus is the usage record's status of a relayed stream whose
// outcome is err: "cancelled" when its client went away (gone) or the
// stream was cut for it, "error" when the upstream failed, else "ok".
func streamStatus(err error, gone bool) string {
	switch {
	case err == nil && gone, errors.Is(err, context.Canceled):
		return "cancelled"
	case err != nil:
		return "error"
	}
	return "ok"
}

// relay sends the stream to the client, reports how it ended to the
// router through res (the target's breaker and balancer count a stream
// broken mid-way as a failure), and returns the usage record's status.
// The 200 is written here; errors after it go in-band.
func (c *chatCall) relay(w http.ResponseWriter, r *http.Request, res router.Served) string {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	cw := sse.NewWriter(w)
	up := c.s.upstreamOf(c.cand)
	wd := newWatchdog(r.Context(), up.Config.Timeouts.StreamIdle, c.s.cfg.Routing.DrainTimeout, c.upCancel)
	defer wd.close()
	// The stream's outcome goes to the router below; this only releases
	// the target should the relay panic.
	defer res.Finish(context.Canceled)
	var err error
	if c.passthrough {
		err = c.relayEvents(cw, wd)
		_ = c.upBody.Close()
	} else {
		err = c.relayChunks(cw, wd)
		_ = c.stream.Close()
	}
	err = wd.outcome(c.cand.Target.Provider, err)
	res.Finish(err)
	return streamStatus(err, cw.Gone())
}

// relayEvents forwards upstream SSE events byte for byte, reading usage on
// the way (and hiding OpenAI's usage chunk from clients that did not ask).
// It returns nil when the stream ran to its end, else why it did not: the
// upstream's in-band error event (forwarded in the client's format, see
// clientErrorEvent), or the read that failed.
func (c *chatCall) relayEvents(cw *sse.Writer, wd *watchdog) error {
	includeUsage := c.head.StreamOptions != nil && c.head.StreamOptions.IncludeUsage
	provider := c.cand.Target.Provider
	produced := int64(0)
	stopped := false // Anthropic's message_stop was seen
	ev := c.firstEvent
	for {
		if bytes.Contains(ev, quotedError) {
			if err := c.format.streamError(provider, ev); err != nil {
				cw.Send(c.clientErrorEvent(ev, err))
				c.billProduced(produced)
				return err
			}
		}
		c.cache.RecordEvent(ev)
		if c.format.eventUsage(ev, &c.usage, includeUsage) {
			cw.Send(ev)
		}
		if isDone(ev) {
			break
		}
		stopped = stopped || bytes.Equal(eventName(ev), messageStop)
		produced++
		next, err := c.events.next()
		if err != nil {
			if errors.Is(err, io.EOF) && stopped {
				break // Anthropic streams end after message_stop with no marker
			}
			return c.failStream(cw, produced, &chat.UpstreamError{Provider: provider, Message: "the upstream stream broke off", Err: err})
		}
		wd.kick()
		ev = next
	}
	if c.usage == (chat.Usage{}) {
		c.billProduced(produced)
	}
	return nil
}

// clientErrorEvent is the upstream's in-band error event ev, decoded as up,
// as the client may see it, with the same care as an error before the
// first byte: a provider refusing Junction's key becomes the
// provider_auth_failed message; an event quoting the attempt's API key or
// anything key-like is rewritten in the client's format with the message
// scrubbed (up loses the key too, for the log); any other event is passed
// on as it came.
func (c *chatCall) clientErrorEvent(ev []byte, up *chat.UpstreamError) []byte {
	if router.AuthFailure(up) {
		return c.format.appendStreamError(nil, classify(up))
	}
	key := c.cand.Target.APIKey
	if !(len(key) >= minScrubbedKey && bytes.Contains(ev, []byte(key))) && !secretLike.Match(ev) {
		return ev
	}
	scrubKey(up, key)
	return c.format.appendStreamError(nil, &apiError{Status: up.Status, Type: up.Type, Code: up.Code,
		Message: redactSecrets(up.Message)})
}

// quotedError is in every in-band error event (OpenAI's {"error": ...},
// Anthropic's {"type":"error", ...}); checking for it first keeps the
// full check off the path of ordinary events.
var quotedError = []byte(`"error"`)

// messageStop is the name of Anthropic's last stream event.
var messageStop = []byte("message_stop")

// relayChunks encodes canonical chunks in the client's format. It returns
// nil when the stream ran to its end, else the upstream's failure (the
// decoders report in-band error events and streams cut before their end).
func (c *chatCall) relayChunks(cw *sse.Writer, wd *watchdog) error {
	includeUsage := c.head.StreamOptions != nil && c.head.StreamOptions.IncludeUsage
	enc := c.format.newEncoder(c.head.Model, includeUsage)
	var buf []byte
	produced := int64(0)
	chunk := c.firstChunk
	for {
		c.cache.RecordChunk(chunk)
		if chunk.Usage != nil {
			c.usage = *chunk.Usage
		}
		if chunk.Content != "" || len(chunk.ToolCalls) > 0 {
			produced++
		}
		buf = enc.Append(buf[:0], chunk)
		cw.Send(buf)
		next, err := c.stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			scrubKey(err, c.cand.Target.APIKey)
			return c.failStream(cw, produced, err)
		}
		wd.kick()
		chunk = next
	}
	if c.usage == (chat.Usage{}) {
		c.billProduced(produced)
	}
	usage := c.usage
	cw.Send(enc.Finish(buf[:0], &usage))
	return nil
}

// failStream ends the client's stream with err, in the client's format,
// billing the produced content events.
func (c *chatCall) failStream(cw *sse.Writer, produced int64, err error) error {
	c.billProduced(produced)
	cw.Send(c.format.appendStreamError(nil, classify(err)))
	return err
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
