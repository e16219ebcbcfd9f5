package agent

import (
	"encoding/json"
	"fmt"
	"strings"
)

// What a loop reports: why it ended, its tool calls, and Junction's
// extension object in a response.

// Why a loop ended: the X-Junction-Stop-Reason header and the stop_reason
// of the response's junction object.
const (
	StopFinal         = "final"          // the model answered
	StopClientTools   = "client_tools"   // the model called a function tool of the client's
	StopApproval      = "approval"       // an MCP call needs the client's approval
	StopMaxIterations = "max_iterations" // agent.max_iterations model calls made
	StopTimeout       = "timeout"        // agent.timeout passed
	StopBudget        = "budget"         // the next model call's budget reservation was refused
	StopRateLimit     = "rate_limit"     // the next model call was rate limited
	StopUnavailable   = "unavailable"    // the next model call could not be admitted (counters down)
	StopCancelled     = "cancelled"      // the client went away
	StopError         = "error"          // a model call failed after the stream started
)

// ToolRecord is one tool call of the loop, in the response's junction
// object and in the stream's tool-result events.
type ToolRecord struct {
	Iteration  int     `json:"iteration"`
	ID         string  `json:"tool_call_id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	IsError    bool    `json:"is_error"`
	DurationMs float64 `json:"duration_ms"`
}

// Summary is Junction's extension object: "junction" in a
// non-streamed response, the junction.done event of a stream.
type Summary struct {
	Iterations int          `json:"iterations"`
	StopReason string       `json:"stop_reason"`
	CostUSD    float64      `json:"cost_usd"`
	ToolCalls  []ToolRecord `json:"tool_calls"`
}

// StopNote is the final text when the loop ended for stop before the
// model's answer, after iterations model calls.
func StopNote(stop string, iterations int) string {
	switch stop {
	case StopMaxIterations:
		return fmt.Sprintf("[Junction stopped the tool loop after %d model calls (the iteration limit) before the model gave a final answer.]", iterations)
	case StopTimeout:
		return "[Junction stopped the tool loop: its time limit passed before the model gave a final answer.]"
	case StopBudget:
		return "[Junction stopped the tool loop: the budget does not cover another model call.]"
	case StopRateLimit:
		return "[Junction stopped the tool loop: the rate limit does not allow another model call now.]"
	}
	return "[Junction stopped the tool loop before the model gave a final answer.]"
}

// LimitedStop reports a stop that ends the loop before the model's answer.
func LimitedStop(stop string) bool {
	switch stop {
	case StopFinal, StopClientTools, StopApproval:
		return false
	}
	return true
}

// PauseTurn gives an Anthropic response that the loop cut short the stop
// reason pause_turn ("the turn was paused; send it back to go on"), which
// Anthropic uses when its own server-side tool loop reaches its limit.
func PauseTurn(body []byte) []byte {
	return []byte(strings.Replace(string(body), `"stop_reason":"max_tokens"`, `"stop_reason":"pause_turn"`, 1))
}

// AppendJunction adds Junction's extension object as the last field of a
// JSON response object.
func AppendJunction(body []byte, sum Summary) []byte {
	i := len(body) - 1
	for i >= 0 && body[i] != '}' {
		i--
	}
	if i < 0 {
		return body
	}
	ext, _ := json.Marshal(sum)
	out := make([]byte, 0, len(body)+len(ext)+16)
	out = append(out, body[:i]...)
	out = append(out, `,"junction":`...)
	out = append(out, ext...)
	out = append(out, '}')
	return append(out, body[i+1:]...)
}
