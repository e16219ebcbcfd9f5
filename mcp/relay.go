package mcp

import (
	"context"
	"errors"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
)

// Sampling (sampling/createMessage), elicitation (elicitation/create) and
// roots (roots/list) requests that an upstream sends during a tool call are
// relayed to the client that made the call (the registry matches them to
// the call, see registry.CallOptions), when that client can answer them:
//
//   - a 2025-11-25 (session) client that declared the capability at
//     initialize gets the request as a server-initiated request on its
//     session (on the tools/call response stream), and its answer goes back
//     to the upstream;
//   - a 2026-07-28 client that declared the capability in the request's
//     _meta gets an input_required result, and the call goes on when the
//     client retries with the answers (inputrequired.go);
//   - any other client (no capability, or a transport whose sessions cannot
//     carry server requests such as legacy SSE) gets nothing, and the
//     upstream gets an error saying the client does not support it.
//
// A call that can answer such requests names its caller (callerOf: the key
// and, for a 2025-11-25 client, its session), and the registry runs it on
// an upstream session of that caller's own: nothing one caller's client
// supplies (roots, sampling results, elicitation answers) reaches another
// caller, even through an upstream that caches it per session.

// errNoSampling and errNoElicitation are what the upstream is told when
// the caller cannot answer.
var (
	errNoSampling    = errors.New("the client does not support sampling")
	errNoElicitation = errors.New("the client does not support elicitation")
	errNoRoots       = errors.New("the client does not support roots")
)

// sessionCaps returns the capabilities that the caller of the request in
// ctx declared at initialize, or nil for a 2026-07-28 request (those take
// the input_required flow instead) or when they are unknown.
func sessionCaps(ctx context.Context) *mcp.ClientCapabilities {
	if server.IsModernRequest(ctx) {
		return nil
	}
	info, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	if !ok {
		return nil
	}
	caps := info.GetClientCapabilities()
	return &caps
}

// relayContext is the caller's request context dctx (which names the
// caller's session), also ended when the registry's hook context ends.
func relayContext(dctx, hctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(dctx)
	stop := context.AfterFunc(hctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// relay returns a hook that asks the caller of the tools/call whose request
// context is dctx with send, unless refuse, given the capabilities the caller
// declared, returns an error; kind names the request in the log.
func relay[Req, Res any](e *endpoint, dctx context.Context, kind string, refuse func(*mcp.ClientCapabilities, Req) error, send func(context.Context, Req) (Res, error)) func(context.Context, Req) (Res, error) {
	return func(hctx context.Context, req Req) (Res, error) {
		if err := refuse(sessionCaps(dctx), req); err != nil {
			var zero Res
			return zero, err
		}
		ctx, cancel := relayContext(dctx, hctx)
		defer cancel()
		e.h.log.Debug().Msg("mcp: relaying an upstream's " + kind + " request to the caller")
		return send(ctx, req)
	}
}

// relaySampling returns the OnSampling hook of a tools/call whose request
// context is dctx, on srv.
func (e *endpoint) relaySampling(dctx context.Context, srv *server.MCPServer) func(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	return relay(e, dctx, "sampling", func(caps *mcp.ClientCapabilities, req mcp.CreateMessageRequest) error {
		if _, ok := server.ClientSessionFromContext(dctx).(server.SessionWithSampling); srv == nil || caps == nil || caps.Sampling == nil || !ok {
			return errNoSampling
		}
		if (len(req.Tools) > 0 || req.ToolChoice != nil) && caps.Sampling.Tools == nil {
			return errors.New("the client does not support sampling with tools")
		}
		return nil
	}, func(ctx context.Context, req mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		//lint:ignore SA1019 server-initiated sampling is how 2025-11-25 clients are asked; 2026-07-28 ones are refused above.
		return srv.RequestSampling(ctx, req)
	})
}

// relayElicitation returns the OnElicitation hook of a tools/call whose
// request context is dctx, on srv.
func (e *endpoint) relayElicitation(dctx context.Context, srv *server.MCPServer) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return relay(e, dctx, "elicitation", func(caps *mcp.ClientCapabilities, req mcp.ElicitationRequest) error {
		if _, ok := server.ClientSessionFromContext(dctx).(server.SessionWithElicitation); srv == nil || caps == nil || caps.Elicitation == nil || !ok {
			return errNoElicitation
		}
		// An empty elicitation capability means form mode only.
		if req.Params.Mode == mcp.ElicitationModeURL && caps.Elicitation.URL == nil {
			return errors.New("the client does not support URL elicitation")
		}
		return nil
	}, srv.RequestElicitation)
}

// relayRoots returns the OnRoots hook of a tools/call whose request context
// is dctx, on srv.
func (e *endpoint) relayRoots(dctx context.Context, srv *server.MCPServer) func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return relay(e, dctx, "roots", func(caps *mcp.ClientCapabilities, _ mcp.ListRootsRequest) error {
		if _, ok := server.ClientSessionFromContext(dctx).(server.SessionWithRoots); srv == nil || caps == nil || caps.Roots == nil || !ok {
			return errNoRoots
		}
		return nil
	}, srv.RequestRoots)
}

