package mcp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
)

// Paths the legacy SSE transport serves; SSEHandler answers both, so the
// gateway must route both to it.
const (
	// SSEPath is where a legacy client opens its event stream (GET).
	SSEPath = "/sse"
	// SSEMessagePath is where it posts its messages
	// (POST /sse/message?sessionId=...), as the stream's endpoint event says.
	SSEMessagePath = "/sse/message"
)

// Handler serves MCP over streamable HTTP for toolset ("" for the whole
// catalog), in both protocol eras: 2025-11-25 clients initialize and carry
// Mcp-Session-Id; 2026-07-28 clients are stateless and may call
// server/discover. Mount it at /mcp (toolset "") and /mcp/{toolset}; it
// serves whatever path it is mounted at. An unknown toolset gets a handler
// that answers 404, so a router may call Handler per request with the path
// parameter. The caller's identity must be in the request context
// (policy.WithIdentity), put there by the gateway's authentication.
//
// Session ids are minted without server-side state (mcp-go's
// StatelessGeneratingSessionIdManager), so any replica accepts a session
// that another replica started: a plain round-robin balancer works.
func (h *Hub) Handler(toolset string) http.Handler {
	if toolset != "" && h.toolset(toolset) == nil {
		return protocolErrors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeRPCError(w, http.StatusNotFound, peekID(r), mcp.INVALID_REQUEST, fmt.Sprintf("unknown toolset %q", toolset))
		}))
	}
	return h.endpoint(toolset).handler
}

// SSEHandler serves the legacy HTTP+SSE transport for the whole catalog:
// GET SSEPath opens the stream and POST SSEMessagePath?sessionId=... carries
// the client's messages. The gateway must route both paths to it. A session
// may only be used by the key that opened it. An SSE stream lives on one
// replica, so this transport needs sticky routing across replicas.
func (h *Hub) SSEHandler() http.Handler {
	e := h.endpoint("")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sse == nil {
		e.sse = server.NewSSEServer(e.srv,
			server.WithSSEEndpoint(SSEPath),
			server.WithMessageEndpoint(SSEMessagePath),
			server.WithKeepAlive(true),
			server.WithKeepAliveInterval(25*time.Second),
			// The Origin check below replaces mcp-go's loopback Host check,
			// which would reject a reverse proxy on the same host.
			server.WithSSEDisableLocalhostProtection(true),
			server.WithSessionIDGenerator(e.newSSESession),
		)
		var sse http.Handler = e.sse
		if h.subs != nil {
			sse = e.subscribeCheck(sse, true)
		}
		h.sse = h.origins.wrap(protocolErrors(e.sseOwnerCheck(sse)))
	}
	return h.sse
}

// endpoint returns the MCP server of toolset, building it on first use.
func (h *Hub) endpoint(toolset string) *endpoint {
	// refreshMu first, so that a new endpoint starts from the newest catalog
	// and no refresh runs while it is added.
	h.refreshMu.Lock()
	defer h.refreshMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.endpoints[toolset]; e != nil {
		return e
	}
	e := newEndpoint(h, toolset)
	e.sync(h.cur.Load())
	h.endpoints[toolset] = e
	return e
}

// endpoint is one mcp-go server: the whole catalog or one toolset. Its
// tools, prompts and resources are the merged catalog's; which of them a
// caller sees is decided per request by policy.
type endpoint struct {
	h       *Hub
	toolset string // "": every tool; else the name of the toolset (toolsets.go)
	srv     *server.MCPServer
	http    *server.StreamableHTTPServer
	handler http.Handler
	sse     *server.SSEServer // nil until SSEHandler; only on the "" endpoint

	// mu guards the fingerprints of what srv serves, so that srv is told
	// (and its clients notified) only of real changes.
	mu                                   sync.Mutex
	tools, prompts, resources, templates string

	// ownersMu guards owners: the identity that opened each SSE session.
	ownersMu sync.Mutex
	owners   map[string]string
}

