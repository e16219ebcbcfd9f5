package llm

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/agent"
)

// The agent loop: a chat request that names MCP tools (entries of type "mcp"
// in tools, Anthropic-style mcp_servers, or the X-Junction-Tools header) is
// answered by Junction running the whole tool-call loop itself. The request
// side is parsed here; the loop is agent_loop.go, its streams
// agent_stream.go.

// agentState is the Service's part for the loop, embedded in Service.
type agentState struct {
	agent agent.Config
	tools agent.Hub // nil: requests naming MCP tools are refused
	// selector picks the tools offered from large catalogs; built on first
	// use, with the cache's embedder when one is configured.
	selectorOnce sync.Once
	selector     *agent.Selector
	agentMetrics agentMetrics
}

// agentMetrics count loops; their model and tool calls are counted by the
// LLM and MCP metrics like any other.
type agentMetrics struct {
	loops      *prometheus.CounterVec // stop_reason
	iterations prometheus.Histogram
}

// initAgent sets the loop's configuration, tools and metrics, from New.
func (s *Service) initAgent(opts Options) {
	s.agent = opts.Agent
	s.tools = opts.Tools
	s.agentMetrics = agentMetrics{
		loops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "agent_loops_total",
			Help: "Agent-loop requests by why the loop ended (final, client_tools, approval, max_iterations, timeout, budget, ...)."},
			[]string{"stop_reason"}),
		iterations: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "junction", Subsystem: "llm", Name: "agent_iterations",
			Help: "Model calls per agent-loop request.", Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50}}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.agentMetrics.loops, s.agentMetrics.iterations)
	}
}

// toolSelector returns the service's tool selector: it ranks tools with the
// cache's embedding model when one is configured (cache.semantic), else
// with the built-in lexical embedder. Built on first use, after New has set
// the embedder up.
func (s *Service) toolSelector() *agent.Selector {
	s.selectorOnce.Do(func() { s.selector = agent.NewSelector(s.embedder, cache.NewLexical(0)) })
	return s.selector
}

// Request side.

// ToolsHeader is the header naming MCP tools for clients that cannot change
// their body (see agent.ToolsHeader).
const ToolsHeader = agent.ToolsHeader

// MaxIterationsHeader lowers agent.max_iterations for one request.
const MaxIterationsHeader = "X-Junction-Max-Iterations"

// agentMarker is what a body must contain before it is parsed for MCP tool
// entries: the check on every chat request is one byte search.
var agentMarker = []byte(`"mcp`)

// wantsAgent reports whether the request names MCP tools.
func wantsAgent(r *http.Request, body []byte) bool {
	return r.Header.Get(ToolsHeader) != "" || bytes.Contains(body, agentMarker)
}