// rootsNotifier is what the hub needs from the upstreams to pass a
// client's notifications/roots/list_changed on; *registry.Registry
// implements it.
type rootsNotifier interface {
	NotifyRootsListChanged(ctx context.Context, caller registry.Caller) error
}

// sessionEnder is what the hub needs from the upstreams to close the
// upstream sessions of a downstream session that ended;
// *registry.Registry implements it.
type sessionEnder interface {
	EndSession(id string)
}

var (
	_ rootsNotifier = (*registry.Registry)(nil)
	_ sessionEnder  = (*registry.Registry)(nil)
)

// rootsNotifyTimeout bounds passing one roots list_changed on.
const rootsNotifyTimeout = 5 * time.Second

// callerOf names the caller of the request in ctx for the registry: its key
// and, for a 2025-11-25 client, its session (two clients of one key may
// have different roots); a stateless 2026-07-28 client is its key.
func callerOf(ctx context.Context) registry.Caller {
	c := registry.Caller{Key: owner(policy.IdentityFrom(ctx))}
	if !server.IsModernRequest(ctx) {
		if s := server.ClientSessionFromContext(ctx); s != nil {
			c.Session = s.SessionID()
		}
	}
	return c
}

// relayHooks sets the hooks of a 2025-11-25 client's tools/call whose
// request context is dctx, on srv, for the features its client declared
// (and its session can carry): the call then runs on the caller's own
// upstream session. A client with none gets no hooks, and its calls share
// the upstream's session, where such requests are refused.
func (e *endpoint) relayHooks(dctx context.Context, srv *server.MCPServer, opts *registry.CallOptions) {
	caps := sessionCaps(dctx)
	sess := server.ClientSessionFromContext(dctx)
	if srv == nil || caps == nil || sess == nil {
		return
	}
	if _, ok := sess.(server.SessionWithSampling); ok && caps.Sampling != nil {
		opts.OnSampling = e.relaySampling(dctx, srv)
	}
	if _, ok := sess.(server.SessionWithElicitation); ok && caps.Elicitation != nil {
		opts.OnElicitation = e.relayElicitation(dctx, srv)
	}
	if _, ok := sess.(server.SessionWithRoots); ok && caps.Roots != nil {
		opts.OnRoots = e.relayRoots(dctx, srv)
	}
}

// rootsChanged passes a 2025-11-25 client's notifications/roots/list_changed
// on to the upstream sessions of that client, and to no other.
func (e *endpoint) rootsChanged(ctx context.Context, _ mcp.JSONRPCNotification) {
	rn, ok := e.h.up.(rootsNotifier)
	caller := callerOf(ctx)
	if !ok || caller.Session == "" || caller.Key == "" {
		return
	}
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rootsNotifyTimeout)
	defer cancel()
	if err := rn.NotifyRootsListChanged(nctx, caller); err != nil {
		e.h.log.Debug().Err(err).Msg("mcp: roots list_changed not passed on")
	}
}
