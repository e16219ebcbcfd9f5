package agent

import (
	"context"
	"net/http"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// The loop reaches models only through a ModelCaller, which the LLM service
// implements over its one pipeline: every model call of a loop is resolved,
// admitted, routed, settled, recorded and counted there like any other; the
// loop sees answers and what they cost.

// ModelCaller makes the model calls of one loop. A call refused before its
// admission (access, rate limit, budget) fails with a *RefusedError; any
// other failure was admitted and settled.
type ModelCaller interface {
	// Complete makes one whole-answer call for req.
	Complete(ctx context.Context, req *chat.Request) (*chat.Response, Spent, error)
	// Stream makes one streamed call for req and hands the open stream to
	// relay, which reads it to its end or its first error and reports
	// whether the client went away meanwhile. The call is settled once
	// relay returns; an error means relay was never called.
	Stream(ctx context.Context, req *chat.Request, relay func(ModelStream) (clientGone bool)) (Spent, error)
	// SetHeaders sets the model side's response headers once a call was
	// answered: the rate limits of the first answered call's admission.
	SetHeaders(h http.Header)
}

// ModelStream is one streamed model call, open.
type ModelStream interface {
	// Recv returns the next chunk, starting with the first, which is
	// already there; io.EOF at the stream's end. Any other error is how the
	// stream broke, ready to be reported to the client.
	Recv() (*chat.Chunk, error)
}

// Spent is what one answered model call adds to the loop's sums.
type Spent struct {
	Usage   chat.Usage
	CostUSD float64
	// Target is the provider/model that answered.
	Target string
	// Upstream is the time spent waiting for the model.
	Upstream time.Duration
	// Status is the call's usage record status: "ok", "error" (a stream
	// broken by its upstream) or "cancelled".
	Status string
}

// RefusedError is the failure of a model call that was not admitted; the
// loop ends on it after its first call instead of failing the request.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }
