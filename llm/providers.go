package llm

import (
	"context"

	"github.com/junctionhq/junction/llm/routes"
)

// The providers and the model aliases are the route table's (llm/routes);
// the Service hands their administration over to it.

// ErrInvalidProvider matches (with errors.Is) every *InvalidProviderError.
var ErrInvalidProvider = routes.ErrInvalidProvider

// InvalidProviderError lists every problem of a provider definition, each
// naming its field (routes.InvalidProviderError).
type InvalidProviderError = routes.InvalidProviderError

// Providers returns the providers in force, defaults applied. The result
// is shared: do not modify it.
func (s *Service) Providers() []ProviderConfig { return s.routes.Providers() }

// SetProviders replaces the whole provider set (the file's and the API's)
// and rebuilds the routes over it; see routes.Table.SetProviders. It
// changes nothing when a provider is invalid (an *InvalidProviderError) or
// two share a name.
func (s *Service) SetProviders(ctx context.Context, providers []ProviderConfig) error {
	return s.routes.SetProviders(ctx, providers)
}

// Reconfigure replaces the model aliases and the whole provider set at
// once (a configuration reload); see routes.Table.Reconfigure. It changes
// nothing when they fail the configuration file's rules: the error is an
// *InvalidProviderError listing every problem.
func (s *Service) Reconfigure(ctx context.Context, providers []ProviderConfig, models []ModelConfig) error {
	return s.routes.Reconfigure(ctx, providers, models)
}

// ValidateProvider checks one provider definition with the configuration
// file's rules (field paths without the providers[N] prefix), and that its
// name does not hide a model alias. It returns nil or an
// *InvalidProviderError.
func (s *Service) ValidateProvider(pc ProviderConfig) error { return s.routes.ValidateProvider(pc) }

// WithDefaults returns pc with the configuration's defaults filled in
// (type, key names, weights and models, timeouts), as SetProviders holds it.
func (s *Service) WithDefaults(pc ProviderConfig) ProviderConfig { return s.routes.WithDefaults(pc) }
