package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/store"
)

// Reloading the configuration file: SIGHUP to `junction serve`, POST
// /admin/v1/reload, or `junction reload`. The file is read and validated as
// at start-up; when it has problems nothing changes and every problem is
// reported. Otherwise its file-managed entries are put in force the way the
// start-up seeds them, through the paths the admin API and the store's
// change feed already use, so connections and requests in flight are left
// alone:
//
//   - teams, keys, prices and policies are synced into the store (entries
//     the file no longer names are removed) and the governance snapshot is
//     rebuilt; other replicas follow the store's change feed;
//   - servers likewise; only added and changed upstreams (re)connect;
//   - providers and model aliases are swapped together in the router;
//     unchanged providers keep their connections and breaker state, and a
//     request in flight finishes on the provider it started with;
//   - toolsets are swapped in the MCP hub, whose connected clients are told
//     their tool list changed;
//   - changed cache settings build a new response cache (an in-memory cache
//     starts empty), and the old one closes once its pending writes are done.
//
// Settings read only at start-up (listen, data_dir, admin_key, store,
// counters, log, http, meter, routing, mcp, agent) are compared with those
// in force and reported as needing a restart; they are otherwise ignored.
// Reloads are serialised. Each replica reloads its own file: the entries
// held in the store reach the others by themselves, but providers, model
// aliases, toolsets and cache settings live in each replica's memory.

// ReloadReport says what a reload did.
type ReloadReport struct {
	// Changed has a line per section that changed, naming the entries
	// added, removed and changed, e.g. `keys: added "ci"; removed "old"`.
	Changed []string `json:"changed"`
	// NeedsRestart names the settings that differ from those in force and
	// take effect only at the next start; the reload ignored them.
	NeedsRestart []string `json:"needs_restart"`
}

// ReloadError is a reload of a valid file that failed part-way (the store
// refused a write, say): the sections in Applied are in force, the others
// are as they were. Reloading again once the cause is fixed completes it.
type ReloadError struct {
	Applied []string
	Err     error
}

func (e *ReloadError) Error() string {
	applied := "nothing"
	if len(e.Applied) > 0 {
		applied = strings.Join(e.Applied, ", ")
	}
	return fmt.Sprintf("gateway: reload failed (applied: %s): %v", applied, e.Err)
}

func (e *ReloadError) Unwrap() error { return e.Err }

// ErrReloadUnavailable is returned by Reload on a gateway built without
// Options.LoadConfig.
var ErrReloadUnavailable = errors.New("gateway: this gateway has no configuration loader to reload from")

// reloader is the gateway's reload state.
type reloader struct {
	// load reads and validates the configuration anew (Options.LoadConfig).
	load func() (*Config, error)
	// mu serialises reloads and guards inForce and closed.
	mu sync.Mutex
	// inForce is the configuration whose reloadable sections are in force.
	inForce Config
	// closed is set when shutdown begins; later reloads are refused.
	closed bool
}

// ErrShuttingDown is returned by Reload once the gateway is shutting down.
var ErrShuttingDown = errors.New("gateway: shutting down; not reloading")

// stopReloads waits for a reload that is running and refuses later ones;
// shutdown calls it first, so that no reload writes to a closing store.
func (g *Gateway) stopReloads() {
	g.reload.mu.Lock()
	defer g.reload.mu.Unlock()
	g.reload.closed = true
}

// Reload reads the configuration with Options.LoadConfig and puts its
// file-managed entries in force. An invalid file changes nothing: the error
// is a *ConfigError listing every problem. A failure while applying a valid
// file is a *ReloadError. Concurrent calls run one after the other.
func (g *Gateway) Reload(ctx context.Context) (ReloadReport, error) {
	if g.reload.load == nil {
		return ReloadReport{}, ErrReloadUnavailable
	}
	g.reload.mu.Lock()
	defer g.reload.mu.Unlock()
	if g.reload.closed {
		return ReloadReport{}, ErrShuttingDown
	}
	next, err := g.reload.load()
	if err != nil {
		var ce *ConfigError
		if !errors.As(err, &ce) {
			err = &ConfigError{Problems: []string{err.Error()}}
		}
		return ReloadReport{}, err
	}
	return g.apply(ctx, next)
}

