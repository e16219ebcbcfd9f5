package mcp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
)

// Input required (2026-07-28 clients). A stateless client cannot take a
// server-initiated request, so when an upstream asks for sampling,
// elicitation or the roots during such a client's tools/call (whatever the
// upstream's own era: mcp-go's client turns a 2026-07-28 upstream's
// input_required result into the same hook calls as a 2025-11-25 upstream's
// requests), the hub:
//
//  1. keeps the upstream call running, parked in memory on this replica,
//     its hooks waiting for answers;
//  2. ends the client's tools/call with an input_required result carrying
//     the upstream's requests and a requestState that names the parked call,
//     MAC'd (HMAC-SHA256 under a key derived from the registry's secret key)
//     with the caller, the tool, the round and an expiry, so it cannot be
//     forged, replayed by another key or for another tool;
//  3. on the client's retry with inputResponses and that requestState,
//     checks it, hands the answers to the waiting hooks and waits again:
//     for the call's result, or for its next input requests (a new round).
//
// The parked call lives on one replica: a retry that reaches another one,
// or comes after the call ended or the state expired, gets a tool error
// saying so. Only clients that declared the capability (in the request's
// _meta) are asked; the others are refused as before.
//
// A 2026-07-28 upstream needs no parking: its own input_required result is
// handed on (registry.CallOptions.PassInputRequired) with its requestState
// wrapped in Junction's MAC'd one, and the retry, on any replica, sends the
// answers and the upstream's state back (registry.CallOptions.Resume). Each
// round is then a tools/call of its own upstream, and is checked, metered
// and logged as one.

// keyDeriver is implemented by upstreams that can derive keys from the
// gateway's secret (*registry.Registry); without one the hub uses a random
// key of its own, which only its own process can check.
type keyDeriver interface {
	DeriveKey(purpose string) []byte
}

const (
	// pendingTTL bounds how long a call waits for the client's answers;
	// the upstream call's own timeout usually ends it sooner.
	pendingTTL = 10 * time.Minute
	// inputGrace is how long a round waits, after the first input request,
	// for others the upstream sends at the same time.
	inputGrace = 20 * time.Millisecond
	// maxPending bounds the calls parked at once on a replica.
	maxPending = 10000
	// stateVersion is the version of the requestState format.
	stateVersion = 1
)

// Kinds of requestState.
const (
	stateParked  = "park" // names a parked call on one replica
	stateWrapped = "wrap" // wraps a 2026-07-28 upstream's own state
)

// requestState is what the MAC'd requestState says.
type requestState struct {
	V       int    `json:"v"`
	Kind    string `json:"k"`
	Replica string `json:"r,omitempty"`
	Pending string `json:"p,omitempty"`
	// Upstream is the wrapped upstream requestState.
	Upstream string `json:"u,omitempty"`
	Owner    string `json:"o"`
	Tool     string `json:"t"`
	// Server is the upstream server the tool was served by: a wrapped
	// state goes back to that server only.
	Server  string `json:"s,omitempty"`
	Round   int    `json:"n"`
	Expires int64  `json:"e"` // Unix seconds
}

// stateSealer MACs request states.
type stateSealer struct{ key []byte }

func (s stateSealer) seal(st requestState) string {
	payload, _ := json.Marshal(st)
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// errBadState is a requestState that Junction did not issue or that was
// changed.
var errBadState = errors.New("the requestState was not issued by this gateway or was altered")

func (s stateSealer) open(token string) (requestState, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return requestState{}, errBadState
	}
	// Strict: a token re-encoded with other unused bits is not one this
	// gateway issued.
	payload, err1 := base64.RawURLEncoding.Strict().DecodeString(p)
	mac, err2 := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err1 != nil || err2 != nil {
		return requestState{}, errBadState
	}
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return requestState{}, errBadState
	}
	var st requestState
	if json.Unmarshal(payload, &st) != nil || st.V != stateVersion {
		return requestState{}, errBadState
	}
	return st, nil
}

