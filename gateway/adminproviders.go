package gateway

import (
	"net/http"

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

func (g *Gateway) listProviders(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, listBody[providerstore.Info]{Data: g.providers.List()})
	return nil
}

func (g *Gateway) createProvider(w http.ResponseWriter, r *http.Request) error {
	var sp providerstore.Spec
	if err := decodeJSON(r, &sp); err != nil {
		return err
	}
	info, err := g.providers.Create(r.Context(), sp.Config())
	if err != nil {
		return providerError(err)
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (g *Gateway) getProvider(w http.ResponseWriter, r *http.Request) error {
	info, err := g.providers.Get(pathParam(r, "name"))
	if err != nil {
		return providerError(err)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (g *Gateway) patchProvider(w http.ResponseWriter, r *http.Request) error {
	patch, err := readPatch(r)
	if err != nil {
		return err
	}
	info, err := g.providers.Update(r.Context(), pathParam(r, "name"), patch)
	if err != nil {
		return providerError(err)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (g *Gateway) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	if err := g.providers.Delete(r.Context(), pathParam(r, "name")); err != nil {
		return providerError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