// apply puts next in force; g.reload.mu is held.
func (g *Gateway) apply(ctx context.Context, next *Config) (ReloadReport, error) {
	next.ApplyDefaults()
	if err := next.Check(); err != nil {
		return ReloadReport{}, err
	}
	next.Providers, next.Models = llmDefaults(next, g.cfg.Routing)
	cur := &g.reload.inForce
	if problems := g.preflight(cur, next); len(problems) > 0 {
		return ReloadReport{}, &ConfigError{Problems: problems}
	}
	report := ReloadReport{Changed: describeChanges(cur, next), NeedsRestart: g.needsRestart(cur, next)}
	var applied []string
	fail := func(err error) (ReloadReport, error) {
		return ReloadReport{}, &ReloadError{Applied: applied, Err: err}
	}

	if !reflect.DeepEqual(cur.Providers, next.Providers) || !reflect.DeepEqual(cur.Models, next.Models) {
		if err := g.providers.SetFile(ctx, next.Providers, next.Models); err != nil {
			var ipe *llm.InvalidProviderError
			if errors.As(err, &ipe) { // nothing changed yet: report it as the file's problems
				return ReloadReport{}, &ConfigError{Problems: ipe.Problems}
			}
			return fail(err)
		}
		cur.Providers, cur.Models = next.Providers, next.Models
		applied = append(applied, "providers", "models")
	}
	// The store syncs run on every reload: they write only what differs,
	// and put back what this file declares if the store drifted.
	if err := g.policy.SyncConfig(ctx, next.Policy()); err != nil {
		return fail(err)
	}
	cur.Teams, cur.Keys, cur.Prices, cur.Policies = next.Teams, next.Keys, next.Prices, next.Policies
	applied = append(applied, "teams", "keys", "prices", "policies")
	if err := g.servers.SyncConfig(ctx, next.Servers); err != nil {
		return fail(err)
	}
	cur.Servers = next.Servers
	applied = append(applied, "servers")
	if !reflect.DeepEqual(cur.Toolsets, next.Toolsets) {
		if err := g.hub.SetToolsets(next.Toolsets); err != nil {
			return fail(err)
		}
		cur.Toolsets = next.Toolsets
		applied = append(applied, "toolsets")
	}
	if !reflect.DeepEqual(cur.Cache, next.Cache) {
		if err := g.swapCache(ctx, next.Cache); err != nil {
			return fail(err)
		}
		cur.Cache = next.Cache
		applied = append(applied, "cache")
	}
	if report.Changed == nil {
		report.Changed = []string{}
	}
	return report, nil
}

// llmDefaults returns copies of c's providers and model aliases with the
// LLM defaults applied as the LLM service holds them (routing is the one it
// started with, which gives providers their default timeouts), so that the
// configuration in force and a reloaded one compare equal when they mean
// the same.
func llmDefaults(c *Config, routing llm.RoutingConfig) ([]llm.ProviderConfig, []llm.ModelConfig) {
	lc := llm.Config{Routing: routing}
	for _, p := range c.Providers {
		p.Keys = slices.Clone(p.Keys)
		for j := range p.Keys {
			p.Keys[j].Models = slices.Clone(p.Keys[j].Models)
		}
		lc.Providers = append(lc.Providers, p)
	}
	for _, m := range c.Models {
		m.Targets = slices.Clone(m.Targets)
		lc.Models = append(lc.Models, m)
	}
	lc.ApplyDefaults()
	return lc.Providers, lc.Models
}

// preflight finds what would make applying next fail part-way, before
// anything changes: file entries whose names entries made through the API
// already have (the store refuses those), and a cache embedding model that
// nothing serves.
func (g *Gateway) preflight(cur, next *Config) []string {
	var problems []string
	taken := func(path, what string, names []string, isAPI func(string) bool) {
		for i, name := range names {
			if isAPI(name) {
				problems = append(problems, fmt.Sprintf("%s: %q is taken by a %s made through the admin API; rename or delete one of them", fmt.Sprintf(path, i), name, what))
			}
		}
	}
	apiProviders := g.providers.APINames()
	taken("teams[%d].name", "team", names(next.Teams, func(t policy.TeamConfig) string { return t.Name }),
		apiNames(g.policy.Teams(), func(t policy.Team) (string, string) { return t.Name, t.Source }))
	taken("keys[%d].name", "key", names(next.Keys, func(k policy.KeyConfig) string { return k.Name }),
		apiNames(g.policy.Keys(), func(k policy.Key) (string, string) { return k.Name, k.Source }))
	taken("prices[%d].model", "price", names(next.Prices, func(p policy.Price) string { return p.Model }),
		apiNames(g.policy.Prices().List(), func(p policy.Price) (string, string) { return p.Model, p.Source }))
	taken("servers[%d].name", "server", names(next.Servers, func(s registry.ServerConfig) string { return s.Name }),
		apiNames(g.servers.Servers(), func(s registry.ServerInfo) (string, string) { return s.Name, s.Source }))
	taken("providers[%d].name", "provider", names(next.Providers, func(p llm.ProviderConfig) string { return p.Name }),
		func(name string) bool { return slices.Contains(apiProviders, name) })
	if m := next.Cache.Semantic.EmbeddingModel; m != "" && m != cur.Cache.Semantic.EmbeddingModel && !servesModel(next, apiProviders, m) {
		problems = append(problems, fmt.Sprintf("cache.semantic.embedding_model: model %q is not configured (an alias under models, or provider/model of a provider)", m))
	}
	return problems
}