// inputAnswer is the client's answer to one input request.
type inputAnswer struct {
	resp mcp.InputResponse
	err  error
}

// inputAsk is one input request from a parked call's hook.
type inputAsk struct {
	req   mcp.InputRequest
	reply chan inputAnswer // buffered: the answer never blocks
}

// callEvent is what a running call tells the handler waiting on it: an
// input request, or its result.
type callEvent struct {
	ask *inputAsk
	res *mcp.CallToolResult
}

// pendingCall is an upstream call of a 2026-07-28 client that may wait for
// the client's input.
type pendingCall struct {
	id     string
	owner  string
	tool   string
	events chan callEvent
	cancel context.CancelFunc
	// notify forwards the call's progress and log messages to the request
	// that waits on it now (nil between rounds).
	notify atomic.Pointer[roundNotify]

	// mu guards round, asks and timer.
	mu    sync.Mutex
	round int
	asks  map[string]*inputAsk // the requests of the round sent to the client
	timer *time.Timer
}

// roundNotify are the progress and log hooks of the client request of one
// round.
type roundNotify struct {
	progress func(progress, total float64, message string)
	log      func(level, logger string, data any)
}

// setNotify makes opts' progress and log hooks those of the current round.
func (pc *pendingCall) setNotify(opts registry.CallOptions) {
	pc.notify.Store(&roundNotify{progress: opts.OnProgress, log: opts.OnLog})
}

// pendingCalls are the calls of this replica that wait for input.
type pendingCalls struct {
	replica string
	sealer  stateSealer
	waiting prometheus.Gauge

	// mu guards calls, running and closed.
	mu    sync.Mutex
	calls map[string]*pendingCall
	// running holds every call whose goroutine runs, parked or not, so
	// that close ends them all.
	running map[*pendingCall]struct{}
	closed  bool
	// wg counts the goroutines that run the calls.
	wg sync.WaitGroup
}

func newPendingCalls(up Upstreams, waiting prometheus.Gauge) *pendingCalls {
	var key []byte
	if kd, ok := up.(keyDeriver); ok {
		key = kd.DeriveKey("mcp-request-state")
	} else {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &pendingCalls{replica: randomID(), sealer: stateSealer{key: key}, waiting: waiting, calls: map[string]*pendingCall{},
		running: map[*pendingCall]struct{}{}}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// close cancels every call and waits for their goroutines.
func (p *pendingCalls) close() {
	p.mu.Lock()
	p.closed = true
	calls := make([]*pendingCall, 0, len(p.running)+len(p.calls))
	for pc := range p.running {
		calls = append(calls, pc)
	}
	for _, pc := range p.calls {
		if _, ok := p.running[pc]; !ok {
			calls = append(calls, pc)
		}
	}
	p.mu.Unlock()
	for _, pc := range calls {
		p.end(pc)
	}
	p.wg.Wait()
}

// park makes pc findable by its requestState until it ends or expires.
func (p *pendingCalls) park(pc *pendingCall) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("the gateway is shutting down")
	}
	if _, ok := p.calls[pc.id]; !ok && len(p.calls) >= maxPending {
		return fmt.Errorf("%d tool calls are already waiting for input on this replica", maxPending)
	}
	p.calls[pc.id] = pc
	p.waiting.Set(float64(len(p.calls)))
	pc.mu.Lock()
	if pc.timer != nil {
		pc.timer.Stop()
	}
	pc.timer = time.AfterFunc(pendingTTL, func() { p.end(pc) })
	pc.mu.Unlock()
	return nil
}

// end forgets pc and cancels its upstream call.
func (p *pendingCalls) end(pc *pendingCall) {
	p.mu.Lock()
	if p.calls[pc.id] == pc {
		delete(p.calls, pc.id)
	}
	p.waiting.Set(float64(len(p.calls)))
	p.mu.Unlock()
	pc.mu.Lock()
	if pc.timer != nil {
		pc.timer.Stop()
	}
	pc.mu.Unlock()
	pc.cancel()
}

func (p *pendingCalls) get(id string) *pendingCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

