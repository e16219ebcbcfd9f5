package llmtest

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// exchange is one request being served: what the shared steps learnt about it and how
// it ended. It lives on ServeHTTP's stack.
type exchange struct {
	m       *Mock
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	ep      *endpoint
	wire    wire
	key     string
	profile *profile
	body    []byte // the request body; valid only while the request is served
	seq     uint64 // sequence number, for ids
	out     []byte // response buffer, reused for each write
	status  int    // status written, 0 while none
	outcome outcome
}

// outcome says how a request ended when it did not end with a complete answer.
type outcome int

const (
	outcomeAnswered outcome = iota
	outcomeCanceled         // the client went away
	outcomeCut              // the mock cut the connection on purpose
)

func (o outcome) String() string {
	switch o {
	case outcomeCanceled:
		return "canceled"
	case outcomeCut:
		return "cut"
	default:
		return "answered"
	}
}

// Header values shared by every response; net/http only reads them.
var (
	jsonContentType = []string{"application/json"}
	sseContentType  = []string{"text/event-stream; charset=utf-8"}
	noCache         = []string{"no-cache"}
)

// writeHead writes the status line and the headers every answer carries. Bodies go
// without Content-Length: net/http adds one when the whole body fits its buffer and
// chunks larger ones, as the providers' own front ends do.
func (x *exchange) writeHead(status int, contentType []string) {
	h := x.w.Header()
	h["Content-Type"] = contentType
	h[x.wire.requestIDHeader()] = []string{string(appendID(nil, x.wire.requestIDPrefix(), x.m.cfg.seed, x.seq, requestIDIndex))}
	x.w.WriteHeader(status)
	x.status = status
	x.m.stats.countStatus(status)
}

// writeJSON answers status with body.
func (x *exchange) writeJSON(status int, body []byte) {
	x.writeHead(status, jsonContentType)
	if _, err := x.w.Write(body); err != nil {
		x.abandon()
	}
}

// fail answers e in the wire's error shape.
func (x *exchange) fail(e *apiError) {
	x.out = x.wire.appendError(x.out[:0], e)
	x.writeJSON(e.status, x.out)
}

// abandon records that the client went away.
func (x *exchange) abandon() {
	if x.outcome == outcomeAnswered {
		x.outcome = outcomeCanceled
		x.m.stats.canceled.Add(1)
	}
}

// interrupted ends a request whose delay or hang was stopped by err: the client went
// away (nothing to answer) or the mock closed (cut the connection).
func (x *exchange) interrupted(err error) {
	if errors.Is(err, errInterrupted) {
		x.cut()
		return
	}
	x.abandon()
}

// cut closes the connection abruptly: no further bytes, no end of stream. On HTTP/1 the
// connection is hijacked and closed; where that is not possible the handler is aborted
// with http.ErrAbortHandler, which net/http turns into a reset.
func (x *exchange) cut() {
	x.outcome = outcomeCut
	x.m.stats.cut.Add(1)
	conn, _, err := http.NewResponseController(x.w).Hijack()
	if err == nil {
		_ = conn.Close() // the point is to cut; a close error changes nothing
		return
	}
	panic(http.ErrAbortHandler)
}

// admit applies the behaviour's admission knobs in order (429 throttling, hang,
// latency with jitter, injected failure) and reports whether the request may be
// answered. When it returns false the request has been dealt with.
func (x *exchange) admit() bool {
	b := &x.profile.behavior
	if retryAfter, limited := x.profile.rateLimited(x.m.cfg.now()); limited {
		x.rateLimit(retryAfter)
		return false
	}
	if b.Hang {
		x.hang()
		return false
	}
	offset, fail := x.m.draw(b)
	if err := x.m.sleep(x.ctx, max(b.Latency+offset, 0)); err != nil {
		x.interrupted(err)
		return false
	}
	if fail {
		x.fail(injectedFailure(b.failStatus()))
		return false
	}
	return true
}

// rateLimited reports whether a request arriving at now is rejected with 429, and the
// retry-after to advertise.
func (p *profile) rateLimited(now time.Time) (time.Duration, bool) {
	b := &p.behavior
	for _, w := range b.RateLimitWindows {
		if w.Contains(now) {
			if b.RetryAfter > 0 {
				return b.RetryAfter, true
			}
			return w.End().Sub(now), true
		}
	}
	if p.rateLimitLeft.Load() > 0 && p.rateLimitLeft.Add(-1) >= 0 {
		if b.RetryAfter > 0 {
			return b.RetryAfter, true
		}
		return time.Second, true
	}
	return 0, false
}

// rateLimit answers 429 with retry-after (seconds) and retry-after-ms.
func (x *exchange) rateLimit(retryAfter time.Duration) {
	h := x.w.Header()
	h["Retry-After"] = []string{retryAfterValue(retryAfter)}
	ms := int64((retryAfter + time.Millisecond - 1) / time.Millisecond)
	h["Retry-After-Ms"] = []string{strconv.FormatInt(max(ms, 1), 10)}
	x.fail(&apiError{
		status:     http.StatusTooManyRequests,
		message:    "Rate limit reached for requests (llmtest). Please try again in " + retryAfterValue(retryAfter) + "s.",
		code:       "rate_limit_exceeded",
		retryAfter: retryAfter,
	})
}

// hang blocks until the client goes away or the mock closes.
func (x *exchange) hang() {
	select {
	case <-x.ctx.Done():
		// Closing the mock also ends the request's context; when both have
		// happened, the mock's close is the cause.
		select {
		case <-x.m.doneCtx.Done():
			x.cut()
		default:
			x.abandon()
		}
	case <-x.m.doneCtx.Done():
		x.cut()
	}
}
