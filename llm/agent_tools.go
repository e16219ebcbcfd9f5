package llm

import (
	"context"
	"time"

	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
)

// runTools runs the calls of one turn through the request's toolbox and
// records them, and the time spent, in the loop's sums.
func (a *agentRun) runTools(ctx context.Context, calls []chat.ToolCall, approved bool) []agent.Outcome {
	start := time.Now()
	defer func() { a.upstream += time.Since(start) }()
	outs := a.box.Run(ctx, calls, approved, a.iterations)
	for i := range outs {
		a.calls = append(a.calls, outs[i].Record)
	}
	return outs
}
