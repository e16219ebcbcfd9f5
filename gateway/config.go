package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/telemetry"
)

// Config is the whole gateway configuration: the YAML file's shape. Every
// field documents its default; the zero value of Config, after
// ApplyDefaults, runs Junction on SQLite with no upstreams.
type Config struct {
	// Listen is the address the HTTP server binds. Default 127.0.0.1:8080.
	Listen string `yaml:"listen,omitempty"`
	// DataDir holds the SQLite database and generated secrets. Default ./data.
	DataDir string `yaml:"data_dir,omitempty"`
	// AdminKey authenticates the admin API (/admin/v1). When empty (and
	// JUNCTION_ADMIN_KEY is unset) the first start generates one, prints it
	// once and stores only its hash.
	AdminKey string `yaml:"admin_key,omitempty"`
	// Log selects the log format and level.
	Log telemetry.LogConfig `yaml:"log,omitempty"`
	// HTTP tunes the server: body limit and timeouts.
	HTTP HTTPConfig `yaml:"http,omitempty"`
	// Store selects the database: SQLite under DataDir by default, or Postgres.
	Store store.Config `yaml:"store,omitempty"`
	// Counters selects where rate-limit and budget counters live: in memory
	// (default) or in Redis, shared by every replica.
	Counters policy.CountersConfig `yaml:"counters,omitempty"`
	// Teams, Keys, Policies and Prices declared here are file-managed: seeded
	// into the store at start-up and read-only through the admin API.
	Teams    []policy.TeamConfig `yaml:"teams,omitempty"`
	Keys     []policy.KeyConfig  `yaml:"keys,omitempty"`
	Policies []policy.PolicyLine `yaml:"policies,omitempty"`
	Prices   []policy.Price      `yaml:"prices,omitempty"`
	// Meter tunes usage estimates, tool-call costs and the usage writer.
	Meter policy.MeterConfig `yaml:"meter,omitempty"`
	// Providers, Models and Routing configure the LLM path: where models are
	// served, aliases over weighted targets with fallbacks, and retries,
	// breakers and timeouts.
	Providers []llm.ProviderConfig `yaml:"providers,omitempty"`
	Models    []llm.ModelConfig    `yaml:"models,omitempty"`
	Routing   llm.RoutingConfig    `yaml:"routing,omitempty"`
	// Servers are the upstream MCP tool servers declared in the file
	// (file-managed; more are added through the admin API).
	Servers []registry.ServerConfig `yaml:"servers,omitempty"`
	// Toolsets are named subsets of the federated tools, served at
	// /mcp/{toolset}.
	Toolsets []mcp.ToolsetConfig `yaml:"toolsets,omitempty"`
	// MCP tunes the downstream MCP endpoint.
	MCP MCPConfig `yaml:"mcp,omitempty"`
	// Agent tunes the agent loop that runs MCP tools for /v1 requests
	// naming them: max_iterations (default 10), timeout (5m), tool_timeout
	// (60s), max_tools (40).
	Agent agent.Config `yaml:"agent,omitempty"`
	// Cache is the response cache of the chat endpoints: exact and semantic
	// tiers, off by default (see cache.Config for every key and default).
	Cache cache.Config `yaml:"cache,omitempty"`
}

// MCPConfig tunes /mcp, /mcp/{toolset} and /sse.
type MCPConfig struct {
	// AllowedOrigins are the browser origins allowed to call /mcp besides
	// localhost ones (DNS-rebinding protection). Default: none.
	AllowedOrigins []string `yaml:"allowed_origins,omitempty"`
	// CallerSessionsPerServer bounds the upstream sessions each MCP server
	// keeps for callers whose clients supply client features (roots,
	// sampling, elicitation): each such caller gets a session of its own
	// (for a stdio server, a process), so that nothing one client supplies
	// reaches another. Beyond the bound the least recently used idle one is
	// closed for a new caller; when every one is busy, a new caller's call
	// fails at once. Default 32.
	CallerSessionsPerServer int `yaml:"caller_sessions_per_server,omitempty"`
	// CallerSessionIdle is how long an unused caller session is kept before
	// it is closed (checked at every health check of its server). Default 5m.
	CallerSessionIdle time.Duration `yaml:"caller_session_idle,omitempty"`
}

// applyDefaults fills the caller session bounds with the registry's
// defaults.
func (m *MCPConfig) applyDefaults() {
	m.CallerSessionsPerServer = cmp.Or(m.CallerSessionsPerServer, registry.DefaultMaxCallerSessions)
	m.CallerSessionIdle = cmp.Or(m.CallerSessionIdle, registry.DefaultCallerSessionIdle)
}

