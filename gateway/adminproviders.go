package gateway

import (
	"context"

	"github.com/go-chi/chi/v5"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/providerstore"
)

// The admin API for LLM providers: the HTTP handlers. Providers from the
// configuration file are read-only here; providers made through the API
// live in the store, sealed, and reach every replica (llm/providerstore).

func providerError(err error) error {
	if e, ok := apierror.Resource[*llm.InvalidProviderError](err, providerstore.ErrNotFound, providerstore.ErrReadOnly,
		providerstore.ErrExists); ok {
		return e
	}
	return err
}

// mountProviders mounts the admin API of the LLM providers.
func (g *Gateway) mountProviders(r chi.Router) {
	mountResource(r, "/providers", "name", adminResource[providerstore.Spec, providerstore.Info]{
		list: g.providers.List,
		create: func(ctx context.Context, sp providerstore.Spec) (providerstore.Info, error) {
			return g.providers.Create(ctx, sp.Config())
		},
		get: g.providers.Get, update: g.providers.Update, remove: g.providers.Delete, apiError: providerError,
	})
}
