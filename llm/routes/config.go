package routes

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/router"
)

// Config is the LLM part of the configuration file: providers (where models
// are served, with which API keys), model aliases (routes over several
// targets) and routing defaults.
type Config struct {
	Providers []ProviderConfig `yaml:"providers,omitempty"`
	Models    []ModelConfig    `yaml:"models,omitempty"`
	Routing   RoutingConfig    `yaml:"routing,omitempty"`
}

// Provider types.
const (
	TypeOpenAI    = "openai" // OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, Together, DeepSeek, Mistral, OpenRouter)
	TypeAzure     = "azure"
	TypeAnthropic = "anthropic"
	TypeGemini    = "gemini"
)

// ProviderConfig is one upstream. Models are addressed as <name>/<model>.
type ProviderConfig struct {
	// Name addresses the provider's models ("openai" → openai/gpt-4o). Required.
	Name string `yaml:"name"`
	// Type selects the wire format: openai (default), azure, anthropic, gemini.
	Type string `yaml:"type,omitempty"`
	// BaseURL is the API root, e.g. https://api.openai.com/v1,
	// http://127.0.0.1:11434/v1 (Ollama), https://<resource>.openai.azure.com
	// (Azure). Default: the provider's public endpoint (required for azure).
	BaseURL string `yaml:"base_url,omitempty"`
	// APIVersion is Azure's api-version. Default 2024-10-21.
	APIVersion string `yaml:"api_version,omitempty"`
	// Headers are sent on every upstream request (e.g. OpenRouter's HTTP-Referer).
	Headers map[string]string `yaml:"headers,omitempty"`
	// Keys are the API keys to balance over. At least one.
	Keys []ProviderKeyConfig `yaml:"keys"`
	// Models lists model names for /v1/models (the provider's models are not
	// fetched from upstream).
	Models []string `yaml:"models,omitempty"`
	// ModelPatterns route bare model names (without a provider) to this
	// provider: a request for "claude-haiku-4-5" that matches "claude-*"
	// is served as anthropic/claude-haiku-4-5, as if the client had named
	// that (access, routes and their bounds alike). Patterns use the glob
	// language of the configuration and never contain '/'. An alias of
	// the same name wins; when several providers match, the first in the
	// configuration does. Default none: bare names are aliases only.
	ModelPatterns []string `yaml:"model_patterns,omitempty"`
	// Timeouts bound each upstream call. Defaults in RoutingConfig.
	Timeouts TimeoutsConfig `yaml:"timeouts,omitempty"`
}

// ProviderKeyConfig is one upstream API key.
type ProviderKeyConfig struct {
	// Name identifies the key in logs and metrics. Default "key<N>".
	Name string `yaml:"name,omitempty"`
	// Value is the secret, usually "${ENV_VAR}". Required (any text for
	// local servers that ignore it).
	Value string `yaml:"value"`
	// Weight is the key's share of its provider's traffic: on every target
	// (alias target or provider/model) the provider serves, its keys split
	// the target's share between them by weight. Adding a key never changes
	// a target's share against other targets. Default 1.
	Weight float64 `yaml:"weight,omitempty"`
	// Models are patterns of the models this key may serve. Default ["*"].
	Models []string `yaml:"models,omitempty"`
}

// ModelConfig is an alias: a name clients use that maps to weighted
// targets, with a fallback chain.
type ModelConfig struct {
	Name    string         `yaml:"name"`
	Targets []TargetConfig `yaml:"targets"`
	// Fallbacks are models (aliases or provider/model) tried in order when
	// every target failed.
	Fallbacks []string `yaml:"fallbacks,omitempty"`
	// Strategy is adaptive (default: by recent latency and errors) or weighted.
	Strategy string `yaml:"strategy,omitempty"`
}

// TargetConfig is one target of an alias.
type TargetConfig struct {
	// Model is provider/model. Required.
	Model string `yaml:"model"`
	// Weight is the target's share of the alias's traffic against its other
	// targets (3 and 1: three requests in four go to the first), whatever
	// the number of API keys each provider has: keys split their target's
	// share by their own weights. With the adaptive strategy the shares
	// hold among healthy targets of equal speed; slower or failing targets
	// get less. Default 1.
	Weight float64 `yaml:"weight,omitempty"`
}

