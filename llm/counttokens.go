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
// Messages body without max_tokens) through the one pipeline: the key's
// access to the model is checked as for /v1/messages and the call admitted
// (rate limits apply; it reserves no tokens, counting is free upstream, so
// it costs nothing), then the count comes from the first Anthropic-format
// target that answers, passed the body as it is, or, for a target of
// another format, from Junction's prompt estimate.
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
	p := modelCall{s: s, id: id, model: head.Model, fallbacks: head.Fallbacks, team: id.TeamName(), key: id.Name(), maxTokens: -1}
	defer p.release()
	ctx := chat.WithClientHeaders(r.Context(), r.Header)
	if err := runModelCall[[]byte](ctx, &p, &countTokensCall{s: s, w: w, body: body, head: &head}); err != nil {
		f.writeError(w, r, err)
	}
}

// countTokensCall is a count_tokens request in the pipeline.
type countTokensCall struct {
	noCache
	s    *Service
	w    http.ResponseWriter
	body []byte
	head *chatHead
}

// attempt asks an Anthropic-format target, or estimates for another.
func (c *countTokensCall) attempt(ctx context.Context, cand *router.Candidate) ([]byte, time.Duration, error) {
	up := c.s.upstreamOf(cand)
	fwd, ok := cand.Provider.(chat.Forwarder)
	if !ok || up.Format != chat.FormatAnthropic {
		return appendInputTokens(nil, estimateTokens(len(c.body))), 0, nil
	}
	sent, err := countTokensRequest(c.body, c.head, cand.Target.Model)
	if err != nil {
		return nil, 0, requestError(badRequest("", "request body: "+err.Error()))
	}
	t0 := time.Now()
	actx, cancel := context.WithTimeout(ctx, up.Config.Timeouts.FirstByte)
	defer cancel()
	data, err := forwardWhole(actx, fwd, cand.Target, chat.FormatAnthropic, chat.EndpointCountTokens, sent, countTokensLimit)
	return data, time.Since(t0), err
}

// deliver writes the count.
func (c *countTokensCall) deliver(_ context.Context, _ *modelCall, r router.Result[[]byte]) delivery {
	c.w.Header().Set("X-Junction-Target", r.Candidate.Target.Provider+"/"+r.Candidate.Target.Model)
	writeJSON(c.w, r.Value)
	return delivery{status: "ok"}
}

func (c *countTokensCall) record(context.Context, *modelCall, router.Served, delivery, float64) {}

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
