package llm

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/respcache"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/llm/routes"
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
	// routes are the providers, the model aliases and the routes they give
	// (llm/routes); router is routes.Router().
	routes  *routes.Table
	router  *router.Router
	metrics *metrics
	// cache is the response cache on the chat path (llm/cache.go).
	cache respcache.Cache
	// embedder embeds through the router with the cache's embedding model;
	// nil when none is configured (use cache.NewLexical then).
	embedder cache.Embedder

	// loop is the agent loop, its model side in llm/agent.go.
	loop *agent.Loop
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
	s := &Service{cfg: cfg, policy: opts.Policy, log: opts.Logger, now: opts.Now}
	s.initAgent(opts)
	table, err := routes.New(routes.Options{Config: cfg, Providers: opts.Providers, EmbeddingModel: cc.Semantic.EmbeddingModel,
		Now: opts.Now, Sleep: opts.Sleep,
		OnFailure: func(c *router.Candidate, err error, inStream bool) { s.metrics.failed(c, err, inStream) }})
	if err != nil {
		return nil, err
	}
	s.routes, s.router = table, table.Router()
	s.metrics = newMetrics(opts.Registerer, s.router, table.Listed)
	if err := s.initCache(opts); err != nil {
		return nil, err
	}
	return s, nil
}

// resolve makes sure a model the configuration names (the cache's
// embedding model) has a route, which stays (routes.Table.Resolve).
func (s *Service) resolve(model string) (*router.Route, bool) { return s.routes.Resolve(model) }

// upstreamOf returns the configured provider of a candidate: the one its
// route was built with (routes.Table.Upstream).
func (s *Service) upstreamOf(c *router.Candidate) *routes.Upstream { return s.routes.Upstream(c) }

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
	for _, m := range s.routes.Aliases() {
		add(m.Name)
	}
	for _, p := range s.routes.Providers() {
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

// CountTokens serves POST /v1/messages/count_tokens (Anthropic's format):
// passed to Anthropic-format targets, estimated for the others.
func (s *Service) CountTokens(w http.ResponseWriter, r *http.Request) { s.countTokens(w, r) }

// Embeddings serves POST /v1/embeddings.
func (s *Service) Embeddings(w http.ResponseWriter, r *http.Request) { s.embeddings(w, r) }

// ListModels serves GET /v1/models: the models the caller may use, in
// Anthropic's shape and paged when the request carries anthropic-version.
func (s *Service) ListModels(w http.ResponseWriter, r *http.Request) { s.listModels(w, r) }

// RetrieveModel serves GET /v1/models/{id}: the model id (which may contain
// '/', and may arrive path-escaped) when the caller may use it, else a 404.
func (s *Service) RetrieveModel(w http.ResponseWriter, r *http.Request, id string) {
	s.retrieveModel(w, r, id)
}