// ask sends an input request to the handler waiting on the call and waits
// for the client's answer (or the end of the call).
func (pc *pendingCall) ask(ctx context.Context, req mcp.InputRequest) (mcp.InputResponse, error) {
	a := &inputAsk{req: req, reply: make(chan inputAnswer, 1)}
	select {
	case pc.events <- callEvent{ask: a}:
	case <-ctx.Done():
		return mcp.InputResponse{}, ctx.Err()
	}
	select {
	case ans := <-a.reply:
		return ans.resp, ans.err
	case <-ctx.Done():
		return mcp.InputResponse{}, fmt.Errorf("no answer from the client: %w", ctx.Err())
	}
}

// modernCaps returns the capabilities a 2026-07-28 request declared, or nil
// for a legacy request.
func modernCaps(ctx context.Context) *mcp.ClientCapabilities {
	info := server.RequestProtocolInfoFromContext(ctx)
	if info == nil || !info.Modern {
		return nil
	}
	if info.ClientCapabilities == nil {
		return &mcp.ClientCapabilities{}
	}
	return info.ClientCapabilities
}

// wantsInput reports whether a 2026-07-28 client can be asked for input.
func wantsInput(caps *mcp.ClientCapabilities) bool {
	return caps != nil && (caps.Sampling != nil || caps.Elicitation != nil || caps.Roots != nil)
}

// askFor asks pc's client req and returns the part of its answer that
// answered is, failing with "the client sent no <what>" when that part is
// missing.
func askFor[T any](ctx context.Context, pc *pendingCall, req mcp.InputRequest, answered func(mcp.InputResponse) *T, what string) (*T, error) {
	resp, err := pc.ask(ctx, req)
	if err == nil && answered(resp) == nil {
		err = errors.New("the client sent no " + what)
	}
	return answered(resp), err
}

// callWithInput runs a 2026-07-28 client's tools/call, or its retry with
// answers, through the input-required flow.
func (e *endpoint) callWithInput(ctx context.Context, public string, req mcp.CallToolRequest, args json.RawMessage, opts registry.CallOptions, caps *mcp.ClientCapabilities) *mcp.CallToolResult {
	p := e.h.pending
	if req.Params.RequestState != "" {
		return e.resume(ctx, public, req, args, opts, caps)
	}
	if en := e.h.cur.Load().toolsByName[public]; en != nil && e.h.cur.Load().modern[en.tool.Server] {
		return e.callStateless(ctx, public, args, opts, caps, nil)
	}
	pc := &pendingCall{id: randomID(), owner: owner(policy.IdentityFrom(ctx)), tool: public, events: make(chan callEvent, 64)}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pc.cancel = cancel
	// Progress and log messages go to whichever request of the client waits
	// on the call (each round is a request of its own).
	pc.setNotify(opts)
	opts.ProgressToken = nil
	opts.OnProgress = func(progress, total float64, message string) {
		if n := pc.notify.Load(); n != nil && n.progress != nil {
			n.progress(progress, total, message)
		}
	}
	opts.OnLog = func(level, logger string, data any) {
		if n := pc.notify.Load(); n != nil && n.log != nil {
			n.log(level, logger, data)
		}
	}
	// A request of a kind the client did not declare has no hook, and is
	// refused.
	if caps.Sampling != nil {
		opts.OnSampling = func(hctx context.Context, r mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			if (len(r.Tools) > 0 || r.ToolChoice != nil) && caps.Sampling.Tools == nil {
				return nil, errors.New("the client does not support sampling with tools")
			}
			return askFor(hctx, pc, mcp.NewSamplingInputRequest(r.CreateMessageParams), func(r mcp.InputResponse) *mcp.CreateMessageResult { return r.Sampling }, "sampling result")
		}
	}
	if caps.Elicitation != nil {
		opts.OnElicitation = func(hctx context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			if r.Params.Mode == mcp.ElicitationModeURL && caps.Elicitation.URL == nil {
				return nil, errors.New("the client does not support URL elicitation")
			}
			return askFor(hctx, pc, mcp.NewElicitationInputRequest(r.Params), func(r mcp.InputResponse) *mcp.ElicitationResult { return r.Elicitation }, "elicitation result")
		}
	}
	if caps.Roots != nil {
		opts.OnRoots = func(hctx context.Context, _ mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
			return askFor(hctx, pc, mcp.NewRootsInputRequest(), func(r mcp.InputResponse) *mcp.ListRootsResult { return r.Roots }, "roots")
		}
	}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.wg.Add(1)
		p.running[pc] = struct{}{}
	}
	p.mu.Unlock()
	if closed {
		cancel()
		return mcp.NewToolResultError("the gateway is shutting down")
	}
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			delete(p.running, pc)
			p.mu.Unlock()
		}()
		defer cancel()
		out, err := e.h.callTool(cctx, policy.IdentityFrom(cctx), public, args, opts)
		select {
		case pc.events <- callEvent{res: e.toolResult(public, out, err)}:
		default: // nobody will read it: the buffer is full of unanswered asks
		}
	}()
	return e.await(ctx, pc)
}

