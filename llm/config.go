package llm

import "github.com/junctionhq/junction/llm/routes"

// The LLM part of the configuration file is the route table's: its types
// are declared, documented and validated in llm/routes, which turns them
// into routes, and keep their names here for the gateway and the
// configuration file.
type (
	// Config is the LLM part of the configuration file (routes.Config).
	Config = routes.Config
	// ProviderConfig is one upstream (routes.ProviderConfig).
	ProviderConfig = routes.ProviderConfig
	// ProviderKeyConfig is one upstream API key (routes.ProviderKeyConfig).
	ProviderKeyConfig = routes.ProviderKeyConfig
	// ModelConfig is a model alias (routes.ModelConfig).
	ModelConfig = routes.ModelConfig
	// TargetConfig is one target of an alias (routes.TargetConfig).
	TargetConfig = routes.TargetConfig
	// TimeoutsConfig bounds upstream calls (routes.TimeoutsConfig).
	TimeoutsConfig = routes.TimeoutsConfig
	// RoutingConfig holds routing defaults (routes.RoutingConfig).
	RoutingConfig = routes.RoutingConfig
)

// Provider types.
const (
	TypeOpenAI    = routes.TypeOpenAI
	TypeAzure     = routes.TypeAzure
	TypeAnthropic = routes.TypeAnthropic
	TypeGemini    = routes.TypeGemini
)
