package policy

import (
	"cmp"
	"fmt"
	"time"

	"github.com/junctionhq/junction/telemetry"
)

// The governance parts of the configuration file. The gateway's Config holds
// them under the top-level keys counters, teams, keys, policies, prices and
// meter; entries declared here are file-managed: seeded into the store at
// start-up and read-only through the admin API.

// CountersConfig selects where rate-limit and budget counters live: in this
// process (the default) or in Redis, shared by every replica.
type CountersConfig struct {
	// Memory keeps counters in this process. It is the default.
	Memory *struct{} `yaml:"memory,omitempty"`
	// Redis shares counters between replicas through one Redis server.
	Redis *RedisCountersConfig `yaml:"redis,omitempty"`
}

// RedisCountersConfig points at the Redis server holding shared counters.
type RedisCountersConfig struct {
	// URL is redis://[user:password@]host:port/db (rediss:// for TLS). Required.
	URL string `yaml:"url"`
	// Prefix starts every counter key. Default "junction:".
	Prefix string `yaml:"prefix,omitempty"`
	// Timeout bounds each counter call (one round trip, connection wait
	// included): a Redis that is down or hung costs a limited request this
	// long before its 503. Default 50ms (counters.DefaultRedisTimeout).
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// Validate reports problems under path.
func (c CountersConfig) Validate(path string) []error {
	var errs []error
	if c.Memory != nil && c.Redis != nil {
		errs = append(errs, fmt.Errorf("%s: set memory or redis, not both", path))
	}
	if c.Redis != nil && c.Redis.URL == "" {
		errs = append(errs, fmt.Errorf("%s.redis.url: required", path))
	}
	if c.Redis != nil && c.Redis.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.redis.timeout: must not be negative", path))
	}
	return errs
}

// TeamConfig declares a team, in the configuration file or (as TeamInput)
// through the admin API.
type TeamConfig struct {
	Name     string            `yaml:"name" json:"name"`
	Budget   *Budget           `yaml:"budget,omitempty" json:"budget,omitempty"`
	Limits   Limits            `yaml:"limits,omitempty" json:"limits,omitzero"`
	Metadata map[string]string `yaml:"metadata,omitempty" json:"metadata,omitempty"`
}

// KeyConfig declares a virtual key in the configuration file. Its secret
// comes from the file (typically "${ENV_VAR}"); only its hash is stored.
type KeyConfig struct {
	Name string `yaml:"name"`
	// Value is the key's secret; it must start with "jk-" and be at least 24
	// characters long.
	Value    string   `yaml:"value"`
	Team     string   `yaml:"team,omitempty"`
	Customer string   `yaml:"customer,omitempty"`
	Roles    []string `yaml:"roles,omitempty"`
	// Models and Tools default to ["*"].
	Models    []string          `yaml:"models,omitempty"`
	Tools     []string          `yaml:"tools,omitempty"`
	Budget    *Budget           `yaml:"budget,omitempty"`
	Limits    Limits            `yaml:"limits,omitempty"`
	ExpiresAt *time.Time        `yaml:"expires_at,omitempty"`
	Disabled  bool              `yaml:"disabled,omitempty"`
	Metadata  map[string]string `yaml:"metadata,omitempty"`
}

// minKeyValue is the shortest secret accepted for a declared key.
const minKeyValue = 24