// await waits for the call's next event: its result, or a round of input
// requests, which it returns to the client as an input_required result.
func (e *endpoint) await(ctx context.Context, pc *pendingCall) *mcp.CallToolResult {
	p := e.h.pending
	var ev callEvent
	select {
	case ev = <-pc.events:
	case <-ctx.Done():
		// The client went away (or cancelled): so does the call.
		p.end(pc)
		return mcp.NewToolResultError("the tool call was cancelled")
	}
	if ev.res != nil {
		p.end(pc)
		return ev.res
	}
	asks := []*inputAsk{ev.ask}
	grace := time.NewTimer(inputGrace)
gather:
	for {
		select {
		case more := <-pc.events:
			if more.res != nil {
				// Cannot happen while asks wait; keep it for the next wait.
				select {
				case pc.events <- more:
				default:
				}
				break gather
			}
			asks = append(asks, more.ask)
		case <-grace.C:
			break gather
		}
	}
	grace.Stop()

	pc.notify.Store(nil) // the round's request ends here
	pc.mu.Lock()
	pc.round++
	round := pc.round
	pc.asks = make(map[string]*inputAsk, len(asks))
	requests := make(mcp.InputRequests, len(asks))
	for i, a := range asks {
		id := fmt.Sprintf("junction-%d-%d", round, i+1)
		pc.asks[id] = a
		requests[id] = a.req
	}
	pc.mu.Unlock()
	if err := p.park(pc); err != nil {
		for _, a := range asks {
			a.reply <- inputAnswer{err: err}
		}
		return e.await(ctx, pc)
	}
	state := p.sealer.seal(requestState{V: stateVersion, Kind: stateParked, Replica: p.replica, Pending: pc.id, Owner: pc.owner,
		Tool: pc.tool, Round: round, Expires: time.Now().Add(pendingTTL).Unix()})
	e.h.log.Debug().Str("tool", pc.tool).Int("round", round).Int("requests", len(requests)).Msg("mcp: tool call waits for the client's input")
	return &mcp.CallToolResult{
		Result:               mcp.Result{ResultType: mcp.ResultTypeInputRequired},
		MultiRoundTripResult: mcp.MultiRoundTripResult{InputRequests: requests, RequestState: state},
	}
}

// callStateless runs one round of a 2026-07-28 client's call to a
// 2026-07-28 upstream: an input_required result goes to the client with the
// upstream's requestState wrapped.
func (e *endpoint) callStateless(ctx context.Context, public string, args json.RawMessage, opts registry.CallOptions, caps *mcp.ClientCapabilities, resume *mcp.MultiRoundTripParams) *mcp.CallToolResult {
	opts.PassInputRequired, opts.Resume = true, resume
	out, err := e.h.callTool(ctx, policy.IdentityFrom(ctx), public, args, opts)
	res := e.toolResult(public, out, err)
	if res.ResultType != mcp.ResultTypeInputRequired {
		return res
	}
	for id, r := range res.InputRequests {
		if !canAnswer(caps, r.Method) {
			return mcp.NewToolResultError(fmt.Sprintf("the upstream asks the client for %s (input request %q), which the client does not support", r.Method, id))
		}
	}
	res.RequestState = e.h.pending.sealer.seal(requestState{V: stateVersion, Kind: stateWrapped, Upstream: res.RequestState,
		Owner: owner(policy.IdentityFrom(ctx)), Tool: public, Server: e.toolServer(public), Expires: time.Now().Add(pendingTTL).Unix()})
	return res
}

