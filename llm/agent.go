package llm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
)

// The agent loop (package agent) answers the chat requests that name MCP
// tools. This is its model side: each model call of a loop runs the one
// pipeline (pipeline.go) like any request, through agentModels, and the
// loop writes in the client's format through agentFormat.

// initAgent builds the loop with its configuration, tools and metrics,
// from New. Its tool selector ranks tools with the cache's embedding model
// when one is configured (cache.semantic), else with the built-in lexical
// embedder.
func (s *Service) initAgent(opts Options) {
	s.loop = agent.NewLoop(agent.Options{Config: opts.Agent, Hub: opts.Tools, Registerer: opts.Registerer, Logger: opts.Logger,
		Embedder: func() agent.Embedder { return s.embedder }, Lexical: cache.NewLexical(0)})
}

// serveAgent runs the loop for c, whose reach rc its model calls share,
// and reports false (having written nothing) when c names no MCP tools
// after all.
func (s *Service) serveAgent(w http.ResponseWriter, r *http.Request, c *chatCall, rc *reach) bool {
	h := &c.head
	return s.loop.Serve(w, r, agent.Request{Body: c.body, Model: h.Model, Stream: h.Stream,
		IncludeUsage: h.StreamOptions != nil && h.StreamOptions.IncludeUsage, Start: c.start,
		Format: agentFormat{c.format}, Models: &agentModels{s: s, c: c, rc: rc}})
}

// agentFormat is a client format as the loop answers in it.
type agentFormat struct{ clientFormat }

func (f agentFormat) Decode(body []byte) (*chat.Request, error) { return f.decode(body) }

func (f agentFormat) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	f.writeError(w, r, err)
}

func (f agentFormat) AppendStreamError(dst []byte, err error) []byte {
	return f.appendStreamError(dst, classify(err))
}

func (f agentFormat) AppendResponse(dst []byte, resp *chat.Response, model string, limited bool) []byte {
	body := f.appendResponse(dst, resp, model)
	if limited && f.name() == chat.FormatAnthropic {
		body = agent.PauseTurn(body)
	}
	return body
}

func (f agentFormat) NewStream(model string, includeUsage bool) agent.StreamWriter {
	if f.name() == chat.FormatAnthropic {
		return agent.NewAnthropicStream(model)
	}
	return agent.NewOpenAIStream(model, includeUsage)
}

// agentModels makes one loop's model calls through the pipeline. Each call
// checks the access to every model the request may reach (rc) again and is
// priced at the most expensive target of them (reach.go); the first with
// the client's body size, later ones with the conversation's.
type agentModels struct {
	s        *Service
	c        *chatCall // the client's head, body and labels
	rc       *reach
	answered int
	// first is the first answered call's admission: its rate limits go in
	// the response headers.
	first *policy.Reservation
}

func (m *agentModels) next(req *chat.Request, stream bool) modelCall {
	size := len(m.c.body)
	if m.answered > 0 {
		size = req.SizeHint()
	}
	cc := &m.c.call
	return modelCall{s: m.s, id: cc.id, model: m.c.head.Model, team: cc.team, key: cc.key, stream: stream,
		promptTokens: estimateTokens(size), maxTokens: cc.maxTokens, rc: m.rc, recheck: true}
}

// context is ctx with what the provider passes on of the client's headers.
func (m *agentModels) context(ctx context.Context) context.Context {
	if m.c.format.name() == chat.FormatAnthropic {
		return chat.WithClientHeaders(ctx, m.c.r.Header)
	}
	return ctx
}

// failed is the loop's error of a call that failed: refused when p was
// not admitted.
func failed(p *modelCall, err error) error {
	if p.res == nil {
		return &agent.RefusedError{Err: err}
	}
	return err
}

// answer counts a call that got its answer.
func (m *agentModels) answer(p *modelCall) {
	if m.first == nil {
		m.first = p.res
	}
	m.answered++
}

// SetHeaders sets the rate-limit headers of the first answered call.
func (m *agentModels) SetHeaders(h http.Header) {
	if m.first != nil {
		setRateLimitHeaders(h, m.first.RateLimits(), m.s.now())
	}
}

// forProvider is req as a candidate of another wire format takes it:
// without the client format's unmodelled fields.
func (m *agentModels) forProvider(c *router.Candidate, req *chat.Request) *chat.Request {
	if m.s.upstreamOf(c).Format == m.c.format.name() || len(req.Extra) == 0 {
		return req
	}
	cp := *req
	cp.Extra = nil
	return &cp
}

func spentOf(r router.Served, d delivery, cost float64) agent.Spent {
	t := r.Candidate.Target
	return agent.Spent{Usage: d.usage, CostUSD: cost, Target: t.Provider + "/" + t.Model, Upstream: r.UpstreamTime, Status: d.status}
}

// Complete is one whole-answer model call of the loop.
func (m *agentModels) Complete(ctx context.Context, req *chat.Request) (*chat.Response, agent.Spent, error) {
	t := &agentTurn{m: m, req: req}
	p := m.next(req, false)
	if err := runModelCall[*chat.Response](m.context(ctx), &p, t); err != nil {
		return nil, agent.Spent{}, failed(&p, err)
	}
	return t.resp, t.spent, nil
}

