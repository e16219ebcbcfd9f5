package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/respcache"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
)

// chatHead is all the handler reads of a chat request to route and admit
// it; the rest of the body is decoded only when the target speaks another
// wire format than the client.
type chatHead struct {
	Model               string `json:"model"`
	Stream              bool   `json:"stream"`
	MaxTokens           int64  `json:"max_tokens"`
	MaxCompletionTokens int64  `json:"max_completion_tokens"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// Fallbacks is Junction's extension: models to try after the model's own
	// chain. It is not sent upstream.
	Fallbacks []string `json:"fallbacks"`

	// Where the scan found the model value, and how many model fields.
	modelAt, modelEnd, models int
	sawStreamOptions          bool
}

// decodeHead reads the routing fields, with errors that name the field.
func decodeHead(body []byte, h *chatHead) error {
	if err := scanHead(body, h); err != nil {
		if errors.Is(err, errNotObject) {
			return badRequest("", err.Error())
		}
		return err
	}
	if h.Model == "" {
		return badRequest("model", "model: required")
	}
	if h.MaxTokens < 0 || h.MaxCompletionTokens < 0 {
		return badRequest("max_tokens", "max_tokens: must not be negative")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int64", "int", "float64":
		return "a number"
	case "slice":
		return "an array"
	case "ptr", "struct":
		return "an object"
	}
	return k
}

// chatCall is one client request of the chat front ends on its way
// through the pipeline (pipeline.go). Attempts run one after another, so
// its fields need no lock.
type chatCall struct {
	s      *Service
	format clientFormat
	body   []byte
	head   chatHead
	start  time.Time
	w      http.ResponseWriter
	r      *http.Request
	// call is the request's model call through the pipeline.
	call modelCall

	req       *chat.Request // decoded on first need
	decodeErr error
	foreign   *chat.Request // req without Extra, for providers of another format

	// answer is what the answering attempt returned, once the router has
	// served the call; the relay adds the usage a stream reports.
	answer

	// cache is the call's use of the response cache (llm/cache.go).
	cache respcache.Call
}

// answer is what one successful attempt of a chat call produced: the
// router returns it as the Result's Value.
type answer struct {
	cand        *router.Candidate
	passthrough bool
	response    []byte // non-streamed: the body for the client
	usage       chat.Usage
	gotUsage    bool
	// Streams: the open upstream and its first event.
	events     *sseReader
	upBody     io.Closer
	stream     chat.Stream
	firstChunk *chat.Chunk
	firstEvent []byte
	upCancel   context.CancelFunc
	ttft       time.Duration
}

// serveChat serves /v1/chat/completions and /v1/messages: the client's
// request is read, then runs the pipeline (pipeline.go), or the agent loop
// when it names MCP tools.
func (s *Service) serveChat(w http.ResponseWriter, r *http.Request, f clientFormat) {
	c := &chatCall{s: s, format: f, start: time.Now(), w: w, r: r}
	ctx := r.Context()
	id, body, err := readRequest(r, &c.head)
	if err != nil {
		f.writeError(w, r, err)
		return
	}
	c.body = body
	if f.name() == chat.FormatAnthropic && c.head.MaxTokens == 0 {
		f.writeError(w, r, badRequest("max_tokens", "max_tokens: required"))
		return
	}
	c.call = modelCall{s: s, id: id, model: c.head.Model, fallbacks: c.head.Fallbacks, team: id.TeamName(), key: id.Name(),
		stream: c.head.Stream, promptTokens: estimateTokens(len(body)), maxTokens: c.head.maxTokens()}
	// The pipeline's first step runs here: the agent loop takes the reach.
	if err := c.call.resolve(); err != nil {
		f.writeError(w, r, err)
		return
	}
	defer c.call.release()
	// Requests naming MCP tools run the agent loop (llm/agent), which
	// never uses the response cache.
	if agent.Wants(r, body) && s.serveAgent(w, r, c, c.call.rc) {
		return
	}
	if err := c.prepareCache(r, id); err != nil {
		f.writeError(w, r, err)
		return
	}
	if f.name() == chat.FormatAnthropic {
		ctx = chat.WithClientHeaders(ctx, r.Header)
	}
	if err := runModelCall[answer](ctx, &c.call, c); err != nil {
		f.writeError(w, r, err)
	}
}

// readRequest reads what every front end reads first: the caller's
// identity and the JSON body, with its routing fields in head.
func readRequest(r *http.Request, head *chatHead) (*policy.Identity, []byte, error) {
	id := policy.IdentityFrom(r.Context())
	if id == nil {
		return nil, nil, &policy.AuthError{Reason: policy.AuthMissing}
	}
	if err := checkContentType(r); err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, err
	}
	if err := decodeHead(body, head); err != nil {
		return nil, nil, err
	}
	return id, body, nil
}

// maxTokens is the request's output bound: max_completion_tokens, or
// max_tokens.
func (h *chatHead) maxTokens() int64 {
	if h.MaxCompletionTokens > 0 {
		return h.MaxCompletionTokens
	}
	return h.MaxTokens
}

// fromCache is the pipeline's cache step (cache.go).
func (c *chatCall) fromCache(ctx context.Context, p *modelCall) bool {
	return c.serveFromCache(ctx, c.w, p.res)
}

// deliver writes the answer, whole or relayed as a stream, with Junction's
// response headers.
func (c *chatCall) deliver(_ context.Context, p *modelCall, result router.Result[answer]) delivery {
	c.answer = result.Value
	h := c.w.Header()
	h.Set("X-Junction-Target", c.cand.Target.Provider+"/"+c.cand.Target.Model)
	h.Set("X-Junction-Attempts", strconv.Itoa(result.Attempts))
	overhead := time.Since(c.start) - result.UpstreamTime
	h.Set("X-Junction-Overhead-Ms", strconv.FormatFloat(float64(overhead.Microseconds())/1000, 'f', 3, 64))
	setRateLimitHeaders(h, p.res.RateLimits(), c.s.now())
	status := "ok"
	if c.head.Stream {
		status = c.relay(c.w, c.r, result.Served)
	} else {
		h.Set("Content-Type", "application/json")
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(c.response)
	}
	return delivery{usage: c.usage, status: status, ttft: c.ttft}
}

// record stores the settled answer in the response cache.
func (c *chatCall) record(_ context.Context, _ *modelCall, _ router.Served, d delivery, cost float64) {
	c.storeInCache(d.status, cost)
}

// canonical decodes the client's body once.
func (c *chatCall) canonical() (*chat.Request, error) {
	if c.req == nil && c.decodeErr == nil {
		c.req, c.decodeErr = c.format.decode(c.body)
		if c.req != nil {
			delete(c.req.Extra, "fallbacks")
		}
	}
	return c.req, c.decodeErr
}

// translated is the request for a provider of another wire format: fields
// Junction does not model (Extra) belong to the client's format and would be
// refused there, so they stay behind.
func (c *chatCall) translated(req *chat.Request) *chat.Request {
	if c.foreign == nil {
		cp := *req
		cp.Extra = nil
		c.foreign = &cp
	}
	return c.foreign
}

// requestError makes a decode failure final: the router does not retry it.
func requestError(err error) error {
	return &chat.UpstreamError{Provider: junctionProvider, Status: http.StatusBadRequest, Message: err.Error(), Err: err}
}

// attempt is one try on one candidate: pass-through when the candidate
// takes the client's format, otherwise through the canonical types. It
// returns what it got; the request's own fields are left alone, but for
// its decoded body, made once.
func (c *chatCall) attempt(ctx context.Context, cand *router.Candidate) (answer, time.Duration, error) {
	up := c.s.upstreamOf(cand)
	tm := up.Config.Timeouts
	if fwd, ok := cand.Provider.(chat.Forwarder); ok && up.Format == c.format.name() && c.head.Fallbacks == nil {
		return c.forward(ctx, cand, fwd, tm)
	}
	req, err := c.canonical()
	if err != nil {
		return answer{}, 0, requestError(err)
	}
	if up.Format != c.format.name() {
		req = c.translated(req)
	}
	t0 := time.Now()
	if !c.head.Stream {
		actx, cancel := context.WithTimeout(ctx, tm.FirstByte)
		defer cancel()
		resp, err := cand.Provider.Chat(actx, cand.Target, req)
		if err != nil {
			return answer{}, time.Since(t0), err
		}
		return answer{cand: cand, usage: resp.Usage, gotUsage: true,
			response: c.format.appendResponse(nil, resp, c.head.Model)}, time.Since(t0), nil
	}
	st, first, acancel, err := openChunkStream(ctx, cand, req, tm.FirstByte)
	if err != nil {
		return answer{}, time.Since(t0), err
	}
	return answer{cand: cand, stream: st, firstChunk: first, upCancel: acancel, ttft: time.Since(c.start)}, time.Since(t0), nil
}

// openChunkStream opens a streamed call on cand through the canonical
// types and waits for its first chunk, within firstByteTimeout of ctx. The
// stream runs on a context detached from ctx (so that it can be drained
// for its usage after the client left), ended by the returned cancel.
func openChunkStream(ctx context.Context, cand *router.Candidate, req *chat.Request, firstByteTimeout time.Duration) (chat.Stream, *chat.Chunk, context.CancelFunc, error) {
	streamer, ok := cand.Provider.(chat.Streamer)
	if !ok {
		return nil, nil, nil, &chat.UpstreamError{Provider: cand.Target.Provider, Status: http.StatusBadRequest,
			Message: "this provider cannot stream", Err: errors.ErrUnsupported}
	}
	actx, acancel := detached(ctx)
	var st chat.Stream
	var first *chat.Chunk
	err := firstByte(ctx, firstByteTimeout, acancel, func() error {
		var err error
		if st, err = streamer.ChatStream(actx, cand.Target, req); err != nil {
			return err
		}
		first, err = st.Recv()
		if errors.Is(err, io.EOF) {
			err = &chat.UpstreamError{Provider: cand.Target.Provider, Message: "stream ended before its first event", Err: io.ErrUnexpectedEOF}
		}
		return err
	})
	if err != nil {
		if st != nil {
			_ = st.Close()
		}
		acancel()
		return nil, nil, nil, err
	}
	return st, first, acancel, nil
}

// forward is the pass-through: the client's bytes with the model replaced.
func (c *chatCall) forward(ctx context.Context, cand *router.Candidate, fwd chat.Forwarder, tm TimeoutsConfig) (answer, time.Duration, error) {
	body, err := c.format.prepare(c.body, &c.head, cand.Target.Model)
	if err != nil {
		return answer{}, 0, requestError(badRequest("", "request body: "+err.Error()))
	}
	t0 := time.Now()
	if !c.head.Stream {
		actx, cancel := context.WithTimeout(ctx, tm.FirstByte)
		defer cancel()
		data, err := forwardWhole(actx, fwd, cand.Target, c.format.name(), chat.EndpointChat, body, 64<<20)
		if err != nil {
			return answer{}, time.Since(t0), err
		}
		return answer{cand: cand, passthrough: true, response: data, usage: c.format.responseUsage(data), gotUsage: true},
			time.Since(t0), nil
	}
	actx, acancel := detached(ctx)
	var resp *http.Response
	var events *sseReader
	var first []byte
	err = firstByte(ctx, tm.FirstByte, acancel, func() error {
		var err error
		if resp, err = fwd.Forward(actx, cand.Target, c.format.name(), chat.EndpointChat, body, true); err != nil {
			return err
		}
		events = newSSEReader(resp.Body)
		for {
			ev, err := events.next()
			if err != nil {
				return &chat.UpstreamError{Provider: cand.Target.Provider, Message: "stream ended before its first event", Err: err}
			}
			if isComment(ev) {
				continue
			}
			if e := c.format.streamError(cand.Target.Provider, ev); e != nil {
				return e
			}
			first = append([]byte(nil), ev...)
			return nil
		}
	})
	if err != nil {
		if resp != nil {
			_ = resp.Body.Close()
		}
		acancel()
		return answer{}, time.Since(t0), err
	}
	return answer{cand: cand, passthrough: true, events: events, upBody: resp.Body, firstEvent: first, upCancel: acancel,
		ttft: time.Since(c.start)}, time.Since(t0), nil
}

// forwardWhole forwards body to t unchanged, unstreamed, and reads the
// whole answer, up to limit bytes.
func forwardWhole(ctx context.Context, fwd chat.Forwarder, t chat.Target, format, endpoint string, body []byte, limit int64) ([]byte, error) {
	resp, err := fwd.Forward(ctx, t, format, endpoint, body, false)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	_ = resp.Body.Close()
	if err != nil {
		return nil, &chat.UpstreamError{Provider: t.Provider, Message: "reading the response", Err: err}
	}
	return data, nil
}

// detached is a context for an upstream stream: not cancelled when the
// client goes away (the stream is drained to meter its usage), cancelled
// by the returned function.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.WithoutCancel(ctx))
}

// errFirstByteTimeout reports a stream whose first event did not come in time.
var errFirstByteTimeout = errors.New("llm: no first event from the upstream within the first-byte timeout")

// firstByte runs fn, cancelling it (through cancel) when clientCtx ends or
// the timeout passes first.
func firstByte(clientCtx context.Context, timeout time.Duration, cancel context.CancelFunc, fn func() error) error {
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); cancel() })
	stop := context.AfterFunc(clientCtx, cancel)
	err := fn()
	timer.Stop()
	stop()
	switch {
	case err == nil:
		return nil
	case timedOut.Load():
		return &chat.UpstreamError{Message: "first-byte timeout", Err: errFirstByteTimeout}
	case clientCtx.Err() != nil:
		return clientCtx.Err()
	}
	return err
}

// checkContentType refuses a request body declared as anything but JSON:
// application/json or a +json type, with any parameters (a charset must be
// UTF-8, as JSON is). A request without Content-Type is read as JSON.
// Form-encoded bodies (what curl -d sends by default) get a 415 that says
// what to send instead.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" || strings.EqualFold(ct, "application/json") {
		return nil // without parsing: the common cases
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		if cs := strings.ToLower(params["charset"]); cs == "" || cs == "utf-8" || cs == "utf8" {
			return nil
		}
		return &apiError{Status: http.StatusUnsupportedMediaType, Type: "invalid_request_error", Code: "unsupported_media_type",
			Message: fmt.Sprintf("Content-Type charset %q is not supported: JSON bodies are UTF-8", truncate(params["charset"], 40))}
	}
	return &apiError{Status: http.StatusUnsupportedMediaType, Type: "invalid_request_error", Code: "unsupported_media_type",
		Message: fmt.Sprintf("Content-Type %q is not supported: send the body as JSON with Content-Type: application/json", truncate(ct, 100))}
}

// truncate shortens s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