func newEndpoint(h *Hub, ts string) *endpoint {
	e := &endpoint{h: h, toolset: ts, owners: map[string]string{}}
	hooks := &server.Hooks{}
	// Lists are filtered per caller after mcp-go builds them; they are never
	// cached across callers (and say so to 2026-07-28 clients: private).
	hooks.AddAfterListTools(func(ctx context.Context, _ any, _ *mcp.ListToolsRequest, res *mcp.ListToolsResult) {
		if res != nil {
			res.Tools = e.visibleTools(ctx, res.Tools)
		}
	})
	hooks.AddAfterListPrompts(func(ctx context.Context, _ any, _ *mcp.ListPromptsRequest, res *mcp.ListPromptsResult) {
		if res != nil {
			res.Prompts = visibleOnServers(ctx, e, res.Prompts, promptServer)
		}
	})
	hooks.AddAfterListResources(func(ctx context.Context, _ any, _ *mcp.ListResourcesRequest, res *mcp.ListResourcesResult) {
		if res != nil {
			res.Resources = visibleOnServers(ctx, e, res.Resources, resourceServer)
		}
	})
	hooks.AddAfterListResourceTemplates(func(ctx context.Context, _ any, _ *mcp.ListResourceTemplatesRequest, res *mcp.ListResourceTemplatesResult) {
		if res != nil {
			res.ResourceTemplates = visibleOnServers(ctx, e, res.ResourceTemplates, templateServer)
		}
	})
	hooks.AddOnUnregisterSession(func(_ context.Context, s server.ClientSession) {
		e.ownersMu.Lock()
		delete(e.owners, s.SessionID())
		e.ownersMu.Unlock()
		// Its client can answer no more: close its upstream sessions.
		if se, ok := h.up.(sessionEnder); ok {
			se.EndSession(s.SessionID())
		}
	})
	if h.subs != nil {
		e.subscriptionHooks(hooks, h.subs)
	}
	e.srv = server.NewMCPServer(h.name, h.version,
		server.WithToolCapabilities(true),
		server.WithPromptCapabilities(true),
		server.WithResourceCapabilities(h.subs != nil, true),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(completer{e}),
		server.WithResourceCompletionProvider(completer{e}),
		server.WithLogging(),
		server.WithRecovery(),
		server.WithResourceRecovery(),
		server.WithCacheHints(0, mcp.CacheScopePrivate),
		server.WithHooks(hooks),
		server.WithLogger(e.slog()),
	)
	e.srv.AddNotificationHandler(mcp.MethodNotificationRootsListChanged, e.rootsChanged)
	opts := []server.StreamableHTTPOption{
		server.WithSessionIdManager(&server.StatelessGeneratingSessionIdManager{}),
		server.WithDisableLocalhostProtection(true), // the Origin check replaces it
		server.WithStreamableHTTPLogger(e.slog()),
	}
	if h.idleTTL > 0 {
		opts = append(opts, server.WithSessionIdleTTL(h.idleTTL))
	}
	if h.heartbeat > 0 {
		opts = append(opts, server.WithHeartbeatInterval(h.heartbeat))
	}
	if len(h.origins.allowed) > 0 || h.origins.any {
		var list []string
		if h.origins.any {
			list = []string{"*"}
		}
		for o := range h.origins.allowed {
			list = append(list, o)
		}
		opts = append(opts, server.WithStreamableHTTPCORS(server.WithCORSAllowedOrigins(list...)))
	}
	e.http = server.NewStreamableHTTPServer(e.srv, opts...)
	e.handler = http.Handler(e.http)
	if h.subs != nil {
		e.handler = e.subscribeCheck(e.handler, false)
	}
	e.handler = h.origins.wrap(protocolErrors(e.handler))
	return e
}