// TimeoutsConfig bounds upstream calls.
type TimeoutsConfig struct {
	// Connect bounds dialling and TLS. Default 10s.
	Connect time.Duration `yaml:"connect,omitempty"`
	// FirstByte bounds the wait for the response (non-streamed: the whole
	// answer; streamed: the first event). Default 120s.
	FirstByte time.Duration `yaml:"first_byte,omitempty"`
	// StreamIdle bounds the gap between two events of a stream. Default 60s.
	StreamIdle time.Duration `yaml:"stream_idle,omitempty"`
}

// RoutingConfig holds routing defaults.
type RoutingConfig struct {
	// MaxAttempts per model before its fallbacks. Default 3.
	MaxAttempts int `yaml:"max_attempts,omitempty"`
	// BackoffBase and BackoffMax shape the jittered exponential backoff.
	// Defaults 100ms and 2s.
	BackoffBase time.Duration `yaml:"backoff_base,omitempty"`
	BackoffMax  time.Duration `yaml:"backoff_max,omitempty"`
	// BreakerFailures consecutive failures open a target's breaker for
	// BreakerOpen. Defaults 5 and 30s. A failure is a retryable error (5xx,
	// 408, 409, 429, a timeout, a network error) before the first byte, or
	// a stream broken after it (the upstream cut it, sent an error event or
	// fell silent past stream_idle); a client that goes away is no
	// failure. An open target gets no traffic; when every target of a
	// model and its fallbacks is open, requests fail at once with 503 and
	// Retry-After (the seconds until the first open period ends) without
	// reaching any provider. After BreakerOpen one request at a time probes
	// the target (half-open): its success closes the breaker, its failure
	// opens it again.
	BreakerFailures int           `yaml:"breaker_failures,omitempty"`
	BreakerOpen     time.Duration `yaml:"breaker_open,omitempty"`
	// AuthCoolDown is how long a provider key is left out after its
	// provider refused it (401, 403, 407, Gemini's API_KEY_INVALID,
	// Anthropic's authentication_error or permission_error): requests go
	// to the provider's other keys, the model's other targets and its
	// fallbacks meanwhile, and a client sees 502 provider_auth_failed only
	// when none of them can serve it. Changing the key's value starts it
	// afresh. Default 5m, and at least BreakerOpen.
	AuthCoolDown time.Duration `yaml:"auth_cooldown,omitempty"`
	// Timeouts are the defaults for providers that set none.
	Timeouts TimeoutsConfig `yaml:"timeouts,omitempty"`
	// DrainTimeout bounds how long a stream whose client went away is still
	// read, to meter its usage. Default 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout,omitempty"`
}

// Timeout defaults.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultFirstByteTimeout = 120 * time.Second
	DefaultStreamIdle       = 60 * time.Second
	DefaultDrainTimeout     = 30 * time.Second
	DefaultAuthCoolDown     = router.DefaultAuthCoolDown
)

func (t TimeoutsConfig) withDefaults(d TimeoutsConfig) TimeoutsConfig {
	t.Connect = cmp.Or(t.Connect, d.Connect)
	t.FirstByte = cmp.Or(t.FirstByte, d.FirstByte)
	t.StreamIdle = cmp.Or(t.StreamIdle, d.StreamIdle)
	return t
}

// ApplyDefaults fills unset fields.
func (c *Config) ApplyDefaults() {
	r := &c.Routing
	r.Timeouts = r.Timeouts.withDefaults(TimeoutsConfig{Connect: DefaultConnectTimeout, FirstByte: DefaultFirstByteTimeout, StreamIdle: DefaultStreamIdle})
	r.DrainTimeout = cmp.Or(r.DrainTimeout, DefaultDrainTimeout)
	for i := range c.Providers {
		p := &c.Providers[i]
		p.Type = cmp.Or(p.Type, TypeOpenAI)
		p.Timeouts = p.Timeouts.withDefaults(r.Timeouts)
		for j := range p.Keys {
			k := &p.Keys[j]
			k.Name = cmp.Or(k.Name, fmt.Sprintf("key%d", j+1))
			k.Weight = cmp.Or(k.Weight, 1)
			if len(k.Models) == 0 {
				k.Models = []string{"*"}
			}
		}
	}
	for i := range c.Models {
		for j := range c.Models[i].Targets {
			if c.Models[i].Targets[j].Weight == 0 {
				c.Models[i].Targets[j].Weight = 1
			}
		}
	}
}

