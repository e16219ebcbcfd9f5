package llm

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/openai"
	"github.com/junctionhq/junction/llm/router"
)

// embeddings serves POST /v1/embeddings through the pipeline
// (pipeline.go): pass-through to OpenAI-compatible targets, through the
// canonical types to the others.
func (s *Service) embeddings(w http.ResponseWriter, r *http.Request) {
	e := &embeddingCall{s: s, w: w, start: time.Now()}
	id, body, err := readRequest(r, &e.head)
	if err != nil {
		WriteOpenAIError(w, r, err)
		return
	}
	e.body = body
	e.call = modelCall{s: s, id: id, model: e.head.Model, fallbacks: e.head.Fallbacks, team: id.TeamName(), key: id.Name(),
		promptTokens: estimateTokens(len(body)), maxTokens: -1}
	defer e.call.release()
	if err := runModelCall[embeddingAnswer](r.Context(), &e.call, e); err != nil {
		WriteOpenAIError(w, r, err)
	}
}

// embeddingCall is one /v1/embeddings request on its way through the
// pipeline.
type embeddingCall struct {
	noCache
	s     *Service
	w     http.ResponseWriter
	body  []byte
	head  chatHead
	start time.Time
	call  modelCall
	req   *chat.EmbeddingRequest // decoded on first need
}

// embeddingAnswer is what a successful embeddings attempt produced: the
// body for the client and the usage it reports.
type embeddingAnswer struct {
	body  []byte
	usage chat.Usage
}

// attempt is one try on one candidate: pass-through when it speaks
// OpenAI's format, otherwise through the canonical types.
func (e *embeddingCall) attempt(ctx context.Context, c *router.Candidate) (embeddingAnswer, time.Duration, error) {
	up := e.s.upstreamOf(c)
	actx, cancel := context.WithTimeout(ctx, up.Config.Timeouts.FirstByte)
	defer cancel()
	t0 := time.Now()
	if fwd, ok := c.Provider.(chat.Forwarder); ok && up.Format == chat.FormatOpenAI && e.head.Fallbacks == nil {
		patched, err := e.head.patchModel(e.body, c.Target.Model)
		if err != nil {
			return embeddingAnswer{}, 0, requestError(badRequest("", "request body: "+err.Error()))
		}
		data, err := forwardWhole(actx, fwd, c.Target, chat.FormatOpenAI, chat.EndpointEmbeddings, patched, 256<<20)
		if err != nil {
			return embeddingAnswer{}, time.Since(t0), err
		}
		return embeddingAnswer{data, openAIFormat{}.responseUsage(data)}, time.Since(t0), nil
	}
	emb, ok := c.Provider.(chat.Embedder)
	if !ok {
		return embeddingAnswer{}, 0, &chat.UpstreamError{Provider: c.Target.Provider, Status: http.StatusBadRequest, Message: "this provider does not serve embeddings"}
	}
	if e.req == nil {
		var err error
		if e.req, err = openai.DecodeEmbeddingRequest(e.body); err != nil {
			return embeddingAnswer{}, 0, requestError(err)
		}
	}
	resp, err := emb.Embed(actx, c.Target, e.req)
	if err != nil {
		return embeddingAnswer{}, time.Since(t0), err
	}
	return embeddingAnswer{openai.AppendEmbeddingResponse(nil, resp, e.head.Model, e.req.EncodingFormat), resp.Usage}, time.Since(t0), nil
}

// deliver writes the answer with Junction's response headers.
func (e *embeddingCall) deliver(_ context.Context, _ *modelCall, result router.Result[embeddingAnswer]) delivery {
	cand := result.Candidate
	h := e.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Junction-Target", cand.Target.Provider+"/"+cand.Target.Model)
	h.Set("X-Junction-Attempts", strconv.Itoa(result.Attempts))
	h.Set("X-Junction-Overhead-Ms", strconv.FormatFloat(float64((time.Since(e.start)-result.UpstreamTime).Microseconds())/1000, 'f', 3, 64))
	e.w.WriteHeader(http.StatusOK)
	_, _ = e.w.Write(result.Value.body)
	return delivery{usage: result.Value.usage, status: "ok"}
}

// record keeps nothing: embeddings are not cached.
func (e *embeddingCall) record(context.Context, *modelCall, router.Served, delivery, float64) {}
