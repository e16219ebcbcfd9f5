package llmtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Behavior describes how the mock answers. The zero value answers at once, never
// fails, and echoes the last user message. A Behavior set for an API key replaces the
// default entirely (fields are not merged).
type Behavior struct {
	// Latency delays every response before its status line is written.
	Latency time.Duration
	// Jitter adds a uniformly distributed offset in [-Jitter, +Jitter] to Latency;
	// the sum is never negative.
	Jitter time.Duration
	// TimeToFirstChunk delays the first event of a stream after the 200 headers have
	// been flushed (Latency applies before the headers).
	TimeToFirstChunk time.Duration
	// ChunkDelay is the pause between two consecutive events of a stream.
	ChunkDelay time.Duration

	// FailPercent is the share of requests, in [0, 100], answered with an injected
	// FailStatus error in the provider's shape (after Latency).
	FailPercent float64
	// FailStatus is the status of injected failures: 500 when zero. Use 503 for an
	// unavailable upstream, 529 for Anthropic's overloaded_error.
	FailStatus int

	// RateLimitWindows rejects with 429 every request that arrives (by the mock's
	// clock) inside one of these windows.
	RateLimitWindows []Window
	// RateLimitNext rejects with 429 the next N requests made with this Behavior,
	// counted from the moment it is set.
	RateLimitNext int
	// RetryAfter is advertised on 429 answers in retry-after (whole seconds, rounded
	// up) and retry-after-ms. When zero, a window advertises the time until it ends and
	// RateLimitNext advertises one second.
	RetryAfter time.Duration

	// Hang blocks every request, without answering, until the client goes away or the
	// mock is closed; then the connection is cut.
	Hang bool
	// CloseAfterChunks, when positive, cuts the connection abruptly after that many
	// stream events have been sent (no [DONE] / message_stop). Non-streaming requests
	// are not affected.
	CloseAfterChunks int
	// ErrorAfterChunks, when positive, ends a stream after that many events with an
	// in-band error event in the provider's shape (OpenAI and Azure: data: {"error":
	// ...}; Anthropic: event: error; Gemini: an {"error": ...} element) carrying
	// FailStatus (500 when zero), then closes the response normally, without [DONE]
	// or message_stop: a provider failing mid-stream. Non-streaming requests are not
	// affected. CloseAfterChunks, when smaller, cuts first.
	ErrorAfterChunks int

	// Reply is a fixed reply text. When empty the reply echoes the start of the last
	// user message.
	Reply string
	// ReplyTokens, when positive, makes the reply a deterministic filler text of
	// exactly this many tokens (words); it takes precedence over Reply. Meant for
	// benchmarks.
	ReplyTokens int

	// Script, when non-empty, answers with these turns instead of Reply; see
	// ScriptMode for how a turn is chosen. After the last turn the last turn repeats.
	Script []Turn
	// ScriptMode chooses how a request is matched to a Script turn.
	ScriptMode ScriptMode
}

// Window is a span of time [Start, Start+Duration) on the mock's clock.
type Window struct {
	Start    time.Time
	Duration time.Duration
}

// End returns the first instant after the window.
func (w Window) End() time.Time { return w.Start.Add(w.Duration) }

// Contains reports whether t falls inside the window.
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.Start) && t.Before(w.End())
}

// ScriptMode chooses which Script turn answers a request.
type ScriptMode int

const (
	// ScriptInOrder answers the turns one after the other, one per request, counted
	// per Behavior from the moment it is set.
	ScriptInOrder ScriptMode = iota
	// ScriptByToolResults answers turn i when the request carries i rounds of tool
	// results: i runs of consecutive OpenAI "tool" messages, or i Anthropic user
	// messages holding tool_result blocks. Parallel results of one turn count once,
	// so an agent loop gets turn 0, then turn 1 after answering turn 0's calls, and so
	// on, independent of other requests.
	ScriptByToolResults
)

// String returns the mode's name.
func (m ScriptMode) String() string {
	switch m {
	case ScriptInOrder:
		return "in-order"
	case ScriptByToolResults:
		return "by-tool-results"
	default:
		return fmt.Sprintf("ScriptMode(%d)", int(m))
	}
}

// Turn is one scripted assistant answer: tool calls (possibly several, answered in
// parallel by the client), a text, or both (the text comes first).
type Turn struct {
	// Text is the assistant's text. A turn without ToolCalls is a final message.
	Text string
	// ToolCalls are the calls the assistant makes in this turn.
	ToolCalls []ToolCall
}

// ToolCall is one scripted function call.
type ToolCall struct {
	// ID is the call's id. When empty the mock generates one in the provider's style
	// (call_... for OpenAI, toolu_... for Anthropic).
	ID string
	// Name is the function (tool) name.
	Name string
	// Arguments is the JSON object of arguments, as text; empty means {}.
	Arguments string
}

