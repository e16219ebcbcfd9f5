package mcptest

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Two opt-in tools (serve them with WithTools or the example binary's
// --tools) show what a server learns about its client and its own process,
// for isolation tests of a gateway in front of it:
//
//   - env returns the server process's whole environment, so that a test
//     can check which variables a stdio server was given;
//   - roots returns the client's roots the way many servers do
//     (server-everything's get-roots-list among them): it asks the client
//     once per session and keeps the answer for that session until the
//     client sends notifications/roots/list_changed. A gateway that lets
//     two callers share one upstream session hands the second caller the
//     first one's roots.

// rootsInputID is the key of the roots input request the roots tool makes.
const rootsInputID = "roots"

// EnvOutput is the structured content of the env tool.
type EnvOutput struct {
	// Env maps each variable of the server process to its value.
	Env map[string]string `json:"env"`
}

// RootsOutput is the structured content of the roots tool.
type RootsOutput struct {
	// Roots are the client's roots, as the client last listed them for
	// this session.
	Roots []mcp.Root `json:"roots"`
	// Cached says whether they came from the session's cache rather than
	// from asking the client now.
	Cached bool `json:"cached"`
}

// rootsCache keeps the roots each session's client listed.
type rootsCache struct {
	// mu guards bySession.
	mu        sync.Mutex
	bySession map[string][]mcp.Root
}

func (c *rootsCache) get(session string) ([]mcp.Root, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	roots, ok := c.bySession[session]
	return roots, ok
}

func (c *rootsCache) set(session string, roots []mcp.Root) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bySession == nil {
		c.bySession = map[string][]mcp.Root{}
	}
	c.bySession[session] = slices.Clone(roots)
}

func (c *rootsCache) forget(session string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.bySession, session)
}

// sessionID names the client session of a request, or "" for a stateless
// one.
func sessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil {
		return s.SessionID()
	}
	return ""
}

// clientHasRoots reports whether the client of the request in ctx declared
// the roots capability: in the request's _meta (2026-07-28) or at
// initialize.
func clientHasRoots(ctx context.Context) bool {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		return info.ClientCapabilities != nil && info.ClientCapabilities.Roots != nil
	}
	s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	return ok && s.GetClientCapabilities().Roots != nil
}

// handleRoots answers from the session's cache, or with the answer to its
// own input request (a 2026-07-28 client retries with it; mcp-go asks an
// older client with roots/list and calls the handler again), or else asks
// for the roots.
func (s *Server) handleRoots() server.ToolHandlerFunc {
	return func(ctx context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		session := sessionID(ctx)
		if roots, ok := s.roots.get(session); ok && session != "" {
			return rootsResult(RootsOutput{Roots: roots, Cached: true}), nil
		}
		if res := server.RootsResponse(request.Params.InputResponses, rootsInputID); res != nil {
			if session != "" {
				s.roots.set(session, res.Roots)
			}
			return rootsResult(RootsOutput{Roots: res.Roots}), nil
		}
		if !clientHasRoots(ctx) {
			return mcp.NewToolResultError("the client does not support roots"), nil
		}
		return server.NewInputRequestBuilder("").Roots(rootsInputID).ToolResult(), nil
	}
}

func rootsResult(out RootsOutput) *mcp.CallToolResult {
	if out.Roots == nil {
		out.Roots = []mcp.Root{}
	}
	text, _ := json.Marshal(out) // plain strings and bools: cannot fail
	return mcp.NewToolResultStructured(out, string(text))
}

// handleEnv returns the process environment.
func handleEnv(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	out := EnvOutput{Env: map[string]string{}}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out.Env[k] = v
		}
	}
	text, _ := json.Marshal(out) // strings only: cannot fail
	return mcp.NewToolResultStructured(out, string(text)), nil
}

// clientStateHooks forgets a session's roots when the client says they
// changed or the session ends.
func (s *Server) clientStateHooks(h *server.Hooks) {
	h.AddOnUnregisterSession(func(_ context.Context, sess server.ClientSession) {
		s.roots.forget(sess.SessionID())
	})
}