// slog adapts the hub's logger for mcp-go's transport messages (warnings
// and worse only).
func (e *endpoint) slog() *slog.Logger {
	return slog.New(slog.NewTextHandler(e.h.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// close ends the endpoint's sessions.
func (e *endpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.http.Shutdown(ctx)
	if e.sse != nil {
		_ = e.sse.Shutdown(ctx)
	}
}

// inToolset reports whether the endpoint serves the upstream tool.
func (e *endpoint) inToolset(server, tool string) bool {
	return e.toolset == "" || e.filter().matches(server, tool)
}

// sync makes the mcp-go server serve m. mcp-go notifies connected clients
// (notifications/tools/list_changed, prompts/..., resources/...) of each
// list that changed.
func (e *endpoint) sync(m *merged) {
	e.mu.Lock()
	defer e.mu.Unlock()

	syncList(&e.tools, m.tools, func(t *toolEntry) (server.ServerTool, []string, bool) {
		return server.ServerTool{Tool: t.served, Handler: e.callTool(t.public)},
			[]string{t.public, t.tool.Server, t.tool.Name, t.tool.Description, string(t.tool.Raw)},
			e.inToolset(t.tool.Server, t.tool.Name)
	}, e.srv.SetTools)
	// Toolset endpoints serve tools only.
	if e.toolset != "" {
		return
	}
	syncList(&e.prompts, m.prompts, func(p *promptEntry) (server.ServerPrompt, []string, bool) {
		return server.ServerPrompt{Prompt: p.served, Handler: e.getPrompt(p.public)},
			[]string{p.public, p.prompt.Server, p.prompt.Name, string(p.prompt.Raw)}, true
	}, e.srv.SetPrompts)
	syncList(&e.resources, m.resources, func(r *resourceEntry) (server.ServerResource, []string, bool) {
		raw, _ := json.Marshal(r.served)
		return server.ServerResource{Resource: r.served, Handler: e.readResource(r.server)}, []string{r.server, string(raw)}, true
	}, e.srv.SetResources)
	syncList(&e.templates, m.templates, func(t *templateEntry) (server.ServerResourceTemplate, []string, bool) {
		raw, _ := json.Marshal(t.served)
		return server.ServerResourceTemplate{Template: t.served, Handler: server.ResourceTemplateHandlerFunc(e.readResource(t.server))},
			[]string{t.server, string(raw)}, true
	}, e.srv.SetResourceTemplates)
}

// syncList serves the entries that serve accepts, each turned into an
// mcp-go list item, through set; it calls set (and so notifies clients)
// only when the fingerprint of the items' fields differs from *last.
func syncList[E, S any](last *string, entries []E, serve func(E) (item S, fields []string, ok bool), set func(items ...S)) {
	fp := sha256.New()
	items := make([]S, 0, len(entries))
	for _, en := range entries {
		item, fields, ok := serve(en)
		if !ok {
			continue
		}
		items = append(items, item)
		fingerprint(fp, fields...)
	}
	if sum := hex.EncodeToString(fp.Sum(nil)); sum != *last {
		*last = sum
		set(items...)
	}
}

func fingerprint(h hash.Hash, fields ...string) {
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	h.Write([]byte{1})
}

// visibleTools keeps the tools the caller may call: what is listed can be
// called.
func (e *endpoint) visibleTools(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	out := make([]mcp.Tool, 0, len(tools))
	id := policy.IdentityFrom(ctx)
	if id == nil {
		return out
	}
	m := e.h.cur.Load()
	for _, t := range tools {
		en := m.toolsByName[t.Name]
		if en != nil && e.h.pol.AllowedTool(id, en.tool.Server, en.tool.Name, policy.ActionCall) {
			out = append(out, t)
		}
	}
	return out
}

// serverVisible reports whether id may see server's prompts and resources:
// "server:<name>" with action list.
func (e *endpoint) serverVisible(id *policy.Identity, server string) bool {
	return id != nil && e.h.pol.Allowed(id, "server:"+server, policy.ActionList)
}

// visibleOnServers keeps the items of a prompt or resource list whose
// server the caller may see; serverOf names an item's server in m, or
// returns false for an item the hub does not know.
func visibleOnServers[T any](ctx context.Context, e *endpoint, items []T, serverOf func(m *merged, item T) (string, bool)) []T {
	out := make([]T, 0, len(items))
	id := policy.IdentityFrom(ctx)
	m := e.h.cur.Load()
	for _, item := range items {
		if server, ok := serverOf(m, item); ok && e.serverVisible(id, server) {
			out = append(out, item)
		}
	}
	return out
}

func promptServer(m *merged, p mcp.Prompt) (string, bool) {
	if en := m.promptsByName[p.Name]; en != nil {
		return en.prompt.Server, true
	}
	return "", false
}

func resourceServer(m *merged, r mcp.Resource) (string, bool) {
	if en := m.resourcesByURI[r.URI]; en != nil {
		return en.server, true
	}
	return "", false
}

func templateServer(m *merged, t mcp.ResourceTemplate) (string, bool) {
	if t.URITemplate == nil {
		return "", false
	}
	if en := m.templatesByURI[t.URITemplate.Raw()]; en != nil {
		return en.server, true
	}
	return "", false
}

// callTool is the tools/call handler of one public name: it forwards the
// caller's progress token and log level, runs Hub.CallTool, and turns every
// refusal or failure into a tool result with isError set, which a model can
// read (not a protocol error).
func (e *endpoint) callTool(public string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args := req.Params.RawArguments
		if len(args) == 0 && req.Params.Arguments != nil {
			var err error
			if args, err = json.Marshal(req.Params.Arguments); err != nil {
				return mcp.NewToolResultError("invalid tool arguments: " + err.Error()), nil
			}
		}
		srv := server.ServerFromContext(ctx)
		var opts registry.CallOptions
		if req.Params.Meta != nil && req.Params.Meta.ProgressToken != nil && srv != nil {
			token := req.Params.Meta.ProgressToken
			opts.ProgressToken = token
			opts.OnProgress = func(progress, total float64, message string) {
				params := map[string]any{"progressToken": token, "progress": progress}
				if total > 0 {
					params["total"] = total
				}
				if message != "" {
					params["message"] = message
				}
				_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), params)
			}
		}
		if srv != nil {
			opts.OnLog = func(level, logger string, data any) {
				_ = srv.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevel(level), logger, data))
			}
		}
		// What this caller's client supplies goes to an upstream session
		// of this caller's own (registry.Caller).
		opts.Caller = callerOf(ctx)
		if caps := modernCaps(ctx); wantsInput(caps) || (caps != nil && req.Params.RequestState != "") {
			// A 2026-07-28 client answers with input_required rounds
			// (inputrequired.go).
			return e.callWithInput(ctx, public, req, args, opts, caps), nil
		}
		// An upstream's sampling, elicitation or roots request during this
		// call is answered by this caller, or refused for it.
		e.relayHooks(ctx, srv, &opts)
		out, err := e.h.callTool(ctx, policy.IdentityFrom(ctx), public, args, opts)
		return e.toolResult(public, out, err), nil
	}
}

