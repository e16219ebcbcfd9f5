package mcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/policy"
)

// ToolsetConfig names a subset of the federated tools, served on
// /mcp/{name}.
type ToolsetConfig struct {
	// Name is the toolset's path segment. Required, unique.
	Name string `yaml:"name"`
	// Tools are "server/tool" patterns (upstream names; '*' matches any
	// run of characters), for example "files/read_*" or "search/*".
	Tools []string `yaml:"tools"`
}

// matches reports whether the upstream tool server/tool is in the toolset.
func (t *ToolsetConfig) matches(server, tool string) bool {
	name := server + "/" + tool
	for _, p := range t.Tools {
		if policy.Match(name, p) {
			return true
		}
	}
	return false
}

// Validate reports every problem with the toolsets, each naming its entry.
func validateToolsets(ts []ToolsetConfig) []error {
	var errs []error
	seen := map[string]bool{}
	for i, t := range ts {
		path := fmt.Sprintf("toolsets[%d]", i)
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", path))
		case strings.ContainsAny(t.Name, "/?#"):
			errs = append(errs, fmt.Errorf("%s.name: %q may not contain '/', '?' or '#'", path, t.Name))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", path, t.Name))
		}
		seen[t.Name] = true
		if len(t.Tools) == 0 {
			errs = append(errs, fmt.Errorf("%s.tools: at least one \"server/tool\" pattern is required", path))
		}
		for j, p := range t.Tools {
			if !strings.Contains(p, "/") {
				errs = append(errs, fmt.Errorf("%s.tools[%d]: %q is not a \"server/tool\" pattern", path, j, p))
			}
		}
	}
	return errs
}

// Options configures a Hub.
type Options struct {
	// Upstreams is the registry of upstream tool servers. Required.
	Upstreams Upstreams
	// Policy decides access and meters calls. Required.
	Policy *policy.Engine
	// Logger receives the audit line of every tool call and catalog
	// problems. Default: discard.
	Logger zerolog.Logger
	// Toolsets are the named subsets served on /mcp/{toolset}.
	Toolsets []ToolsetConfig
	// Registerer, when set, receives the hub's metrics.
	Registerer prometheus.Registerer
	// ServerName and Version are what the hub tells MCP clients about
	// itself. Default "junction" and "dev".
	ServerName, Version string
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to call the MCP endpoints; localhost origins are always allowed and
	// requests without an Origin header are not browser requests. "*"
	// allows every origin.
	AllowedOrigins []string
	// SessionIdleTTL ends a 2025-11-25 session (its subscriptions, roots
	// and per-session state) after this long without a request or an open
	// stream's traffic: clients that vanish without DELETE leave nothing
	// behind for ever. Default 1h; negative disables it.
	SessionIdleTTL time.Duration
	// Heartbeat is how often an open GET stream of a 2025-11-25 session gets
	// a ping, which keeps idle proxies from cutting it and keeps the session
	// alive while the stream is open. Default 30s; negative disables it.
	Heartbeat time.Duration
}

// Session defaults.
const (
	DefaultSessionIdleTTL = time.Hour
	DefaultHeartbeat      = 30 * time.Second
)

// Hub is the federation hub: it merges every upstream's catalog under stable
// public names, serves it over MCP to each caller filtered by policy, and is
// the one entry point for tool calls (CallTool), used by /mcp and by the
// agent loop alike.
type Hub struct {
	up       Upstreams
	pol      *policy.Engine
	log      zerolog.Logger
	metrics  *metrics
	toolsets atomic.Pointer[map[string]*ToolsetConfig] // by name; SetToolsets swaps it (toolsets.go)
	name     string
	version  string
	origins  originPolicy

	cur atomic.Pointer[merged]

	// idleTTL and heartbeat are the session options (0: off).
	idleTTL, heartbeat time.Duration

	// subs records resource subscriptions; nil when the upstreams cannot be
	// subscribed to (subscriptions.go).
	subs *resourceSubs
	// pending holds the 2026-07-28 calls waiting for the client's input
	// (inputrequired.go).
	pending *pendingCalls

	// mu guards endpoints, sse and closed.
	mu        sync.Mutex
	endpoints map[string]*endpoint // by toolset name; "" is the whole catalog
	sse       http.Handler
	closed    bool

	// refreshMu serialises catalog refreshes, so endpoints see catalogs in
	// order.
	refreshMu sync.Mutex

	unsubscribe func()
	stop        chan struct{}
	done        chan struct{}
	closeOnce   sync.Once
}