// names lists the names of a configuration section's entries.
func names[T any](entries []T, name func(T) string) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = name(e)
	}
	return out
}

// apiNames reports which names entries made through the admin API have.
func apiNames[T any](entries []T, nameSource func(T) (string, string)) func(string) bool {
	api := map[string]bool{}
	for _, e := range entries {
		if name, source := nameSource(e); source == store.SourceAPI {
			api[name] = true
		}
	}
	return func(name string) bool { return api[name] }
}

// servesModel reports whether model is an alias of c or provider/model of
// one of c's providers or of the API's.
func servesModel(c *Config, apiProviders []string, model string) bool {
	for _, m := range c.Models {
		if m.Name == model {
			return true
		}
	}
	prov, rest, ok := strings.Cut(model, "/")
	if !ok || rest == "" {
		return false
	}
	return slices.Contains(apiProviders, prov) || slices.ContainsFunc(c.Providers, func(p llm.ProviderConfig) bool { return p.Name == prov })
}

// needsRestart names the start-up-only settings in which next differs from
// the configuration the gateway started with.
func (g *Gateway) needsRestart(cur, next *Config) []string {
	start := &g.cfg
	out := []string{}
	for _, s := range []struct {
		name     string
		was, now any
	}{
		{"listen", start.Listen, next.Listen},
		{"data_dir", start.DataDir, next.DataDir},
		{"admin_key", start.AdminKey, next.AdminKey},
		{"log", start.Log, next.Log},
		{"http", start.HTTP, next.HTTP},
		{"store", start.Store, next.Store},
		{"counters", start.Counters, next.Counters},
		{"meter", start.Meter, next.Meter},
		{"routing", start.Routing, next.Routing},
		{"mcp", start.MCP, next.MCP},
		{"agent", start.Agent, next.Agent},
	} {
		if !reflect.DeepEqual(s.was, s.now) {
			out = append(out, s.name)
		}
	}
	// The agent loop ranks tools with the embedder it started with; the
	// cache takes a new embedding model at once.
	if cur.Cache.Semantic.EmbeddingModel != next.Cache.Semantic.EmbeddingModel {
		out = append(out, "cache.semantic.embedding_model (for the agent loop's tool ranking)")
	}
	return out
}

// describeChanges lists what differs between the reloadable sections of
// cur and next, a line per section.
func describeChanges(cur, next *Config) []string {
	var out []string
	add := func(line string) {
		if line != "" {
			out = append(out, line)
		}
	}
	add(diffNamed("teams", cur.Teams, next.Teams, func(t policy.TeamConfig) string { return t.Name }))
	add(diffNamed("keys", cur.Keys, next.Keys, func(k policy.KeyConfig) string { return k.Name }))
	add(diffNamed("prices", cur.Prices, next.Prices, func(p policy.Price) string { return p.Model }))
	add(diffNamed("policies", cur.Policies, next.Policies, func(l policy.PolicyLine) string { return strings.Join(l, ", ") }))
	add(diffNamed("providers", cur.Providers, next.Providers, func(p llm.ProviderConfig) string { return p.Name }))
	add(diffNamed("models", cur.Models, next.Models, func(m llm.ModelConfig) string { return m.Name }))
	add(diffNamed("servers", cur.Servers, next.Servers, func(s registry.ServerConfig) string { return s.Name }))
	add(diffNamed("toolsets", cur.Toolsets, next.Toolsets, func(t mcp.ToolsetConfig) string { return t.Name }))
	if !reflect.DeepEqual(cur.Cache, next.Cache) {
		add("cache: settings changed")
	}
	return out
}