// toolResult turns Hub.CallTool's outcome into the tools/call result: a
// failure is a tool result with isError set.
func (e *endpoint) toolResult(public string, out json.RawMessage, err error) *mcp.CallToolResult {
	if err != nil {
		return mcp.NewToolResultError(toolErrorMessage(err))
	}
	res, err := mcp.ParseCallToolResult(&out)
	if err != nil {
		server := ""
		if en := e.h.cur.Load().toolsByName[public]; en != nil {
			server = en.tool.Server
		}
		e.h.log.Warn().Err(err).Str("server", server).Str("tool", public).Msg("mcp: upstream returned an invalid tool result")
		return mcp.NewToolResultError(fmt.Sprintf("upstream server %q returned an invalid tool result", server))
	}
	return res
}

// toolErrorMessage is what a caller is told about a failed call.
func toolErrorMessage(err error) string {
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return ue.Message()
	}
	if errors.Is(err, policy.ErrUnavailable) {
		return "the gateway could not check this call's limits right now; try again"
	}
	return err.Error() // typed policy errors and UnknownToolError are written for callers
}

// completer forwards completion/complete to the upstream that owns the
// prompt or resource template, under the same visibility rule as listing.
type completer struct{ e *endpoint }

// CompletePromptArgument implements server.PromptCompletionProvider.
func (c completer) CompletePromptArgument(ctx context.Context, promptName string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	en := c.e.h.cur.Load().promptsByName[promptName]
	if en == nil {
		return nil, fmt.Errorf("unknown prompt %q", promptName)
	}
	ref := mcp.PromptReference{Type: "ref/prompt", Name: en.prompt.Name}
	return c.complete(ctx, en.prompt.Server, ref, arg, cc)
}