// MeterConfig tunes how work is estimated and how usage is recorded.
type MeterConfig struct {
	// DefaultMaxTokens estimates the completion of an LLM request that sets
	// no max_tokens, for its budget reservation (its tokens-per-minute
	// reservation is its prompt until it settles). Default 4096.
	DefaultMaxTokens int64 `yaml:"default_max_tokens,omitempty"`
	// ToolCosts prices tool calls; the first entry whose pattern matches
	// "server/tool" wins. Tools with no match cost nothing.
	ToolCosts []ToolCost `yaml:"tool_costs,omitempty"`
	// UsageQueue bounds the usage records held in memory waiting to be
	// written (about 160 bytes each), also while the store is away: beyond
	// half of it the oldest are moved to the spill file in the
	// data dir. When it is full, records are dropped and counted, never
	// blocking a request. Default 100000.
	UsageQueue int `yaml:"usage_queue,omitempty"`
	// UsageSpillMaxBytes bounds the spill file (<data dir>/usage-spill.jsonl,
	// about 300 bytes a record); records that do not fit are dropped and
	// counted. Default 1 GiB.
	UsageSpillMaxBytes int64 `yaml:"usage_spill_max_bytes,omitempty"`
	// UsageBatch is how many records one write takes. Default 500.
	UsageBatch int `yaml:"usage_batch,omitempty"`
	// UsageFlushInterval is the longest a record waits before being written.
	// Default 1s.
	UsageFlushInterval time.Duration `yaml:"usage_flush_interval,omitempty"`
	// ReloadInterval re-reads keys, teams, policies and prices from the store
	// even without a change notification, as a safety net. Default 30s.
	ReloadInterval time.Duration `yaml:"reload_interval,omitempty"`
	// SpendRebuildTimeout bounds rebuilding a budget's spend from the usage
	// records when its counter is missing (after a restart, or when Redis
	// lost it): writing the queued records and summing the period's. Work
	// whose spend cannot be rebuilt in time is refused as unavailable.
	// Default 500ms.
	SpendRebuildTimeout time.Duration `yaml:"spend_rebuild_timeout,omitempty"`
	// SettleRetry is how long the charge of a settlement that could not
	// update the counters (Redis away) is retried in the background: the
	// tokens or money a request used beyond its reservation. Refunds of
	// unused reservations are not retried (see settleretry.go): a lost one
	// leaves the estimate counted until the window ends. Default 2m.
	SettleRetry time.Duration `yaml:"settle_retry,omitempty"`
}

// ToolCost is the price of calls to the tools matching a pattern.
type ToolCost struct {
	// Tool is a "server/tool" pattern; * matches any run of characters.
	Tool string `yaml:"tool"`
	// USD is charged per call.
	USD float64 `yaml:"usd"`
}

// Meter defaults. Those of the usage fields are the usage writer's
// (telemetry.DefaultUsageQueue and the others), applied there.
const (
	DefaultMaxTokens      = 4096
	DefaultReloadInterval = 30 * time.Second
	DefaultSpendRebuild   = 500 * time.Millisecond
	DefaultSettleRetry    = 2 * time.Minute
)

func (m *MeterConfig) applyDefaults() {
	m.DefaultMaxTokens = cmp.Or(m.DefaultMaxTokens, DefaultMaxTokens)
	m.ReloadInterval = cmp.Or(m.ReloadInterval, DefaultReloadInterval)
	m.SpendRebuildTimeout = cmp.Or(m.SpendRebuildTimeout, DefaultSpendRebuild)
	m.SettleRetry = cmp.Or(m.SettleRetry, DefaultSettleRetry)
}

// usageWriter is the usage writer's configuration: the usage fields, and
// the spill file in spillDir.
func (m *MeterConfig) usageWriter(spillDir string) telemetry.UsageWriterConfig {
	return telemetry.UsageWriterConfig{Queue: m.UsageQueue, Batch: m.UsageBatch, FlushInterval: m.UsageFlushInterval,
		SpillDir: spillDir, SpillMaxBytes: m.UsageSpillMaxBytes}
}

// Validate reports problems under path.
func (m MeterConfig) Validate(path string) []error {
	var errs []error
	if m.DefaultMaxTokens < 0 || m.DefaultMaxTokens > maxCompletionEstimate {
		errs = append(errs, fmt.Errorf("%s.default_max_tokens: must be from 0 to %d", path, maxCompletionEstimate))
	}
	if m.UsageQueue < 0 || m.UsageBatch < 0 || m.UsageSpillMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("%s: usage_queue, usage_batch and usage_spill_max_bytes must not be negative", path))
	}
	if m.UsageFlushInterval < 0 || m.ReloadInterval < 0 || m.SpendRebuildTimeout < 0 || m.SettleRetry < 0 {
		errs = append(errs, fmt.Errorf("%s: intervals must not be negative", path))
	}
	for i, tc := range m.ToolCosts {
		p := fmt.Sprintf("%s.tool_costs[%d]", path, i)
		if tc.Tool == "" {
			errs = append(errs, fmt.Errorf("%s.tool: required", p))
		}
		if tc.USD < 0 || tc.USD > 1e6 {
			errs = append(errs, fmt.Errorf("%s.usd: must be from 0 to 1000000", p))
		}
	}
	return errs
}

