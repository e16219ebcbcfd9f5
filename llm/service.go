package llm

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
)

// Options configures a Service.
type Options struct {
	// Config is the providers, aliases and routing defaults.
	Config Config
	// Policy authenticates nothing here (the gateway does) but admits and
	// settles every request. Required.
	Policy *policy.Engine
	// Registerer receives the LLM metrics. Optional.
	Registerer prometheus.Registerer
	// Logger receives upstream failures. Default: discard.
	Logger zerolog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Sleep waits between retries. Default: a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Providers overrides the providers built from Config, by name (tests).
	Providers map[string]chat.Provider
	// Cache is the response cache's configuration (the cache: section); the
	// cache itself is handed over with SetCache (llm/cache.go).
	Cache cache.Config
	// Agent tunes the agent loop (the agent: section).
	Agent agent.Config
	// Tools are the MCP tools the agent loop calls (the gateway builds the
	// hub first). Without them requests naming MCP tools are refused.
	Tools agent.Hub
}

// Service is Junction's LLM path: the /v1 handlers, the providers and the
// router between them.
type Service struct {
	cfg    Config
	policy *policy.Engine
	log    zerolog.Logger
	now    func() time.Time
	// provs is the provider set in force, swapped whole by SetProviders;
	// the request path reads it without locks.
	provs atomic.Pointer[providerSet]
	// overrides replace built providers by name (Options.Providers, tests).
	overrides map[string]chat.Provider
	router    *router.Router
	metrics   *metrics
	// cache is the response cache on the chat path (llm/cache.go).
	cache serviceCache
	// embedder embeds through the router with the cache's embedding model;
	// nil when none is configured (use cache.NewLexical then).
	embedder cache.Embedder

	// loop is the agent loop, its model side in llm/agent.go.
	loop *agent.Loop

	// embeddingModel is the cache's embedding model, a listed name.
	embeddingModel string

	// mu guards demand, the routes built on demand for provider/model
	// names that are not aliases (ondemand.go), and serialises
	// SetProviders.
	mu     sync.Mutex
	demand onDemand
	// leases counts route leases, ordering unlisted routes by last use.
	leases atomic.Uint64

	// models are the model aliases in force (cfg.Models until Reconfigure
	// replaces them; llm/reconfigure.go), read without locks.
	models atomic.Pointer[[]ModelConfig]
}

// upstream is a configured provider with its keys.
type upstream struct {
	cfg      ProviderConfig
	provider chat.Provider
	format   string // the client format it can take as is (chat.FormatOpenAI...), "" for none
}

// New builds the providers and the router.
func New(opts Options) (*Service, error) {
	cfg := opts.Config
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("llm: invalid configuration: %v", errs)
	}
	if opts.Policy == nil {
		return nil, fmt.Errorf("llm: Options.Policy is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Agent.ApplyDefaults()
	if errs := opts.Agent.Validate("agent"); len(errs) > 0 {
		return nil, fmt.Errorf("llm: invalid configuration: %v", errs)
	}
	cc := opts.Cache
	cc.ApplyDefaults()
	s := &Service{cfg: cfg, policy: opts.Policy, log: opts.Logger, now: opts.Now,
		overrides: opts.Providers, demand: newOnDemand(), embeddingModel: cc.Semantic.EmbeddingModel}
	s.models.Store(&cfg.Models)
	s.initAgent(opts)
	ps, err := s.buildProviderSet(cfg.Providers, nil)
	if err != nil {
		return nil, err
	}
	s.provs.Store(ps)
	routes, err := s.buildRoutes(ps, true)
	if err != nil {
		return nil, err
	}
	rc := cfg.Routing
	rt, err := router.NewRouter(router.RouterOptions{Routes: routes, MaxAttempts: rc.MaxAttempts, BackoffBase: rc.BackoffBase,
		BackoffMax: rc.BackoffMax, BreakerFailures: rc.BreakerFailures, BreakerOpen: rc.BreakerOpen,
		AuthCoolDown: rc.AuthCoolDown, Now: opts.Now, Sleep: opts.Sleep,
		OnFailure: func(c *router.Candidate, err error, inStream bool) { s.metrics.failed(c, err, inStream) }})
	if err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	s.router = rt
	s.metrics = newMetrics(opts.Registerer, rt, func(name string) bool { return s.provs.Load().listed[name] })
	if err := s.initCache(opts); err != nil {
		return nil, err
	}
	return s, nil
}

// resolve makes sure model has a route: an alias, or a provider/model of a
// configured provider (made on demand, see ondemand.go). It is for models
// the configuration names (the cache's embedding model), whose routes stay;
// requests lease theirs (reach.go).
func (s *Service) resolve(model string) (*router.Route, bool) {
	var lease routeLease
	if err := s.leaseRoutes(&lease, []string{model}); err != nil {
		return nil, false
	}
	lease.release()
	return s.router.Route(model)
}

// upstreamOf returns the configured provider of a candidate: the one its
// route was built with, so a request in flight during SetProviders keeps
// the provider (and timeouts) it started with.
func (s *Service) upstreamOf(c *router.Candidate) *upstream {
	if up, ok := c.Upstream.(*upstream); ok {
		return up
	}
	return s.provs.Load().byName[c.Target.Provider]
}

// Models lists the model names a caller may use: aliases and the models
// declared by providers, filtered by access policy.
func (s *Service) Models(id *policy.Identity) []string {
	seen := map[string]bool{}
	var out []string
	add := func(name string) {
		if !seen[name] && s.policy.AllowedModel(id, name, policy.ActionList) {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, m := range s.aliases() {
		add(m.Name)
	}
	for _, p := range s.provs.Load().list {
		for _, m := range p.Models {
			add(p.Name + "/" + m)
		}
	}
	sort.Strings(out)
	return out
}

// The /v1 endpoints. Mount them behind the gateway's authentication, which
// puts a policy.Identity in the request context.

// ChatCompletions serves POST /v1/chat/completions (OpenAI's format).
func (s *Service) ChatCompletions(w http.ResponseWriter, r *http.Request) {
	s.serveChat(w, r, openAIFormat{})
}

// Messages serves POST /v1/messages (Anthropic's format), routable to any provider.
func (s *Service) Messages(w http.ResponseWriter, r *http.Request) {
	s.serveChat(w, r, anthropicFormat{})
}

// Embeddings serves POST /v1/embeddings.
func (s *Service) Embeddings(w http.ResponseWriter, r *http.Request) { s.embeddings(w, r) }

// ListModels serves GET /v1/models: the models the caller may use.
func (s *Service) ListModels(w http.ResponseWriter, r *http.Request) { s.listModels(w, r) }