// CompleteResourceArgument implements server.ResourceCompletionProvider.
func (c completer) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	m := c.e.h.cur.Load()
	server := ""
	if t := m.templatesByURI[uri]; t != nil {
		server = t.server
	} else if r := m.resourcesByURI[uri]; r != nil {
		server = r.server
	}
	if server == "" {
		return nil, fmt.Errorf("unknown resource or template %q", uri)
	}
	return c.complete(ctx, server, mcp.ResourceReference{Type: "ref/resource", URI: uri}, arg, cc)
}

func (c completer) complete(ctx context.Context, upstream string, ref any, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	if !c.e.serverVisible(policy.IdentityFrom(ctx), upstream) {
		return nil, &policy.AccessError{Object: "server:" + upstream, Action: policy.ActionList}
	}
	raw, err := c.e.h.up.Complete(ctx, upstream, mcp.CompleteRequest{Params: mcp.CompleteParams{Ref: ref, Argument: arg, Context: cc}})
	if err != nil {
		c.e.h.log.Warn().Err(err).Str("server", upstream).Msg("mcp: completion failed")
		return nil, fmt.Errorf("completion on upstream server %q failed", upstream)
	}
	var res mcp.CompleteResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("completion on upstream server %q: malformed result", upstream)
	}
	return &res.Completion, nil
}

// getPrompt is the prompts/get handler of one public prompt name.
func (e *endpoint) getPrompt(public string) server.PromptHandlerFunc {
	return func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		en := e.h.cur.Load().promptsByName[public]
		if en == nil {
			return nil, fmt.Errorf("unknown prompt %q", public)
		}
		id := policy.IdentityFrom(ctx)
		if !e.serverVisible(id, en.prompt.Server) {
			return nil, &policy.AccessError{Object: "server:" + en.prompt.Server, Action: policy.ActionList}
		}
		raw, err := e.h.up.GetPrompt(ctx, en.prompt.Server, en.prompt.Name, req.Params.Arguments)
		if err != nil {
			e.h.log.Warn().Err(err).Str("server", en.prompt.Server).Str("prompt", en.prompt.Name).Msg("mcp: prompt failed")
			return nil, fmt.Errorf("prompt %q on upstream server %q failed", en.prompt.Name, en.prompt.Server)
		}
		return mcp.ParseGetPromptResult(&raw)
	}
}

// readResource is the resources/read handler of server's resources and
// templates.
func (e *endpoint) readResource(upstream string) server.ResourceHandlerFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		id := policy.IdentityFrom(ctx)
		if !e.serverVisible(id, upstream) {
			return nil, &policy.AccessError{Object: "server:" + upstream, Action: policy.ActionList}
		}
		raw, err := e.h.up.ReadResource(ctx, upstream, req.Params.URI)
		if err != nil {
			e.h.log.Warn().Err(err).Str("server", upstream).Str("uri", req.Params.URI).Msg("mcp: resource read failed")
			return nil, fmt.Errorf("reading %q from upstream server %q failed", req.Params.URI, upstream)
		}
		res, err := mcp.ParseReadResourceResult(&raw)
		if err != nil {
			return nil, fmt.Errorf("upstream server %q returned an invalid resource: %w", upstream, err)
		}
		return res.Contents, nil
	}
}

// owner names who a session belongs to.
func owner(id *policy.Identity) string {
	switch {
	case id == nil:
		return ""
	case id.Admin:
		return "admin"
	}
	return "key:" + id.KeyID()
}

// newSSESession mints an SSE session id and remembers whose it is.
func (e *endpoint) newSSESession(ctx context.Context, r *http.Request) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	sid := hex.EncodeToString(b[:])
	e.ownersMu.Lock()
	e.owners[sid] = owner(policy.IdentityFrom(r.Context()))
	e.ownersMu.Unlock()
	return sid, nil
}

// sseOwnerCheck refuses messages posted to another caller's SSE session.
func (e *endpoint) sseOwnerCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == SSEMessagePath {
			sid := r.URL.Query().Get("sessionId")
			e.ownersMu.Lock()
			o, ok := e.owners[sid]
			e.ownersMu.Unlock()
			if ok && o != owner(policy.IdentityFrom(r.Context())) {
				writeRPCError(w, http.StatusForbidden, peekID(r), mcp.INVALID_REQUEST, "this SSE session belongs to another key")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
