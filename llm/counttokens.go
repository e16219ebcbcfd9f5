package llm

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
)

// countTokensLimit bounds an upstream's count_tokens answer.
const countTokensLimit = 1 << 20

// countTokens serves POST /v1/messages/count_tokens (Anthropic's format, a
// Messages body without max_tokens): the key's access to the model is
// checked as for /v1/messages, then the count comes from the first
// Anthropic-format target that answers, passed the body as it is, or, for a
// target of another format, from Junction's prompt estimate. Counting is
// free upstream, so nothing is charged to a budget; the call is counted in
// junction_llm_requests_total.
func (s *Service) countTokens(w http.ResponseWriter, r *http.Request) {
	f := anthropicFormat{}
	var head chatHead
	id, body, err := readRequest(r, &head)
	if err == nil {
		err = checkCountTokensBody(body)
	}
	if err != nil {
		f.writeError(w, r, err)
		return
	}
	p := modelCall{s: s, id: id, model: head.Model, fallbacks: head.Fallbacks, team: id.TeamName(), key: id.Name()}
	if err := p.resolve(); err != nil {
		f.writeError(w, r, err)
		return
	}
	defer p.release()
	ctx := chat.WithClientHeaders(r.Context(), r.Header)
	attempt := func(ctx context.Context, cand *router.Candidate) ([]byte, time.Duration, error) {
		fwd, ok := cand.Provider.(chat.Forwarder)
		if !ok || s.upstreamOf(cand).Format != chat.FormatAnthropic {
			return appendInputTokens(nil, estimateTokens(len(body))), 0, nil
		}
		sent, err := countTokensRequest(body, &head, cand.Target.Model)
		if err != nil {
			return nil, 0, requestError(badRequest("", "request body: "+err.Error()))
		}
		t0 := time.Now()
		actx, cancel := context.WithTimeout(ctx, s.upstreamOf(cand).Config.Timeouts.FirstByte)
		defer cancel()
		data, err := forwardWhole(actx, fwd, cand.Target, chat.FormatAnthropic, chat.EndpointCountTokens, sent, countTokensLimit)
		return data, time.Since(t0), err
	}
	result, err := do(ctx, s, p.rc, false, attempt)
	if err != nil {
		s.metrics.request(p.model, "", classify(err).Status)
		f.writeError(w, r, err)
		return
	}
	s.metrics.request(p.model, result.Candidate.Target.Provider, http.StatusOK)
	w.Header().Set("X-Junction-Target", result.Candidate.Target.Provider+"/"+result.Candidate.Target.Model)
	writeJSON(w, result.Value)
}

// checkCountTokensBody refuses a count_tokens body without messages.
func checkCountTokensBody(body []byte) error {
	var fields struct {
		Messages json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &fields); err != nil {
		return badRequest("", "body: invalid JSON")
	}
	if len(fields.Messages) == 0 || string(fields.Messages) == "null" {
		return badRequest("messages", "messages: Field required")
	}
	return nil
}

// countTokensRequest is the body sent upstream: the client's with the
// target's model, and without Junction's "fallbacks" when it has them.
func countTokensRequest(body []byte, head *chatHead, model string) ([]byte, error) {
	if head.Fallbacks == nil {
		return head.patchModel(body, model)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	delete(fields, "fallbacks")
	fields["model"], _ = json.Marshal(model) // a string always marshals
	return json.Marshal(fields)
}

// appendInputTokens appends count_tokens' answer for n tokens.
func appendInputTokens(dst []byte, n int64) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '}')
}