// Validate reports every problem, each with its YAML path.
func (c *Config) Validate() []error {
	var errs []error
	providers := map[string]bool{}
	for i, p := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		if p.Name == "" || strings.ContainsAny(p.Name, "/ \t") {
			errs = append(errs, fmt.Errorf("%s.name: required, without slashes or spaces", path))
		} else if providers[p.Name] {
			errs = append(errs, fmt.Errorf("%s.name: provider %q is declared twice", path, p.Name))
		}
		providers[p.Name] = true
		switch p.Type {
		case "", TypeOpenAI, TypeAzure, TypeAnthropic, TypeGemini:
		default:
			errs = append(errs, fmt.Errorf("%s.type: %q is not one of openai, azure, anthropic, gemini", path, p.Type))
		}
		if p.Type == TypeAzure && p.BaseURL == "" {
			errs = append(errs, fmt.Errorf("%s.base_url: required for azure (https://<resource>.openai.azure.com)", path))
		}
		if p.BaseURL != "" {
			if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s.base_url: %q is not an http(s) URL", path, p.BaseURL))
			}
		}
		if len(p.Keys) == 0 {
			errs = append(errs, fmt.Errorf("%s.keys: at least one key is required", path))
		}
		for j, pat := range p.ModelPatterns {
			if pat == "" || strings.ContainsAny(pat, "/ \t") {
				errs = append(errs, fmt.Errorf("%s.model_patterns[%d]: %q must be a pattern of bare model names, without slashes or spaces", path, j, pat))
			}
		}
		names := map[string]bool{}
		for j, k := range p.Keys {
			kp := fmt.Sprintf("%s.keys[%d]", path, j)
			if k.Value == "" {
				errs = append(errs, fmt.Errorf("%s.value: required (is the environment variable set?)", kp))
			}
			if k.Weight < 0 {
				errs = append(errs, fmt.Errorf("%s.weight: must not be negative", kp))
			}
			if k.Name != "" && names[k.Name] {
				errs = append(errs, fmt.Errorf("%s.name: key %q is declared twice", kp, k.Name))
			}
			names[k.Name] = true
		}
		for _, d := range []struct {
			n string
			v time.Duration
		}{{"connect", p.Timeouts.Connect}, {"first_byte", p.Timeouts.FirstByte}, {"stream_idle", p.Timeouts.StreamIdle}} {
			if d.v < 0 {
				errs = append(errs, fmt.Errorf("%s.timeouts.%s: must not be negative", path, d.n))
			}
		}
	}
	aliases := map[string]bool{}
	for i, m := range c.Models {
		path := fmt.Sprintf("models[%d]", i)
		switch {
		case m.Name == "" || strings.ContainsAny(m.Name, " \t"):
			errs = append(errs, fmt.Errorf("%s.name: required, without spaces", path))
		case aliases[m.Name]:
			errs = append(errs, fmt.Errorf("%s.name: model %q is declared twice", path, m.Name))
		case strings.Contains(m.Name, "/") && providers[strings.SplitN(m.Name, "/", 2)[0]]:
			errs = append(errs, fmt.Errorf("%s.name: %q would hide the provider model of the same name", path, m.Name))
		}
		aliases[m.Name] = true
		if len(m.Targets) == 0 {
			errs = append(errs, fmt.Errorf("%s.targets: at least one target is required", path))
		}
		for j, t := range m.Targets {
			tp := fmt.Sprintf("%s.targets[%d]", path, j)
			prov, model, ok := strings.Cut(t.Model, "/")
			switch {
			case !ok || model == "":
				errs = append(errs, fmt.Errorf("%s.model: %q must be provider/model", tp, t.Model))
			case !providers[prov]:
				errs = append(errs, fmt.Errorf("%s.model: provider %q is not declared under providers", tp, prov))
			}
			if t.Weight < 0 {
				errs = append(errs, fmt.Errorf("%s.weight: must not be negative", tp))
			}
		}
		switch m.Strategy {
		case "", "adaptive", "weighted":
		default:
			errs = append(errs, fmt.Errorf("%s.strategy: %q is not adaptive or weighted", path, m.Strategy))
		}
	}
	for i, m := range c.Models {
		for j, f := range m.Fallbacks {
			prov, _, isDirect := strings.Cut(f, "/")
			if !aliases[f] && !(isDirect && providers[prov]) {
				errs = append(errs, fmt.Errorf("models[%d].fallbacks[%d]: %q is neither a model alias nor provider/model of a declared provider", i, j, f))
			}
		}
	}
	r := c.Routing
	if r.MaxAttempts < 0 || r.BreakerFailures < 0 || r.BackoffBase < 0 || r.BackoffMax < 0 || r.BreakerOpen < 0 || r.DrainTimeout < 0 || r.AuthCoolDown < 0 {
		errs = append(errs, fmt.Errorf("routing: values must not be negative"))
	}
	return errs
}
