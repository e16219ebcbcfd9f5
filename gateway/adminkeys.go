package gateway

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/junctionhq/junction/policy"
)

// The admin API for teams and virtual keys. Lists are {"data": [...]}.

func (g *Gateway) listTeams(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, listBody[policy.Team]{Data: g.policy.Teams()})
	return nil
}

func (g *Gateway) createTeam(w http.ResponseWriter, r *http.Request) error {
	var in policy.TeamInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	t, err := g.policy.CreateTeam(r.Context(), in)
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (g *Gateway) getTeam(w http.ResponseWriter, r *http.Request) error {
	t, err := g.policy.Team(pathParam(r, "name"))
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (g *Gateway) patchTeam(w http.ResponseWriter, r *http.Request) error {
	patch, err := readPatch(r)
	if err != nil {
		return err
	}
	t, err := g.policy.UpdateTeam(r.Context(), pathParam(r, "name"), patch)
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (g *Gateway) deleteTeam(w http.ResponseWriter, r *http.Request) error {
	if err := g.policy.DeleteTeam(r.Context(), pathParam(r, "name")); err != nil {
		return policyError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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

func (g *Gateway) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := g.policy.Key(pathParam(r, "id"))
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (g *Gateway) patchKey(w http.ResponseWriter, r *http.Request) error {
	patch, err := readPatch(r)
	if err != nil {
		return err
	}
	k, err := g.policy.UpdateKey(r.Context(), pathParam(r, "id"), patch)
	if err != nil {
		return policyError(err)
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (g *Gateway) deleteKey(w http.ResponseWriter, r *http.Request) error {
	if err := g.policy.DeleteKey(r.Context(), pathParam(r, "id")); err != nil {
		return policyError(err)
	}
	w.WriteHeader(http.StatusNoContent)
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

type listBody[T any] struct {
	Data []T `json:"data"`
}

// readPatch reads a JSON merge patch body: it must be a JSON object.
func readPatch(r *http.Request) (json.RawMessage, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, decodeErr(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, errBadRequest("invalid_json", "request body must be a JSON object (a merge patch): "+err.Error())
	}
	return b, nil
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
