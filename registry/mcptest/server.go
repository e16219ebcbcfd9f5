package mcptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Server is one example upstream MCP server: an mcp-go server with the
// built-in tools, resource, resource template and prompt of this package,
// plus call statistics for tests. Build it with NewServer, then serve it with
// StartHTTP or ServeStdio, or use MCP directly. All methods are safe for
// concurrent use.
type Server struct {
	mcp     *server.MCPServer
	name    string
	version string
	prefix  string
	logger  *slog.Logger

	// stdioSessions numbers ServeStdio sessions, whose IDs must be unique
	// within the mcp-go server.
	stdioSessions atomic.Int64

	// catalogMu serialises changes to the tool set, so that RemoveTools can
	// check that every name exists and delete them as one step.
	catalogMu sync.Mutex

	// statsMu guards calls, started, cancelled, inFlight and idle.
	statsMu   sync.Mutex
	calls     map[string]int64
	started   int64
	cancelled int64
	inFlight  int64
	// idle is closed while no call is in flight; a new channel replaces it
	// when a call starts on an idle server.
	idle chan struct{}

	// subs records resource subscriptions (WithResourceSubscriptions).
	subs subscribers
	// roots are the roots each session's client listed (the roots tool).
	roots rootsCache
	// textMu guards texts, the resources added by SetText.
	textMu sync.Mutex
	texts  map[string]string
}

// CallStats counts the tool calls a Server has handled.
type CallStats struct {
	// Started is the number of tool handlers that began running.
	Started int64
	// Cancelled is the number of handlers that returned after their request
	// context had ended (client cancellation or disconnect).
	Cancelled int64
	// InFlight is the number of handlers running now.
	InFlight int64
}

// NewServer builds a Server from the options. It returns every problem with
// the options at once.
func NewServer(opts ...Option) (*Server, error) {
	cfg := newConfig(opts)
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("mcptest: invalid options: %w", err)
	}

	s := &Server{
		name:    cfg.name,
		version: cfg.version,
		prefix:  cfg.prefix,
		logger:  cfg.logger,
		calls:   make(map[string]int64),
		idle:    make(chan struct{}),
	}
	close(s.idle)

	serverOpts := []server.ServerOption{
		server.WithToolCapabilities(true),
		server.WithResourceCapabilities(cfg.subscribe, cfg.subscribe),
		server.WithPromptCapabilities(false),
		server.WithInstructions("Example upstream MCP server for Junction's tests and examples; " +
			"read " + ReadmeURI + " for what it offers."),
		// Recovery is the outermost middleware: a panicking caller-supplied
		// handler becomes a JSON-RPC error instead of killing the process.
		server.WithRecovery(),
		server.WithToolHandlerMiddleware(s.countCalls),
		// The built-in structured tools must honour their own contracts.
		server.WithOutputSchemaValidation(),
	}
	hooks := &server.Hooks{}
	if cfg.subscribe {
		hooks = s.subscriptionHooks()
	}
	s.clientStateHooks(hooks)
	serverOpts = append(serverOpts, server.WithHooks(hooks))
	if cfg.pageSize > 0 {
		serverOpts = append(serverOpts, server.WithPaginationLimit(cfg.pageSize))
	}
	s.mcp = server.NewMCPServer(cfg.name, cfg.version, serverOpts...)
	s.mcp.AddNotificationHandler(mcp.MethodNotificationRootsListChanged, func(ctx context.Context, _ mcp.JSONRPCNotification) {
		s.roots.forget(sessionID(ctx))
	})

	tools, err := s.initialTools(cfg)
	if err != nil {
		return nil, err
	}
	if len(tools) > 0 {
		s.mcp.AddTools(tools...)
	}
	if err := s.addContent(); err != nil {
		return nil, err
	}
	return s, nil
}

// initialTools returns the tools a new server starts with: the selected
// built-ins and generated tools (prefixed), then the caller's extra tools.
func (s *Server) initialTools(cfg *config) ([]server.ServerTool, error) {
	var tools []server.ServerTool
	for _, name := range cfg.builtinSelection() {
		tool, err := s.builtinTool(name)
		if err != nil {
			return nil, err
		}
		tools = append(tools, tool)
	}
	for i := 1; i <= cfg.generated; i++ {
		tools = append(tools, generatedTool(s.prefix+generatedToolName(i), i))
	}
	tools = append(tools, cfg.extra...)
	return tools, nil
}

// MCP returns the underlying mcp-go server, for transports this package does
// not provide (for example mcp-go's in-process client transport).
func (s *Server) MCP() *server.MCPServer { return s.mcp }

// Name returns the server name reported in serverInfo.
func (s *Server) Name() string { return s.name }

// Version returns the server version reported in serverInfo.
func (s *Server) Version() string { return s.version }