func (m MCPConfig) validate(path string) []error {
	return append(notNegative(path, named[int]{"caller_sessions_per_server", m.CallerSessionsPerServer}),
		notNegative(path, named[time.Duration]{"caller_session_idle", m.CallerSessionIdle})...)
}

// named is a configuration value with its name in YAML.
type named[T ~int | ~int64] struct {
	name string
	v    T
}

// notNegative reports each of values that is below zero, named path.name.
func notNegative[T ~int | ~int64](path string, values ...named[T]) []error {
	var errs []error
	for _, n := range values {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: must not be negative", path, n.name))
		}
	}
	return errs
}

// LLM is the LLM part of the configuration.
func (c *Config) LLM() llm.Config {
	return llm.Config{Providers: c.Providers, Models: c.Models, Routing: c.Routing}
}

// Policy is the governance part of the configuration.
func (c *Config) Policy() policy.Config {
	return policy.Config{Teams: c.Teams, Keys: c.Keys, Policies: c.Policies, Prices: c.Prices, Meter: c.Meter}
}

// HTTPConfig tunes the HTTP server. None of its timeouts bounds the length
// of a response, so long streams are never cut by the server.
type HTTPConfig struct {
	// MaxBodyBytes caps a request body; larger bodies get 413. Accepts a
	// number of bytes or a size such as "10MiB". Default 10MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes,omitempty"`
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout,omitempty"`
	// BodyReadTimeout bounds reading a request body, measured from the end
	// of the headers. It is lifted once the body has been read, so it never
	// cuts a long response. Default 2m.
	BodyReadTimeout time.Duration `yaml:"body_read_timeout,omitempty"`
	// IdleTimeout closes keep-alive connections idle this long. Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout,omitempty"`
	// ShutdownTimeout bounds the drain of in-flight requests and streams on
	// SIGINT/SIGTERM; what is still running then is cut. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout,omitempty"`
	// TrustedProxies are the load balancers and reverse proxies (IP
	// addresses or CIDR blocks) whose X-Forwarded-For header is believed
	// when telling clients apart for the auth throttle. Default: none, so
	// the client is always the connection's peer and X-Forwarded-For is
	// ignored. Behind a proxy that is not listed, every client shares the
	// proxy's address, and one client's wrong keys lock them all out.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// AuthThrottle slows down and then locks out client addresses that keep
	// presenting wrong keys.
	AuthThrottle AuthThrottleConfig `yaml:"auth_throttle,omitempty"`
	// MetricsToken, when set, must be sent as "Authorization: Bearer
	// <token>" to read /metrics (Prometheus: authorization.credentials).
	// Default: none, /metrics is open. Its labels name keys, teams,
	// providers, models and MCP servers and tools, and carry spend per key:
	// set a token, or let only the scraper's network reach the port.
	MetricsToken string `yaml:"metrics_token,omitempty"`
	// AdminTimeout bounds each admin API request, its database queries
	// included; one that takes longer gets 503 with Retry-After. Tool calls
	// through the admin API (POST /admin/v1/tools/call) have their own
	// timeout instead. Default 10s.
	AdminTimeout time.Duration `yaml:"admin_timeout,omitempty"`
}

// Defaults, in one place.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultDataDir           = "./data"
	DefaultMaxBodyBytes      = 10 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyReadTimeout   = 2 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultAdminTimeout      = 10 * time.Second
)

