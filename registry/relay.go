package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// An upstream may ask its client (the registry) for sampling
// (sampling/createMessage), elicitation (elicitation/create) or the roots
// (roots/list) while it serves a tool call. Every connection declares the
// three capabilities, and relays each such request to the hook
// (CallOptions.OnSampling, OnElicitation, OnRoots) of the call it belongs
// to; calls with hooks run only on their caller's own session
// (sessions.go), so the shared connection's calls have none and it answers
// nothing:
//
//   - when the request reached the registry in the context of one call (a
//     streamable HTTP upstream sends it on the call's own response stream; a
//     2026-07-28 upstream asks for it in an input_required result, which
//     mcp-go fulfils within the call), to that call;
//   - otherwise (stdio, the standalone HTTP stream) by the same rule as log
//     messages: to the only request in flight on the connection, which on
//     a caller session is always its own caller's.
//
// A request that cannot be routed, or whose call set no hook, is refused
// with a JSON-RPC error; a hook's own error is passed on as the error
// message.

// callKey is the context key of the *callState of the call a request is
// sent for.
type callKey struct{}

// errPassInput stops mcp-go's answering of a 2026-07-28 upstream's
// input_required result, for a call with CallOptions.PassInputRequired:
// CallTool returns that result instead.
var errPassInput = errors.New("junction: the input_required result is passed to the caller")

// passInput reports whether the upstream's request belongs to a call that
// takes input_required results itself.
func (c *connection) passInput(ctx context.Context) bool {
	cs, ok := ctx.Value(callKey{}).(*callState)
	return ok && cs.opts.PassInputRequired && mcp.IsModernProtocol(c.protocol)
}

// relayError refuses an upstream's request to its client with a JSON-RPC
// error.
type relayError struct {
	code    int
	message string
}

func (e *relayError) Error() string { return e.message }

// route finds the call in flight that an upstream's request of method
// belongs to, and its context (which ends when the call does).
func (c *connection) route(ctx context.Context, method string) (*callState, error) {
	if cs, ok := ctx.Value(callKey{}).(*callState); ok {
		c.callsMu.Lock()
		live := c.calls[cs.key] == cs
		c.callsMu.Unlock()
		if !live {
			return nil, &relayError{code: mcp.INVALID_REQUEST, message: fmt.Sprintf("junction: %s refused: the tool call it belongs to has ended", method)}
		}
		return cs, nil
	}
	c.callsMu.Lock()
	n := len(c.calls)
	var only *callState
	if n == 1 {
		for _, cs := range c.calls {
			only = cs
		}
	}
	c.callsMu.Unlock()
	switch {
	case n == 0:
		return nil, &relayError{code: mcp.INVALID_REQUEST, message: fmt.Sprintf("junction: %s refused: it is only relayed to the caller of a tool call in progress, and none is", method)}
	case n > 1:
		return nil, &relayError{code: mcp.INVALID_REQUEST, message: fmt.Sprintf("junction: %s refused: %d requests are in progress on this connection, so the caller it is meant for is ambiguous", method, n)}
	}
	return only, nil
}

// hookContext is ctx (the transport's context for the request), also ended
// when the call cs ends.
func hookContext(ctx context.Context, cs *callState) (context.Context, context.CancelFunc) {
	hctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(cs.ctx, cancel)
	return hctx, func() {
		stop()
		cancel()
	}
}

// hookFunc is a call's hook for one kind of upstream request.
type hookFunc[Req any, Res any] = func(context.Context, Req) (*Res, error)

// relayTo relays an upstream's request to the hook of the call it belongs
// to: hook picks the hook from the call's options, what names the request in
// refusals ("sampling") and result what the caller failed to send ("sampling
// result"). prepare, when set, checks and completes the request first.
func relayTo[Req any, Res any](ctx context.Context, c *connection, method, what, result string,
	hook func(CallOptions) hookFunc[Req, Res], req Req, prepare func(*Req) error) (*Res, error) {
	if c.passInput(ctx) {
		return nil, errPassInput
	}
	cs, err := c.route(ctx, method)
	if err != nil {
		c.log.Debug().Err(err).Msg("registry: upstream " + what + " request refused")
		return nil, err
	}
	h := hook(cs.opts)
	if h == nil {
		return nil, &relayError{code: mcp.METHOD_NOT_FOUND, message: fmt.Sprintf("junction: %s refused: the client does not support %s", method, what)}
	}
	if prepare != nil {
		if err := prepare(&req); err != nil {
			return nil, err
		}
	}
	hctx, cancel := hookContext(ctx, cs)
	defer cancel()
	res, err := h(hctx, req)
	if err == nil && res == nil {
		err = errors.New("junction: the caller sent no " + result)
	}
	return res, err
}

// samplingRelay is the mcp-go sampling handler of a connection.
type samplingRelay struct{ c *connection }

func (s samplingRelay) CreateMessage(ctx context.Context, req mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	return relayTo(ctx, s.c, string(mcp.MethodSamplingCreateMessage), "sampling", "sampling result",
		func(o CallOptions) hookFunc[mcp.CreateMessageRequest, mcp.CreateMessageResult] { return o.OnSampling }, req, typeSamplingContent)
}

// typeSamplingContent parses the content of a sampling request's messages:
// mcp-go leaves that of input_required sampling requests (2026-07-28) as
// decoded JSON; the hook gets typed content either way.
func typeSamplingContent(req *mcp.CreateMessageRequest) error {
	req.Messages = slices.Clone(req.Messages)
	for i := range req.Messages {
		content, err := mcp.ParseSamplingContent(req.Messages[i].Content)
		if err != nil {
			return &relayError{code: mcp.INVALID_PARAMS, message: fmt.Sprintf("junction: %s: message %d: %v", mcp.MethodSamplingCreateMessage, i, err)}
		}
		req.Messages[i].Content = content
	}
	return nil
}

// elicitationRelay is the mcp-go elicitation handler of a connection.
type elicitationRelay struct{ c *connection }

func (e elicitationRelay) Elicit(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return relayTo(ctx, e.c, string(mcp.MethodElicitationCreate), "elicitation", "elicitation result",
		func(o CallOptions) hookFunc[mcp.ElicitationRequest, mcp.ElicitationResult] { return o.OnElicitation }, req, nil)
}

// rootsRelay is the mcp-go roots handler of a caller session. Roots are
// the roots of the caller's call in progress: a roots/list outside a call
// (many upstreams ask right after initialize) is refused, and the upstream
// asks again during the caller's call.
type rootsRelay struct{ c *connection }

func (r rootsRelay) ListRoots(ctx context.Context, req mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return relayTo(ctx, r.c, string(mcp.MethodListRoots), "roots", "roots",
		func(o CallOptions) hookFunc[mcp.ListRootsRequest, mcp.ListRootsResult] { return o.OnRoots }, req, nil)
}

// relayErrors wraps mcp-go's handler of the upstream's requests so that a
// *relayError becomes a JSON-RPC error with its own code (mcp-go would send
// every error as an internal error).
func relayErrors(h transport.RequestHandler) transport.RequestHandler {
	if h == nil {
		return nil
	}
	return func(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
		resp, err := h(ctx, req)
		var re *relayError
		if errors.As(err, &re) {
			return transport.NewJSONRPCErrorResponse(req.ID, re.code, re.message, nil), nil
		}
		return resp, err
	}
}
