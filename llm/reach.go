package llm

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/junctionhq/junction/llm/routes"
	"github.com/junctionhq/junction/policy"
)

// maxRequestFallbacks bounds the models a request may name in "fallbacks".
const maxRequestFallbacks = 16

// Model access. Every model a request can reach passes one rule, checked
// before any route is made and before any provider is called:
//
//   - The requested model and every model in the request's "fallbacks"
//     need "use" on "model:<name>" for the key, exactly alike: a fallback
//     the key may not use is a 403 naming it, not a silent skip.
//   - A bare name a provider's model_patterns route (routes.Table.Qualify)
//     is checked as the provider/model it stands for, and only as that: a
//     key limited to "anthropic/*" may use "claude-haiku-4-5" routed to
//     anthropic, and a key without it may not, whatever its patterns of
//     bare names.
//   - An alias the key may use grants what the administrator composed it
//     of: its targets and its configured fallbacks (and theirs). Policy
//     objects name aliases and provider/models separately, and a key
//     limited to an alias is the usual way to hand out a model without its
//     provider name, so the alias is the grant. To keep a key from a
//     provider model, deny the model and every alias that reaches it.
//
// The same check runs again before each model call of the agent loop, so a
// policy change stops a loop's fallbacks as it stops its model.

// reach is everything a request may end up on: the models it names (its
// model and its own fallbacks), their routes (held until release) and the
// targets they reach, which price its budget reservation (routes.Reach).
type reach struct {
	model     string
	fallbacks []string
	routes    routes.Reach
}

// reachFor checks the request's fallbacks and the key's access to every
// model named, then resolves their routes (held until release) and the
// targets they reach. Its errors are the client's: 400 (fallbacks), 403
// (access), 404 (unknown model), 503 (routes busy).
func (s *Service) reachFor(id *policy.Identity, model string, fallbacks []string) (*reach, error) {
	if err := checkFallbacks(fallbacks); err != nil {
		return nil, err
	}
	model, fallbacks = s.qualify(model, fallbacks)
	if err := s.checkAccess(id, model, fallbacks); err != nil {
		return nil, err
	}
	rc := &reach{model: model, fallbacks: fallbacks}
	if err := s.routes.Reach(&rc.routes, model, fallbacks); err != nil {
		return nil, err
	}
	return rc, nil
}

// qualify resolves the bare names of model and fallbacks a provider's
// model_patterns route to the provider/model they stand for. fallbacks is
// copied only when one of them changes.
func (s *Service) qualify(model string, fallbacks []string) (string, []string) {
	model = s.routes.Qualify(model)
	copied := false
	for i, f := range fallbacks {
		if q := s.routes.Qualify(f); q != f {
			if !copied {
				fallbacks, copied = slices.Clone(fallbacks), true
			}
			fallbacks[i] = q
		}
	}
	return model, fallbacks
}

// release lets the request's on-demand routes go.
func (rc *reach) release() { rc.routes.Release() }

// errRoutesBusy is the answer when every unlisted route is held by a
// request in flight and a request needs one more (routes.ErrBusy).
var errRoutesBusy = &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "routes_busy",
	Message: "too many different unlisted provider/model names are in use at this moment; try again shortly " +
		"(models listed in a provider's models are not limited this way)",
	Header: map[string]string{"Retry-After": "1"}}

// checkFallbacks refuses more than maxRequestFallbacks fallbacks, and empty
// names.
func checkFallbacks(fallbacks []string) error {
	if len(fallbacks) > maxRequestFallbacks {
		return badRequest("fallbacks", fmt.Sprintf("fallbacks: %d models; a request may name at most %d", len(fallbacks), maxRequestFallbacks))
	}
	for i, f := range fallbacks {
		if f == "" {
			return badRequest("fallbacks", fmt.Sprintf("fallbacks[%d]: must be a model name", i))
		}
	}
	return nil
}

// checkAccess applies the model access rule above to the names a request
// gives: its model and its fallbacks.
func (s *Service) checkAccess(id *policy.Identity, model string, fallbacks []string) error {
	if !s.policy.AllowedModel(id, model, policy.ActionUse) {
		return &policy.AccessError{Object: "model:" + model, Action: policy.ActionUse}
	}
	for i, f := range fallbacks {
		if !s.policy.AllowedModel(id, f, policy.ActionUse) {
			return &apiError{Status: http.StatusForbidden, Type: "permission_error", Code: "access_denied", Param: "fallbacks",
				Message: fmt.Sprintf("fallbacks[%d]: not allowed: this key may not use model:%s", i, f),
				Err:     &policy.AccessError{Object: "model:" + f, Action: policy.ActionUse}}
		}
	}
	return nil
}

// work is the admission of one model call that may reach rc's targets: the
// estimate is priced at the most expensive of them.
func (rc *reach) work(promptTokens, maxTokens int64, requestID string) policy.Work {
	return policy.Work{Kind: policy.KindLLM, Model: rc.model, PriceModel: rc.routes.Price, AltPriceModels: rc.routes.Alts,
		PromptTokens: promptTokens, MaxTokens: maxTokens, RequestID: requestID}
}