// TextTurn returns a final turn answering text.
func TextTurn(text string) Turn { return Turn{Text: text} }

// ToolTurn returns a turn made of the given parallel tool calls.
func ToolTurn(calls ...ToolCall) Turn { return Turn{ToolCalls: calls} }

// Call returns a ToolCall of name with arguments (a map or struct) marshalled to JSON.
// A nil or unmarshallable value yields {}; a value that is not a JSON object is
// rejected by Validate.
func Call(name string, arguments any) ToolCall {
	raw, err := json.Marshal(arguments)
	if err != nil || arguments == nil {
		raw = []byte("{}")
	}
	return ToolCall{Name: name, Arguments: string(raw)}
}

// Validate reports every problem with b at once.
func (b Behavior) Validate() error {
	var errs []error
	nonNegative := func(name string, d time.Duration) {
		if d < 0 || d > MaxDelay {
			errs = append(errs, fmt.Errorf("%s: must be within [0, %s], got %s", name, MaxDelay, d))
		}
	}
	nonNegative("latency", b.Latency)
	nonNegative("jitter", b.Jitter)
	nonNegative("time_to_first_chunk", b.TimeToFirstChunk)
	nonNegative("chunk_delay", b.ChunkDelay)
	nonNegative("retry_after", b.RetryAfter)
	if !(b.FailPercent >= 0 && b.FailPercent <= 100) { // also rejects NaN
		errs = append(errs, fmt.Errorf("fail_percent: must be within [0, 100], got %v", b.FailPercent))
	}
	if b.FailStatus != 0 && (b.FailStatus < 400 || b.FailStatus > 599) {
		errs = append(errs, fmt.Errorf("fail_status: must be a 4xx or 5xx status, got %d", b.FailStatus))
	}
	for i, w := range b.RateLimitWindows {
		if w.Duration <= 0 {
			errs = append(errs, fmt.Errorf("rate_limit_windows[%d].duration: must be positive, got %s", i, w.Duration))
		}
	}
	if b.RateLimitNext < 0 {
		errs = append(errs, fmt.Errorf("rate_limit_next: must not be negative, got %d", b.RateLimitNext))
	}
	if b.CloseAfterChunks < 0 {
		errs = append(errs, fmt.Errorf("close_after_chunks: must not be negative, got %d", b.CloseAfterChunks))
	}
	if b.ErrorAfterChunks < 0 {
		errs = append(errs, fmt.Errorf("error_after_chunks: must not be negative, got %d", b.ErrorAfterChunks))
	}
	if b.ReplyTokens < 0 {
		errs = append(errs, fmt.Errorf("reply_tokens: must not be negative, got %d", b.ReplyTokens))
	}
	if b.ReplyTokens > maxReplyTokens {
		errs = append(errs, fmt.Errorf("reply_tokens: must be at most %d, got %d", maxReplyTokens, b.ReplyTokens))
	}
	if b.ScriptMode != ScriptInOrder && b.ScriptMode != ScriptByToolResults {
		errs = append(errs, fmt.Errorf("script_mode: unknown mode %d", int(b.ScriptMode)))
	}
	for i, turn := range b.Script {
		for j, call := range turn.ToolCalls {
			where := fmt.Sprintf("script[%d].tool_calls[%d]", i, j)
			if strings.TrimSpace(call.Name) == "" {
				errs = append(errs, fmt.Errorf("%s.name: must not be empty", where))
			}
			if call.Arguments != "" && !isJSONObject(call.Arguments) {
				errs = append(errs, fmt.Errorf("%s.arguments: must be a JSON object, got %q", where, call.Arguments))
			}
		}
	}
	return errors.Join(errs...)
}

// MaxDelay bounds every duration of a Behavior; use Hang for a request that never
// ends.
const MaxDelay = 24 * time.Hour

// maxReplyTokens bounds ReplyTokens so that a typo cannot make the mock build a
// gigabyte reply.
const maxReplyTokens = 1 << 20

// failStatus returns the status of injected failures.
func (b *Behavior) failStatus() int {
	if b.FailStatus == 0 {
		return http.StatusInternalServerError
	}
	return b.FailStatus
}

// clone returns a deep copy of b, so that a caller mutating its slices after SetBehavior
// cannot race with requests reading them.
func (b Behavior) clone() Behavior {
	b.RateLimitWindows = slices.Clone(b.RateLimitWindows)
	if b.Script != nil {
		script := make([]Turn, len(b.Script))
		for i, turn := range b.Script {
			script[i] = Turn{Text: turn.Text, ToolCalls: slices.Clone(turn.ToolCalls)}
		}
		b.Script = script
	}
	return b
}

// isJSONObject reports whether s is one valid JSON object.
func isJSONObject(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{") && json.Valid([]byte(s))
}