// agentTurn is the pipeline's front end of one whole-answer call.
type agentTurn struct {
	noCache
	m     *agentModels
	req   *chat.Request
	resp  *chat.Response
	spent agent.Spent
}

func (t *agentTurn) attempt(ctx context.Context, c *router.Candidate) (*chat.Response, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, t.m.s.upstreamOf(c).Config.Timeouts.FirstByte)
	defer cancel()
	t0 := time.Now()
	out, err := c.Provider.Chat(actx, c.Target, t.m.forProvider(c, t.req))
	return out, time.Since(t0), err
}

func (t *agentTurn) deliver(_ context.Context, p *modelCall, r router.Result[*chat.Response]) delivery {
	t.m.answer(p)
	t.resp = r.Value
	return delivery{usage: r.Value.Usage, status: "ok"}
}

func (t *agentTurn) record(_ context.Context, _ *modelCall, r router.Served, d delivery, cost float64) {
	t.spent = spentOf(r, d, cost)
}

// Stream is one streamed model call of the loop: the first event decides
// success, so a failing target can still be retried or failed over; relay
// then reads the stream, and how it ended goes to the router.
func (m *agentModels) Stream(ctx context.Context, req *chat.Request, relay func(agent.ModelStream) bool) (agent.Spent, error) {
	t := &agentStreamTurn{m: m, req: req, relay: relay}
	p := m.next(req, true)
	if err := runModelCall[openedStream](m.context(ctx), &p, t); err != nil {
		return agent.Spent{}, failed(&p, err)
	}
	return t.spent, nil
}

// openedStream is what the attempt that opens a streamed model call
// returns: the stream, its first chunk and what ends it.
type openedStream struct {
	st     chat.Stream
	first  *chat.Chunk
	cancel context.CancelFunc
}

// agentStreamTurn is the pipeline's front end of one streamed call.
type agentStreamTurn struct {
	noCache
	m     *agentModels
	req   *chat.Request
	start time.Time // of the first attempt
	relay func(agent.ModelStream) bool
	spent agent.Spent
}

func (t *agentStreamTurn) attempt(ctx context.Context, c *router.Candidate) (openedStream, time.Duration, error) {
	t0 := time.Now()
	if t.start.IsZero() {
		t.start = t0
	}
	st, first, cancel, err := openChunkStream(ctx, c, t.m.forProvider(c, t.req), t.m.s.upstreamOf(c).Config.Timeouts.FirstByte)
	return openedStream{st: st, first: first, cancel: cancel}, time.Since(t0), err
}

func (t *agentStreamTurn) deliver(_ context.Context, p *modelCall, r router.Result[openedStream]) delivery {
	t.m.answer(p)
	ttft := time.Since(t.start)
	st := &agentStream{st: r.Value.st, first: r.Value.first, cand: r.Candidate}
	gone := t.relayTo(st, r.Value.cancel, r.Served)
	d := delivery{usage: st.usage, status: streamStatus(st.err, gone), ttft: ttft}
	if st.err != nil && d.usage == (chat.Usage{}) {
		d.usage = chat.Usage{PromptTokens: estimateTokens(t.req.SizeHint()), CompletionTokens: st.events}
	}
	return d
}

// relayTo hands the open stream to the loop's relay, watched for silence
// and for its client going away, and reports how it ended to the router
// (the target's breaker and balancer count a stream broken mid-way as a
// failure).
func (t *agentStreamTurn) relayTo(st *agentStream, cancel context.CancelFunc, res router.Served) (gone bool) {
	s := t.m.s
	st.wd = newWatchdog(t.m.c.r.Context(), s.upstreamOf(st.cand).Config.Timeouts.StreamIdle, s.cfg.Routing.DrainTimeout, cancel)
	defer st.wd.close()
	defer func() { _ = st.st.Close() }()
	// The stream's outcome goes to the router below; this only releases
	// the target should the relay panic.
	defer res.Finish(context.Canceled)
	gone = t.relay(st)
	res.Finish(st.err)
	return gone
}

func (t *agentStreamTurn) record(_ context.Context, _ *modelCall, r router.Served, d delivery, cost float64) {
	t.spent = spentOf(r, d, cost)
}

// agentStream is the loop's view of an open model stream: its chunks, the
// usage they report and how the stream ended.
type agentStream struct {
	st     chat.Stream
	first  *chat.Chunk
	cand   *router.Candidate
	wd     *watchdog
	usage  chat.Usage
	events int64 // chunks with content, for an estimate when the usage never came
	err    error // the stream's failure, as the client and the router see it
}

func (a *agentStream) Recv() (*chat.Chunk, error) {
	c := a.first
	if c != nil {
		a.first = nil
	} else {
		var err error
		c, err = a.st.Recv()
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		if err != nil {
			scrubKey(err, a.cand.Target.APIKey)
			a.err = a.wd.outcome(a.cand.Target.Provider, err)
			return nil, a.err
		}
		a.wd.kick()
	}
	if c.Usage != nil {
		a.usage = *c.Usage
	}
	if c.Content != "" || len(c.ToolCalls) > 0 {
		a.events++
	}
	return c, nil
}