// diffNamed describes how the entries of section changed from old to now,
// matching entries by name; "" when nothing did.
func diffNamed[T any](section string, old, now []T, name func(T) string) string {
	before := make(map[string]T, len(old))
	for _, e := range old {
		before[name(e)] = e
	}
	var added, changed []string
	seen := make(map[string]bool, len(now))
	for _, e := range now {
		n := name(e)
		seen[n] = true
		prev, ok := before[n]
		switch {
		case !ok:
			added = append(added, fmt.Sprintf("%q", n))
		case !reflect.DeepEqual(prev, e):
			changed = append(changed, fmt.Sprintf("%q", n))
		}
	}
	var removed []string
	for _, e := range old {
		if n := name(e); !seen[n] {
			removed = append(removed, fmt.Sprintf("%q", n))
		}
	}
	var parts []string
	for _, p := range []struct {
		verb  string
		names []string
	}{{"added", added}, {"removed", removed}, {"changed", changed}} {
		if len(p.names) > 0 {
			parts = append(parts, p.verb+" "+strings.Join(p.names, ", "))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return section + ": " + strings.Join(parts, "; ")
}

// cacheCloseTimeout bounds the wait for the replaced cache's pending writes.
const cacheCloseTimeout = 15 * time.Second

// swapCache builds a response cache with cfg, puts it in force and closes
// the one it replaces once the answers being stored in the background are
// stored. A request that started on the old cache and finishes after that
// is not stored (the cache fails open).
func (g *Gateway) swapCache(ctx context.Context, cfg cache.Config) error {
	var embedder cache.Embedder
	if m := cfg.Semantic.EmbeddingModel; m != "" {
		embedder = g.llm.Embedder(m, cfg.Semantic.Dimensions)
	}
	metrics := &collectorSet{}
	c, err := cache.New(ctx, cache.Options{Config: cfg, Embedder: embedder, Registerer: metrics, Logger: g.log})
	if err != nil {
		return fmt.Errorf("gateway: cache: %w", err)
	}
	old := g.cache.Swap(c)
	g.cacheMetrics.use(metrics)
	if c.Enabled() {
		g.llm.SetCache(c)
	} else {
		g.llm.SetCache(nil)
	}
	waitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cacheCloseTimeout)
	defer cancel()
	if err := g.llm.WaitCacheStores(waitCtx); err != nil {
		g.log.Warn().Err(err).Msg("gateway: closing the replaced response cache with answers still being stored")
	}
	if err := old.Close(); err != nil {
		g.log.Warn().Err(err).Msg("gateway: closing the replaced response cache")
	}
	return nil
}

// reloadResponse is the body of POST /admin/v1/reload when it fails: the
// usual error, and the problems one by one.
type reloadResponse struct {
	Error    errorDetail `json:"error"`
	Problems []string    `json:"problems"`
	// Applied names the sections in force after a failure part-way.
	Applied []string `json:"applied,omitempty"`
}

// reloadConfig serves POST /admin/v1/reload: 200 with the ReloadReport; 422
// with every problem of an invalid file (nothing changed); 500 when applying
// failed part-way; 409 for a gateway that has no file loader.
func (g *Gateway) reloadConfig(w http.ResponseWriter, r *http.Request) error {
	report, err := g.Reload(r.Context())
	var (
		ce *ConfigError
		re *ReloadError
	)
	switch {
	case err == nil:
		g.log.Info().Strs("changed", report.Changed).Strs("needs_restart", report.NeedsRestart).Msg("configuration reloaded through the admin API")
		writeJSON(w, http.StatusOK, report)
	case errors.Is(err, ErrShuttingDown):
		return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "shutting_down",
			Message: "the gateway is shutting down", Header: map[string]string{"Retry-After": "1"}}
	case errors.Is(err, ErrReloadUnavailable):
		return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "reload_unavailable",
			Message: "this gateway was not started from a configuration it can reload"}
	case errors.As(err, &ce):
		g.log.Warn().Strs("problems", ce.Problems).Msg("configuration reload refused; keeping the configuration in force")
		writeJSON(w, http.StatusUnprocessableEntity, reloadResponse{
			Error:    errorDetail{Message: ce.Error(), Type: "invalid_request_error", Code: "invalid_config"},
			Problems: ce.Problems})
	case errors.As(err, &re):
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("configuration reload failed part-way")
		writeJSON(w, http.StatusInternalServerError, reloadResponse{
			Error:    errorDetail{Message: re.Error(), Type: "server_error", Code: "reload_failed"},
			Problems: []string{re.Err.Error()}, Applied: re.Applied})
	default:
		return errInternal(err)
	}
	return nil
}