// Config is everything the governance layer takes from the configuration file.
type Config struct {
	Teams    []TeamConfig
	Keys     []KeyConfig
	Policies []PolicyLine
	Prices   []Price
	Meter    MeterConfig
}

// Validate reports every problem, naming each entry by its YAML path.
func (c Config) Validate() []error {
	var errs []error
	teams := map[string]bool{}
	for i, t := range c.Teams {
		p := fmt.Sprintf("teams[%d]", i)
		errs = append(errs, validateTeam(p, t.Name, t.Budget, t.Limits)...)
		if teams[t.Name] {
			errs = append(errs, fmt.Errorf("%s.name: team %q is declared twice", p, t.Name))
		}
		teams[t.Name] = true
	}
	names, values := map[string]bool{}, map[string]bool{}
	for i, k := range c.Keys {
		p := fmt.Sprintf("keys[%d]", i)
		errs = append(errs, validateKey(p, keyFields{k.Name, k.Team, k.Roles, k.Models, k.Tools, k.Budget, k.Limits})...)
		if names[k.Name] {
			errs = append(errs, fmt.Errorf("%s.name: key %q is declared twice", p, k.Name))
		}
		names[k.Name] = true
		switch {
		case len(k.Value) < minKeyValue || k.Value[:len(KeyPrefix)] != KeyPrefix:
			errs = append(errs, fmt.Errorf("%s.value: must start with %q and be at least %d characters (is the environment variable set?)", p, KeyPrefix, minKeyValue))
		case values[k.Value]:
			errs = append(errs, fmt.Errorf("%s.value: the same secret is used by another key", p))
		}
		values[k.Value] = true
		if k.Team != "" && !teams[k.Team] {
			errs = append(errs, fmt.Errorf("%s.team: team %q is not declared under teams", p, k.Team))
		}
	}
	for i, l := range c.Policies {
		errs = append(errs, l.Validate(fmt.Sprintf("policies[%d]", i))...)
	}
	models := map[string]bool{}
	for i, pr := range c.Prices {
		p := fmt.Sprintf("prices[%d]", i)
		errs = append(errs, pr.Validate(p)...)
		if models[pr.Model] {
			errs = append(errs, fmt.Errorf("%s.model: %q is priced twice", p, pr.Model))
		}
		models[pr.Model] = true
	}
	errs = append(errs, c.Meter.Validate("meter")...)
	return errs
}

func validateTeam(path, name string, b *Budget, l Limits) []error {
	var errs []error
	if err := checkName(path+".name", name); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, b.Validate(path+".budget")...)
	errs = append(errs, l.Validate(path+".limits")...)
	return errs
}

type keyFields struct {
	name, team           string
	roles, models, tools []string
	budget               *Budget
	limits               Limits
}

func validateKey(path string, k keyFields) []error {
	var errs []error
	if err := checkName(path+".name", k.name); err != nil {
		errs = append(errs, err)
	}
	if k.team != "" {
		if err := checkName(path+".team", k.team); err != nil {
			errs = append(errs, err)
		}
	}
	for i, r := range k.roles {
		if err := checkName(fmt.Sprintf("%s.roles[%d]", path, i), r); err != nil {
			errs = append(errs, err)
		}
	}
	for _, list := range []struct {
		name     string
		patterns []string
	}{{"models", k.models}, {"tools", k.tools}} {
		for i, p := range list.patterns {
			if p == "" || len(p) > 256 {
				errs = append(errs, fmt.Errorf("%s.%s[%d]: must be a pattern of 1-256 characters", path, list.name, i))
			}
			for _, c := range p {
				if c == ',' || c == '"' || c == '\n' || c == ' ' {
					errs = append(errs, fmt.Errorf("%s.%s[%d]: %q must not contain commas, quotes or spaces", path, list.name, i, p))
					break
				}
			}
		}
	}
	errs = append(errs, k.budget.Validate(path+".budget")...)
	errs = append(errs, k.limits.Validate(path+".limits")...)
	return errs
}