// New builds a hub on the upstreams' current catalog and starts following
// their changes. Close it to stop.
func New(opts Options) (*Hub, error) {
	var errs []error
	if opts.Upstreams == nil {
		errs = append(errs, errors.New("mcp: Options.Upstreams is required"))
	}
	if opts.Policy == nil {
		errs = append(errs, errors.New("mcp: Options.Policy is required"))
	}
	errs = append(errs, validateToolsets(opts.Toolsets)...)
	origins, oerrs := newOriginPolicy(opts.AllowedOrigins)
	errs = append(errs, oerrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		up:        opts.Upstreams,
		pol:       opts.Policy,
		log:       opts.Logger,
		metrics:   m,
		name:      opts.ServerName,
		version:   opts.Version,
		origins:   origins,
		endpoints: map[string]*endpoint{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		idleTTL:   durationOr(opts.SessionIdleTTL, DefaultSessionIdleTTL),
		heartbeat: durationOr(opts.Heartbeat, DefaultHeartbeat),
	}
	if h.name == "" {
		h.name = "junction"
	}
	if h.version == "" {
		h.version = "dev"
	}
	h.toolsets.Store(toolsetMap(opts.Toolsets))
	h.pending = newPendingCalls(h.up, m.waiting)
	if rs, ok := h.up.(resourceSubscriber); ok {
		h.subs = newResourceSubs(h, rs)
	}
	// Subscribe before the first build, so that no change falls between.
	changes, unsubscribe := h.up.Subscribe()
	h.unsubscribe = unsubscribe
	h.refresh()
	go h.follow(changes)
	return h, nil
}

// Close stops following catalog changes and closes the MCP sessions the hub
// serves. It is idempotent and waits for the hub's goroutine.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		close(h.stop)
		h.unsubscribe()
		<-h.done
		h.mu.Lock()
		h.closed = true
		eps := make([]*endpoint, 0, len(h.endpoints))
		for _, e := range h.endpoints {
			eps = append(eps, e)
		}
		h.mu.Unlock()
		for _, e := range eps {
			e.close()
		}
		h.pending.close()
		if h.subs != nil {
			h.subs.close()
		}
	})
}

func (h *Hub) follow(changes <-chan struct{}) {
	defer close(h.done)
	for {
		select {
		case <-h.stop:
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
			h.refresh()
		}
	}
}

// refresh rebuilds the merged catalog and brings every endpoint up to date;
// endpoints notify their clients of what changed.
func (h *Hub) refresh() {
	h.refreshMu.Lock()
	defer h.refreshMu.Unlock()
	m := buildMerged(h.up.Catalog(), h.log)
	h.cur.Store(m)
	h.metrics.catalogTools.Set(float64(len(m.tools)))
	h.mu.Lock()
	eps := make([]*endpoint, 0, len(h.endpoints))
	for _, e := range h.endpoints {
		eps = append(eps, e)
	}
	h.mu.Unlock()
	for _, e := range eps {
		e.sync(m)
	}
}

// ToolInfo describes one federated tool, for the agent loop.
type ToolInfo struct {
	// Name is the public name, which CallTool takes.
	Name string `json:"name"`
	// Server and Tool are the upstream and its own name for the tool.
	Server      string `json:"server"`
	Tool        string `json:"tool"`
	Description string `json:"description,omitempty"`
	// InputSchema and OutputSchema (nil when none) are the upstream's JSON
	// Schemas, byte for byte. Do not modify them.
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
}

// Tools lists the tools id may call, in public-name order, restricted to
// toolset unless it is "". An unknown toolset lists nothing.
func (h *Hub) Tools(id *policy.Identity, toolset string) []ToolInfo {
	var ts *ToolsetConfig
	if toolset != "" {
		if ts = h.toolset(toolset); ts == nil {
			return nil
		}
	}
	m := h.cur.Load()
	out := make([]ToolInfo, 0, len(m.tools))
	for _, e := range m.tools {
		if ts != nil && !ts.matches(e.tool.Server, e.tool.Name) {
			continue
		}
		if !h.pol.AllowedTool(id, e.tool.Server, e.tool.Name, policy.ActionCall) {
			continue
		}
		out = append(out, ToolInfo{Name: e.public, Server: e.tool.Server, Tool: e.tool.Name,
			Description: e.served.Description, InputSchema: e.inputSchema, OutputSchema: e.outputSchema})
	}
	return out
}

// durationOr is d, or def when d is 0, or 0 (off) when d is negative.
func durationOr(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}