// toolServer returns the upstream server of the tool named public now, or
// "".
func (e *endpoint) toolServer(public string) string {
	if en := e.h.cur.Load().toolsByName[public]; en != nil {
		return en.tool.Server
	}
	return ""
}

// canAnswer reports whether a client with caps can answer an input request
// of method.
func canAnswer(caps *mcp.ClientCapabilities, method mcp.MCPMethod) bool {
	switch method {
	case mcp.MethodSamplingCreateMessage:
		return caps.Sampling != nil
	case mcp.MethodElicitationCreate:
		return caps.Elicitation != nil
	case mcp.MethodListRoots:
		return caps.Roots != nil
	}
	return false
}

// resume takes a client's retry with answers: to the call its requestState
// names, or to the wrapped upstream state.
func (e *endpoint) resume(ctx context.Context, public string, req mcp.CallToolRequest, args json.RawMessage, opts registry.CallOptions, caps *mcp.ClientCapabilities) *mcp.CallToolResult {
	p := e.h.pending
	st, err := p.sealer.open(req.Params.RequestState)
	switch {
	case err != nil:
		return mcp.NewToolResultError("invalid requestState: " + err.Error())
	case st.Tool != public:
		return mcp.NewToolResultError(fmt.Sprintf("invalid requestState: it was issued for tool %q, not %q", st.Tool, public))
	case st.Owner != owner(policy.IdentityFrom(ctx)):
		return mcp.NewToolResultError("invalid requestState: it was issued to another caller")
	case time.Now().Unix() > st.Expires:
		return mcp.NewToolResultError("the tool call waiting for this input has expired; call the tool again")
	case st.Kind == stateWrapped && st.Server != e.toolServer(public):
		return mcp.NewToolResultError(fmt.Sprintf("invalid requestState: it was issued for tool %q of another upstream server; call the tool again", public))
	case st.Kind == stateWrapped:
		return e.callStateless(ctx, public, args, opts, caps,
			&mcp.MultiRoundTripParams{InputResponses: req.Params.InputResponses, RequestState: st.Upstream})
	case st.Kind != stateParked:
		return mcp.NewToolResultError("invalid requestState: " + errBadState.Error())
	case st.Replica != p.replica:
		return mcp.NewToolResultError("the tool call waiting for this input runs on another Junction replica, which the retry did not reach; " +
			"route retries to the same replica (sticky sessions) or call the tool again")
	}
	pc := p.get(st.Pending)
	if pc == nil {
		return mcp.NewToolResultError("the tool call waiting for this input has ended (it timed out or the gateway restarted); call the tool again")
	}
	pc.mu.Lock()
	asks := pc.asks
	if pc.round != st.Round || asks == nil {
		pc.mu.Unlock()
		return mcp.NewToolResultError("this requestState was already answered; use the one from the latest input_required result")
	}
	pc.asks = nil
	pc.mu.Unlock()
	pc.setNotify(opts)

	requests := make(mcp.InputRequests, len(asks))
	for id, a := range asks {
		requests[id] = a.req
	}
	responses := req.Params.InputResponses
	decodeErr := responses.DecodeFor(requests)
	for id, a := range asks {
		resp, ok := responses[id]
		switch {
		case decodeErr != nil:
			a.reply <- inputAnswer{err: decodeErr}
		case !ok:
			a.reply <- inputAnswer{err: fmt.Errorf("the client did not answer input request %q", id)}
		default:
			a.reply <- inputAnswer{resp: resp}
		}
	}
	return e.await(ctx, pc)
}