// ToolName returns the name under which the built-in tool base is served,
// that is base with the configured prefix.
func (s *Server) ToolName(base string) string { return s.prefix + base }

// ToolNames returns the names of the tools served now, in the order
// tools/list serves them (sorted by name).
func (s *Server) ToolNames() []string {
	tools := s.mcp.ListTools()
	names := make([]string, 0, len(tools))
	for name := range tools {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Tool returns the definition of the tool served under name. Its
// RawInputSchema and RawOutputSchema hold the exact bytes tools/list sends.
func (s *Server) Tool(name string) (mcp.Tool, bool) {
	tool := s.mcp.GetTool(name)
	if tool == nil {
		return mcp.Tool{}, false
	}
	return tool.Tool, true
}

// AddTools adds the tools, or replaces served tools of the same name, and
// notifies connected clients with notifications/tools/list_changed. The tools
// are served under exactly their own names. Nothing is added if any tool is
// invalid.
func (s *Server) AddTools(tools ...server.ServerTool) error {
	if len(tools) == 0 {
		return nil
	}
	var errs []error
	for i, tool := range tools {
		if err := validateServerTool(tool); err != nil {
			errs = append(errs, fmt.Errorf("tools[%d]: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mcptest: add tools: %w", err)
	}
	s.catalogMu.Lock()
	defer s.catalogMu.Unlock()
	s.mcp.AddTools(tools...)
	return nil
}

// RemoveTools stops serving the named tools and notifies connected clients
// with notifications/tools/list_changed. If any name is not served, nothing
// is removed and the error names the missing tools.
func (s *Server) RemoveTools(names ...string) error {
	if len(names) == 0 {
		return nil
	}
	s.catalogMu.Lock()
	defer s.catalogMu.Unlock()
	var missing []string
	for _, name := range names {
		if s.mcp.GetTool(name) == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("mcptest: remove tools: not served: %q", missing)
	}
	s.mcp.DeleteTools(names...)
	return nil
}

// Calls returns how many times the handler of the named tool has started.
// Calls rejected before reaching a handler (unknown tool) are not counted.
func (s *Server) Calls(name string) int64 {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.calls[name]
}

// Stats returns the server-wide call counters.
func (s *Server) Stats() CallStats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return CallStats{Started: s.started, Cancelled: s.cancelled, InFlight: s.inFlight}
}

// WaitIdle blocks until no tool handler is running or ctx ends. Tests use it
// to see that a cancelled call really stopped on the server side.
func (s *Server) WaitIdle(ctx context.Context) error {
	s.statsMu.Lock()
	idle := s.idle
	s.statsMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mcptest: wait for idle server: %w", ctx.Err())
	}
}

// countCalls is the tool middleware that maintains the call statistics.
func (s *Server) countCalls(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, request mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.callStarted(request.Params.Name)
		defer func() { s.callFinished(ctx.Err() != nil) }()
		return next(ctx, request)
	}
}

func (s *Server) callStarted(name string) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.calls[name]++
	s.started++
	if s.inFlight == 0 {
		s.idle = make(chan struct{})
	}
	s.inFlight++
}

func (s *Server) callFinished(cancelled bool) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if cancelled {
		s.cancelled++
	}
	s.inFlight--
	if s.inFlight == 0 {
		close(s.idle)
	}
}

// validateServerTool reports why mcp-go would refuse, panic on, or fail to
// serve tool, so that callers get an error instead.
func validateServerTool(tool server.ServerTool) error {
	t := tool.Tool
	var errs []error
	if !toolNamePattern.MatchString(t.Name) {
		errs = append(errs, fmt.Errorf("name %q: must be 1 to %d characters from A-Z, a-z, 0-9, '_', '-' and '.'", t.Name, maxToolNameLen))
	}
	if tool.Handler == nil {
		errs = append(errs, fmt.Errorf("tool %q: handler is nil", t.Name))
	}
	if t.RawInputSchema != nil && t.InputSchema.Type != "" {
		errs = append(errs, fmt.Errorf("tool %q: both InputSchema and RawInputSchema are set", t.Name))
	}
	if t.RawInputSchema != nil && !json.Valid(t.RawInputSchema) {
		errs = append(errs, fmt.Errorf("tool %q: RawInputSchema is not valid JSON", t.Name))
	}
	if t.RawOutputSchema != nil && t.OutputSchema.Type != "" {
		errs = append(errs, fmt.Errorf("tool %q: both OutputSchema and RawOutputSchema are set", t.Name))
	}
	if t.RawOutputSchema != nil && !json.Valid(t.RawOutputSchema) {
		errs = append(errs, fmt.Errorf("tool %q: RawOutputSchema is not valid JSON", t.Name))
	}
	if err := mcp.ValidateParamHeaderAnnotations(&t); err != nil {
		errs = append(errs, fmt.Errorf("tool %q: %w", t.Name, err))
	}
	return errors.Join(errs...)
}
