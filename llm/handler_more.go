package llm

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/openai"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/telemetry"
)

// embeddings serves POST /v1/embeddings: pass-through to OpenAI-compatible
// targets, through the canonical types to the others.
func (s *Service) embeddings(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	id := policy.IdentityFrom(ctx)
	if id == nil {
		WriteOpenAIError(w, r, &policy.AuthError{Reason: policy.AuthMissing})
		return
	}
	if err := checkContentType(r); err != nil {
		WriteOpenAIError(w, r, err)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		WriteOpenAIError(w, r, err)
		return
	}
	var head chatHead
	if err := decodeHead(body, &head); err != nil {
		WriteOpenAIError(w, r, err)
		return
	}
	rc, err := s.reachFor(id, head.Model, head.Fallbacks)
	if err != nil {
		WriteOpenAIError(w, r, err)
		return
	}
	defer rc.release()
	var req *chat.EmbeddingRequest
	res, err := s.policy.Admit(ctx, id, rc.work(estimateTokens(len(body)), -1, telemetry.RequestID(ctx)))
	if err != nil {
		WriteOpenAIError(w, r, err)
		return
	}
	result, err := do(ctx, s, rc, false, func(ctx context.Context, c *router.Candidate) (embeddingAnswer, time.Duration, error) {
		up := s.upstreamOf(c)
		actx, cancel := context.WithTimeout(ctx, up.cfg.Timeouts.FirstByte)
		defer cancel()
		t0 := time.Now()
		if fwd, ok := c.Provider.(chat.Forwarder); ok && up.format == chat.FormatOpenAI && head.Fallbacks == nil {
			patched, err := head.patchModel(body, c.Target.Model)
			if err != nil {
				return embeddingAnswer{}, 0, requestError(badRequest("", "request body: "+err.Error()))
			}
			resp, err := fwd.Forward(actx, c.Target, chat.FormatOpenAI, chat.EndpointEmbeddings, patched, false)
			if err != nil {
				return embeddingAnswer{}, time.Since(t0), err
			}
			data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
			_ = resp.Body.Close()
			if err != nil {
				return embeddingAnswer{}, time.Since(t0), &chat.UpstreamError{Provider: c.Target.Provider, Message: "reading the response", Err: err}
			}
			return embeddingAnswer{data, openAIFormat{}.responseUsage(data)}, time.Since(t0), nil
		}
		emb, ok := c.Provider.(chat.Embedder)
		if !ok {
			return embeddingAnswer{}, 0, &chat.UpstreamError{Provider: c.Target.Provider, Status: http.StatusBadRequest, Message: "this provider does not serve embeddings"}
		}
		if req == nil {
			var err error
			if req, err = openai.DecodeEmbeddingRequest(body); err != nil {
				return embeddingAnswer{}, 0, requestError(err)
			}
		}
		resp, err := emb.Embed(actx, c.Target, req)
		if err != nil {
			return embeddingAnswer{}, time.Since(t0), err
		}
		return embeddingAnswer{openai.AppendEmbeddingResponse(nil, resp, head.Model, req.EncodingFormat), resp.Usage}, time.Since(t0), nil
	})
	if err != nil {
		res.Settle(ctx, policy.Outcome{Status: "error"})
		s.metrics.request(head.Model, "", classify(err).Status)
		WriteOpenAIError(w, r, err)
		return
	}
	cand, out, usage := result.Candidate, result.Value.body, result.Value.usage
	s.metrics.request(head.Model, cand.Target.Provider, http.StatusOK)
	s.metrics.upstream.WithLabelValues(cand.Target.Provider).Observe(result.UpstreamTime.Seconds())
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Junction-Target", cand.Target.Provider+"/"+cand.Target.Model)
	h.Set("X-Junction-Attempts", strconv.Itoa(result.Attempts))
	h.Set("X-Junction-Overhead-Ms", strconv.FormatFloat(float64((time.Since(start)-result.UpstreamTime).Microseconds())/1000, 'f', 3, 64))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	res.Settle(ctx, policy.Outcome{Model: cand.Target.Provider + "/" + cand.Target.Model, Usage: policyUsage(usage)})
}

// embeddingAnswer is what a successful embeddings attempt produced: the
// body for the client and the usage it reports.
type embeddingAnswer struct {
	body  []byte
	usage chat.Usage
}

// listModels serves GET /v1/models: the models the caller may use.
func (s *Service) listModels(w http.ResponseWriter, r *http.Request) {
	id := policy.IdentityFrom(r.Context())
	if id == nil {
		WriteOpenAIError(w, r, &policy.AuthError{Reason: policy.AuthMissing})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openai.AppendModels(nil, s.Models(id), s.now().Unix()))
}
