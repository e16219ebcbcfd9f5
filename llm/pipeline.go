package llm

import (
	"context"
	"errors"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/telemetry"
)

// The one pipeline of a model call. /v1/chat/completions, /v1/messages,
// /v1/embeddings and every model call of the agent loop run the same chain,
// in this order (runModelCall):
//
//	1. resolve          every model the request may reach: access and routes (reach.go)
//	2. admit            rate limits and the budget reservation, priced at the dearest target
//	3. cache            a hit is the answer (the chat front ends only)
//	4. route and call   the router's attempts over the reach
//	5. deliver          the answer to its taker: written, relayed, or the loop's
//	6. settle           the reservation with the usage: the usage record
//	7. record           what the front end keeps of it (cache store, the loop's sums)
//	8. metrics          junction_llm_requests_total and the rest
//
// A call that stops before its answer is settled when it was admitted, as
// "cancelled" when its client went away and "error" otherwise, and counted
// in junction_llm_requests_total with the status its client gets (499 for
// a cancelled one), whichever front end it came through.

// modelCall is one model call's way through the pipeline: what every front
// end gives it, and what the steps found.
type modelCall struct {
	s  *Service
	id *policy.Identity
	// model is the model the client named: the route label of the metrics.
	model     string
	fallbacks []string
	// team and key label the metrics.
	team, key string
	// stream asks the router to leave the answering attempt open for a
	// relay (router.DoStream).
	stream bool
	// promptTokens and maxTokens price the admission (-1: no output).
	promptTokens, maxTokens int64
	// recheck: the reach was resolved for an earlier call of the same
	// request (the agent loop), and the access to it is checked again.
	recheck bool

	rc  *reach              // 1. resolve
	res *policy.Reservation // 2. admit; nil until admitted
}

// frontEnd is what differs between the pipeline's users, T being what one
// successful attempt returns.
type frontEnd[T any] interface {
	// attempt is one try on one candidate (step 4).
	attempt(ctx context.Context, c *router.Candidate) (T, time.Duration, error)
	// fromCache answers the call from the response cache when it can,
	// having settled and counted it (step 3).
	fromCache(ctx context.Context, p *modelCall) bool
	// deliver hands the answer on (step 5) and says what it used and how
	// it ended.
	deliver(ctx context.Context, p *modelCall, r router.Result[T]) delivery
	// record keeps what the front end needs of the settled call (step 7).
	record(ctx context.Context, p *modelCall, r router.Served, d delivery, cost float64)
}

// delivery is how an answered call ended.
type delivery struct {
	usage chat.Usage
	// status is the usage record's: "ok"; "error" for a stream its upstream
	// broke after the 200; "cancelled" when its client went away.
	status string
	// ttft is the time to a stream's first event; 0 for whole answers.
	ttft time.Duration
}

// noCache is the cache step of the front ends that never use the cache.
type noCache struct{}

func (noCache) fromCache(context.Context, *modelCall) bool { return false }

// runModelCall runs p through the pipeline with f. It returns nil once the
// answer was delivered (or served from the cache), else why not; p.res
// then tells whether the call was admitted. Every failure is settled and
// counted here: the caller only reports it in its protocol.
func runModelCall[T any](ctx context.Context, p *modelCall, f frontEnd[T]) error {
	// 1. resolve, and 2. admit.
	if err := p.resolve(); err != nil {
		return err
	}
	if err := p.admit(ctx); err != nil {
		return err
	}
	// 3. cache.
	if f.fromCache(ctx, p) {
		return nil
	}
	// 4. route and call.
	result, err := do(ctx, p.s, p.rc, p.stream, f.attempt)
	if err != nil { // settled, and counted as what its client gets
		p.res.Settle(ctx, policy.Outcome{Status: failureStatus(err)})
		p.s.metrics.request(p.model, "", classify(err).Status)
		return err
	}
	// 5. deliver.
	d := f.deliver(ctx, p, result)
	// 6. settle.
	cand := result.Candidate
	cost := p.res.Settle(ctx, policy.Outcome{Model: cand.Target.Provider + "/" + cand.Target.Model,
		Usage: policyUsage(d.usage), Status: d.status})
	// 7. record.
	f.record(ctx, p, result.Served, d, cost)
	// 8. metrics.
	p.s.metrics.completed(p, result.Served, d, cost)
	return nil
}

// resolve is step 1: the request's reach (the models it names, checked for
// access, and the routes they reach, held until the request ends), or, for
// a later call of the same request, its access again.
func (p *modelCall) resolve() error {
	var err error
	switch {
	case p.rc == nil:
		p.rc, err = p.s.reachFor(p.id, p.model, p.fallbacks)
	case p.recheck:
		err = p.s.checkAccess(p.id, p.rc.model, p.rc.fallbacks)
	}
	if err != nil {
		p.refused(err)
	}
	return err
}

// admit is step 2: the reservation, priced at the dearest target the call
// may reach.
func (p *modelCall) admit(ctx context.Context) error {
	p.res = nil
	res, err := p.s.policy.Admit(ctx, p.id, p.rc.work(p.promptTokens, p.maxTokens, telemetry.RequestID(ctx)))
	if err != nil {
		p.refused(err)
		return err
	}
	p.res = res
	return nil
}

// release lets the request's on-demand routes go, once it is done.
func (p *modelCall) release() {
	if p.rc != nil {
		p.rc.release()
	}
}

// refused counts a call turned away before it was admitted.
func (p *modelCall) refused(err error) {
	p.s.metrics.request(p.model, "", classify(err).Status)
}

// failureStatus is the usage status of a call that got no answer:
// "cancelled" when its client went away, else "error".
func failureStatus(err error) string {
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	return "error"
}

// do runs attempt through s's router over rc's routes and returns what the
// answering attempt produced. A failed attempt's upstream error loses any
// trace of the API key it was made with before anything (the client, the
// log) sees it.
func do[T any](ctx context.Context, s *Service, rc *reach, stream bool, attempt router.Attempt[T]) (router.Result[T], error) {
	scrubbed := func(ctx context.Context, c *router.Candidate) (T, time.Duration, error) {
		v, ttfb, err := attempt(ctx, c)
		if err != nil {
			scrubKey(err, c.Target.APIKey)
		}
		return v, ttfb, err
	}
	if stream {
		return router.DoStream(ctx, s.router, rc.model, rc.fallbacks, scrubbed) // the relay reports how the stream ended
	}
	return router.Do(ctx, s.router, rc.model, rc.fallbacks, scrubbed)
}

// estimateTokens guesses the prompt tokens of a body of n bytes, for the
// admission estimate only (the real count settles it).
func estimateTokens(n int) int64 { return int64(n/4 + 1) }

func policyUsage(u chat.Usage) policy.TokenUsage {
	return policy.TokenUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens}
}