// ApplyDefaults fills every unset field with its default.
func (c *Config) ApplyDefaults() {
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.DataDir = cmp.Or(c.DataDir, DefaultDataDir)
	h := &c.HTTP
	h.MaxBodyBytes = cmp.Or(h.MaxBodyBytes, DefaultMaxBodyBytes)
	h.ReadHeaderTimeout = cmp.Or(h.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	h.BodyReadTimeout = cmp.Or(h.BodyReadTimeout, DefaultBodyReadTimeout)
	h.IdleTimeout = cmp.Or(h.IdleTimeout, DefaultIdleTimeout)
	h.ShutdownTimeout = cmp.Or(h.ShutdownTimeout, DefaultShutdownTimeout)
	h.AuthThrottle.applyDefaults()
	h.AdminTimeout = cmp.Or(h.AdminTimeout, DefaultAdminTimeout)
	c.MCP.applyDefaults()
	c.Agent.ApplyDefaults()
	c.Cache.ApplyDefaults()
}

// Validate returns every problem in c, each naming its YAML path.
func (c *Config) Validate() []error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port: %v", c.Listen, err))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("listen: port %q is not a number from 0 to 65535", port))
	}
	if c.AdminKey != "" && len(c.AdminKey) < 16 {
		errs = append(errs, errors.New("admin_key: must be at least 16 characters"))
	}
	errs = append(errs, c.Log.Validate("log")...)
	errs = append(errs, c.HTTP.validate("http")...)
	errs = append(errs, c.MCP.validate("mcp")...)
	errs = append(errs, c.Store.Validate("store")...)
	errs = append(errs, c.Counters.Validate("counters")...)
	errs = append(errs, c.Policy().Validate()...)
	lc := c.LLM()
	errs = append(errs, lc.Validate()...)
	errs = append(errs, c.Agent.Validate("agent")...)
	errs = append(errs, c.Cache.Validate()...)
	errs = append(errs, mcp.ValidateToolsets(c.Toolsets)...)
	names := map[string]bool{}
	for i, sc := range c.Servers {
		path := fmt.Sprintf("servers[%d]", i)
		errs = append(errs, sc.Validate(path)...)
		if names[sc.Name] {
			errs = append(errs, fmt.Errorf("%s.name: server %q is declared twice", path, sc.Name))
		}
		names[sc.Name] = true
	}
	return errs
}

func (h HTTPConfig) validate(path string) []error {
	errs := notNegative(path, named[ByteSize]{"max_body_bytes", h.MaxBodyBytes})
	errs = append(errs, notNegative(path,
		named[time.Duration]{"read_header_timeout", h.ReadHeaderTimeout},
		named[time.Duration]{"body_read_timeout", h.BodyReadTimeout},
		named[time.Duration]{"idle_timeout", h.IdleTimeout},
		named[time.Duration]{"shutdown_timeout", h.ShutdownTimeout},
		named[time.Duration]{"admin_timeout", h.AdminTimeout})...)
	if h.MetricsToken != "" && len(h.MetricsToken) < 16 {
		errs = append(errs, fmt.Errorf("%s.metrics_token: must be at least 16 characters", path))
	}
	_, perrs := parseTrustedProxies(path+".trusted_proxies", h.TrustedProxies)
	errs = append(errs, perrs...)
	return append(errs, h.AuthThrottle.validate(path+".auth_throttle")...)
}

// LoadConfig reads the YAML file at path (none when path is empty), expands
// ${VAR} and ${VAR:-default} through lookup (os.LookupEnv when nil), applies
// defaults and validates. Any problem, in decoding or validation, is returned
// as one *ConfigError listing them all.
func LoadConfig(path string, lookup func(string) (string, bool)) (*Config, error) {
	var doc []byte
	if path != "" {
		b, err := readConfigFile(path)
		if err != nil {
			return nil, err
		}
		doc = b
	}
	return ParseConfig(path, doc, lookup)
}

// ParseConfig is LoadConfig on an in-memory document; name labels errors.
func ParseConfig(name string, doc []byte, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var c Config
	problems, lines := decodeYAML(doc, &c, lookup)
	c.ApplyDefaults()
	// Validate even when decoding failed, so one run reports everything;
	// skip validation problems on paths decoding already reported.
	reported := make(map[string]bool, len(problems))
	for _, p := range problems {
		path, _, _ := strings.Cut(p, ": ")
		reported[path] = true
	}
	for _, err := range c.Validate() {
		path, _, _ := strings.Cut(err.Error(), ": ")
		if reported[path] {
			continue
		}
		msg := err.Error()
		if line := lineOf(lines, path); line > 0 {
			msg = fmt.Sprintf("%s (line %d)", msg, line)
		}
		problems = append(problems, msg)
	}
	if len(problems) > 0 {
		return nil, &ConfigError{File: name, Problems: problems}
	}
	return &c, nil
}

// Check validates c and folds the problems into one *ConfigError (nil when
// valid). Callers that change a loaded config (command-line flags) call it
// again.
func (c *Config) Check() error {
	errs := c.Validate()
	if len(errs) == 0 {
		return nil
	}
	ce := &ConfigError{}
	for _, e := range errs {
		ce.Problems = append(ce.Problems, e.Error())
	}
	return ce
}

// ByteSize is a size in bytes, written in YAML as a number or with a unit:
// 512KiB, 10MiB, 1GiB (also KB, MB, GB as powers of 1000).
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// ParseByteSize parses "1048576", "512KiB", "10MiB", "1GB" and the like.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 1048576 or 10MiB", s)
	}
	return ByteSize(n * mult), nil
}
