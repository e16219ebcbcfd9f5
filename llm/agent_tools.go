package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
)

// The agent loop's tool calls: what each call of the model is, running
// them (concurrently, through the hub), and what the model is told.

// callKind is what the loop does with one tool call of the model.
type callKind int

const (
	callMCP      callKind = iota // run it through the hub
	callSearch                   // answer it with the picker
	callClient                   // a function tool of the client's: the loop ends
	callApproval                 // an MCP tool that needs approval: the loop ends
	callUnknown                  // a tool the request did not name: an error result
	callOutside                  // a tool the key may not call, or none at all: the hub refuses it
)

func (a *agentRun) kindOf(call *chat.ToolCall) callKind {
	if a.withSearch && call.Name == a.searchName {
		return callSearch
	}
	if t := a.byName[call.Name]; t != nil {
		if t.Approval {
			return callApproval
		}
		return callMCP
	}
	if a.clientTools[call.Name] {
		return callClient
	}
	if a.callable[call.Name] {
		return callUnknown
	}
	return callOutside
}

// clientStop says whether calls must go back to the client, and why.
func (a *agentRun) clientStop(calls []chat.ToolCall) string {
	stop := ""
	for i := range calls {
		switch a.kindOf(&calls[i]) {
		case callClient:
			return agent.StopClientTools
		case callApproval:
			stop = agent.StopApproval
		}
	}
	return stop
}

// toolOutcome is the result of one tool call, as fed back to the model.
type toolOutcome struct {
	record agent.ToolRecord
	text   string
}

// runTools runs the calls of one turn concurrently, each with its own
// timeout, and returns the outcomes in call order. Calls that must not run
// here (approval, client) are not passed in. Tools found by search and
// called are offered from the next model call on.
func (a *agentRun) runTools(ctx context.Context, calls []chat.ToolCall, approved bool) []toolOutcome {
	out := make([]toolOutcome, len(calls))
	start := time.Now()
	defer func() { a.upstream += time.Since(start) }()
	var wg sync.WaitGroup
	for i := range calls {
		kind := a.kindOf(&calls[i])
		if approved && kind == callApproval {
			kind = callMCP
		}
		wg.Add(1)
		go func(i int, kind callKind) {
			defer wg.Done()
			out[i] = a.runTool(ctx, &calls[i], kind)
		}(i, kind)
	}
	wg.Wait()
	for i := range calls {
		if a.byName[calls[i].Name] != nil {
			a.offered[calls[i].Name] = true
		}
		a.calls = append(a.calls, out[i].record)
	}
	return out
}

// runTool runs one call. It may run on its own goroutine: it reads the
// run's fields but writes none.
func (a *agentRun) runTool(ctx context.Context, call *chat.ToolCall, kind callKind) toolOutcome {
	start := time.Now()
	o := toolOutcome{record: agent.ToolRecord{Iteration: a.iterations, ID: call.ID, Name: call.Name, Status: "ok"}}
	fail := func(status, text string) {
		o.record.Status, o.record.IsError, o.text = status, true, text
	}
	args := json.RawMessage(strings.TrimSpace(call.Arguments))
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	switch {
	case kind == callUnknown:
		fail("not_offered", fmt.Sprintf("Error: the tool %q is not among the tools of this request; call one of the tools offered to you.", call.Name))
	case !json.Valid(args):
		fail("invalid_arguments", fmt.Sprintf("Error: the arguments of the call to %q are not valid JSON; call it again with a JSON object.", call.Name))
	case kind == callSearch:
		query, limit, err := agent.ParseSearchArgs(call.Arguments)
		if err != nil {
			fail("invalid_arguments", "Error: "+err.Error())
			break
		}
		text, err := a.picker.Search(ctx, a.catalog, query, limit)
		if err != nil {
			fail("error", "Error: the tool search failed: "+err.Error())
		} else {
			o.text = text
		}
	default:
		tctx, cancel := context.WithTimeout(ctx, a.s.agent.ToolTimeout)
		res, err := a.hub.CallTool(tctx, a.id, call.Name, args)
		cancel()
		if err != nil {
			status, text := agent.ToolErrorText(call.Name, err)
			fail(status, text)
		} else {
			text, isError := agent.ToolResultText(res)
			o.text = text
			if isError {
				o.record.Status, o.record.IsError = "error", true
			}
		}
	}
	o.record.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	return o
}
