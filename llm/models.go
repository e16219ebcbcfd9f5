package llm

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/junctionhq/junction/llm/provider/anthropic"
	"github.com/junctionhq/junction/llm/provider/openai"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
)

// The model endpoints answer in OpenAI's shape, or in Anthropic's when the
// request carries anthropic-version (as @anthropic-ai/sdk and Claude Code
// send): Anthropic's list is paged by limit, after_id and before_id.

// Anthropic's page size bounds for GET /v1/models.
const (
	defaultModelPage = 20
	maxModelPage     = 1000
)

// anthropicClient reports whether r asks for Anthropic's shapes.
func anthropicClient(r *http.Request) bool { return r.Header.Get("anthropic-version") != "" }

// writeModelError writes err in the shape the client asked for.
func writeModelError(w http.ResponseWriter, r *http.Request, err error) {
	if anthropicClient(r) {
		WriteAnthropicError(w, r, err)
		return
	}
	WriteOpenAIError(w, r, err)
}

// callerModels returns the models the authenticated caller may use.
func (s *Service) callerModels(r *http.Request) ([]string, error) {
	id := policy.IdentityFrom(r.Context())
	if id == nil {
		return nil, &policy.AuthError{Reason: policy.AuthMissing}
	}
	return s.Models(id), nil
}

// listModels serves GET /v1/models: the models the caller may use.
func (s *Service) listModels(w http.ResponseWriter, r *http.Request) {
	ids, err := s.callerModels(r)
	if err != nil {
		writeModelError(w, r, err)
		return
	}
	now := s.now()
	var body []byte
	if anthropicClient(r) {
		page, hasMore, err := modelPage(ids, r.URL.Query())
		if err != nil {
			WriteAnthropicError(w, r, err)
			return
		}
		body = anthropic.AppendModels(nil, page, now, hasMore)
	} else {
		body = openai.AppendModels(nil, ids, now.Unix())
	}
	writeJSON(w, body)
}

// retrieveModel serves GET /v1/models/{id}.
func (s *Service) retrieveModel(w http.ResponseWriter, r *http.Request, model string) {
	ids, err := s.callerModels(r)
	if err != nil {
		writeModelError(w, r, err)
		return
	}
	if unescaped, err := url.PathUnescape(model); err == nil {
		model = unescaped
	}
	owner := ""
	if _, found := slices.BinarySearch(ids, model); !found {
		// A bare name a provider's model_patterns route is found as the
		// provider/model it stands for, when the key may use that.
		provider, ok := s.patternProvider(policy.IdentityFrom(r.Context()), model)
		if !ok {
			writeModelError(w, r, &router.UnknownModelError{Model: model})
			return
		}
		owner = provider
	}
	now := s.now()
	switch {
	case anthropicClient(r):
		writeJSON(w, anthropic.AppendModel(nil, model, now))
	case owner != "":
		writeJSON(w, openai.AppendModelOwnedBy(nil, model, owner, now.Unix()))
	default:
		writeJSON(w, openai.AppendModel(nil, model, now.Unix()))
	}
}

// patternProvider returns the provider whose model_patterns route the bare
// name model (routes.Table.Qualify, as for requests), when id may use the
// provider/model it stands for.
func (s *Service) patternProvider(id *policy.Identity, model string) (string, bool) {
	qualified := s.routes.Qualify(model)
	if qualified == model || !s.policy.AllowedModel(id, qualified, policy.ActionUse) {
		return "", false
	}
	provider, _, _ := strings.Cut(qualified, "/")
	return provider, true
}

// modelPage returns the page of ids (sorted) that Anthropic's paging
// parameters select, and whether more lie beyond it in the paging
// direction: after_id pages forward from the model after it, before_id
// backward from the one before it, neither from the start.
func modelPage(ids []string, q url.Values) ([]string, bool, error) {
	limit := defaultModelPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxModelPage {
			return nil, false, badRequest("limit", fmt.Sprintf("limit: %q is not an integer from 1 to %d", v, maxModelPage))
		}
		limit = n
	}
	after, before := q.Get("after_id"), q.Get("before_id")
	if after != "" && before != "" {
		return nil, false, badRequest("after_id", "after_id and before_id cannot both be set")
	}
	cursor := func(param, id string) (int, error) {
		i, found := slices.BinarySearch(ids, id)
		if !found {
			return 0, badRequest(param, fmt.Sprintf("%s: model %q is not in the list", param, id))
		}
		return i, nil
	}
	switch {
	case after != "":
		i, err := cursor("after_id", after)
		if err != nil {
			return nil, false, err
		}
		rest := ids[i+1:]
		n := min(limit, len(rest))
		return rest[:n], n < len(rest), nil
	case before != "":
		i, err := cursor("before_id", before)
		if err != nil {
			return nil, false, err
		}
		start := max(0, i-limit)
		return ids[start:i], start > 0, nil
	}
	n := min(limit, len(ids))
	return ids[:n], n < len(ids), nil
}

// writeJSON writes a 200 with a JSON body.
func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
