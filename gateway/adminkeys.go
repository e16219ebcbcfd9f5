package gateway

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/junctionhq/junction/policy"
)

// The admin API for teams and virtual keys. Lists are {"data": [...]}.

// mountTeams mounts the admin API of the teams.
func (g *Gateway) mountTeams(r chi.Router) {
	mountResource(r, "/teams", "name", adminResource[policy.TeamInput, policy.Team]{
		list: g.policy.Teams, create: g.policy.CreateTeam, get: g.policy.Team,
		update: g.policy.UpdateTeam, remove: g.policy.DeleteTeam, apiError: policyError,
	})
}

// mountKeys mounts the admin API of the virtual keys. Listing (by team)
// and creating (which shows the secret once) are their own.
func (g *Gateway) mountKeys(r chi.Router) {
	r.Get("/keys", handlerFunc(g.listKeys).ServeHTTP)
	r.Post("/keys", handlerFunc(g.createKey).ServeHTTP)
	mountResource(r, "/keys", "id", adminResource[policy.KeyInput, policy.Key]{
		get: g.policy.Key, update: g.policy.UpdateKey, remove: g.policy.DeleteKey, apiError: policyError,
	})
	r.Get("/keys/{id}/state", handlerFunc(g.keyState).ServeHTTP)
}

func (g *Gateway) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys := g.policy.Keys()
	if team := r.URL.Query().Get("team"); team != "" {
		kept := keys[:0]
		for _, k := range keys {
			if k.Team == team {
				kept = append(kept, k)
			}
		}
		keys = kept
	}
	writeJSON(w, http.StatusOK, listBody[policy.Key]{Data: keys})
	return nil
}

// createdKey is a new key with its secret, shown only in this response.
type createdKey struct {
	policy.Key
	Secret string `json:"key"`
}

func (g *Gateway) createKey(w http.ResponseWriter, r *http.Request) error {
	var in policy.KeyInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	k, secret, err := g.policy.CreateKey(r.Context(), in)
	if err != nil {
		return policyError(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, createdKey{Key: k, Secret: secret})
	return nil
}

func (g *Gateway) keyState(w http.ResponseWriter, r *http.Request) error {
	st, err := g.policy.State(r.Context(), pathParam(r, "id"))
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// callerKey shows the calling key its own live budget and rate-limit state,
// so a client can see what it has left without the admin key.
func (g *Gateway) callerKey(w http.ResponseWriter, r *http.Request) error {
	id := policy.IdentityFrom(r.Context())
	if id.Admin {
		writeJSON(w, http.StatusOK, map[string]any{"admin": true})
		return nil
	}
	st, err := g.policy.State(r.Context(), id.Key.ID)
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
