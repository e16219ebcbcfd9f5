package llmtest

import (
	"net/http"
	"sync/atomic"
)

// prompt is the format-neutral summary of a chat request that the shared planner and
// pacing need. Each wire format fills it from its own request shape.
type prompt struct {
	model        string
	stream       bool
	includeUsage bool // OpenAI stream_options.include_usage
	maxTokens    int  // 0: no limit
	inputTokens  int
	lastUserText string // filled only when the profile echoes
	toolRounds   int    // rounds of tool results the request carries
}

// finishReason is the format-neutral reason a reply ended; each format maps it to its
// own vocabulary (stop/length/tool_calls, end_turn/max_tokens/tool_use).
type finishReason int

const (
	finishStop finishReason = iota
	finishLength
	finishToolCalls
)

// reply is the planned answer to one chat request.
type reply struct {
	text         string
	calls        []ToolCall // shared with the profile; never modified
	finish       finishReason
	outputTokens int
}

// profile is a Behavior prepared for serving, with the state it counts. A new profile
// is made each time a Behavior is set, so its counters start afresh.
type profile struct {
	behavior Behavior // deep copy; read-only
	text     string   // the reply when it is fixed (Reply or ReplyTokens)
	echo     bool     // the reply echoes the last user message

	rateLimitLeft atomic.Int64 // requests still to reject for RateLimitNext
	scriptNext    atomic.Int64 // next turn index for ScriptInOrder
}

func newProfile(b Behavior) *profile {
	p := &profile{behavior: b.clone()}
	switch {
	case len(b.Script) > 0:
	case b.ReplyTokens > 0:
		p.text = fillerText(b.ReplyTokens)
	case b.Reply != "":
		p.text = b.Reply
	default:
		p.echo = true
	}
	p.rateLimitLeft.Store(int64(b.RateLimitNext))
	return p
}

// needsLastUserText reports whether the planner will read prompt.lastUserText, so that
// formats decode it only then.
func (p *profile) needsLastUserText() bool { return p.echo }

// echoWords is how many words of the last user message the default reply repeats.
const echoWords = 24

// plan decides the reply to pr.
func (p *profile) plan(pr *prompt) reply {
	var r reply
	switch {
	case len(p.behavior.Script) > 0:
		turn := p.turn(pr)
		r.text, r.calls = turn.Text, turn.ToolCalls
	case p.echo:
		r.text = echoReply(pr.lastUserText)
	default:
		r.text = p.text
	}
	r.finish = finishStop
	if len(r.calls) > 0 {
		r.finish = finishToolCalls
	}
	if pr.maxTokens > 0 {
		if cut, truncated := truncateTokens(r.text, pr.maxTokens); truncated {
			// The model ran out of tokens before finishing the text, so it never got
			// to the calls that would follow it.
			r.text, r.calls, r.finish = cut, nil, finishLength
		}
	}
	r.outputTokens = countTokens(r.text)
	for _, c := range r.calls {
		r.outputTokens += countTokens(c.Name) + countTokens(c.arguments())
	}
	return r
}

// turn picks the Script turn answering pr.
func (p *profile) turn(pr *prompt) Turn {
	script := p.behavior.Script
	var i int
	switch p.behavior.ScriptMode {
	case ScriptByToolResults:
		i = pr.toolRounds
	default:
		i = int(p.scriptNext.Add(1) - 1)
	}
	return script[min(max(i, 0), len(script)-1)]
}

// echoReply is the default reply: the start of the last user message.
func echoReply(lastUser string) string {
	words := firstTokens(lastUser, echoWords)
	if words == "" {
		return "Hello from llmtest."
	}
	return "Echo: " + words
}

// arguments returns a call's arguments, {} when empty.
func (c *ToolCall) arguments() string {
	if c.Arguments == "" {
		return "{}"
	}
	return c.Arguments
}

// answerChat runs what every chat endpoint does once it has read its body
// into pr (or failed to, apiErr): admit it (admitModel), plan the reply and
// write it, streamed or as one JSON body (appendJSON).
func (m *Mock) answerChat(x *exchange, pr prompt, apiErr *apiError, modelNotFound func(model string) *apiError,
	stream func(*prompt, *reply), appendJSON func([]byte, *prompt, *reply) []byte) {
	if !m.admitModel(x, apiErr, pr.model, modelNotFound) {
		return
	}
	r := x.profile.plan(&pr)
	if pr.stream {
		stream(&pr, &r)
		return
	}
	x.out = appendJSON(x.out[:0], &pr, &r)
	x.writeJSON(http.StatusOK, x.out)
}

// admitModel answers a request whose body did not validate (apiErr) with
// that error, and one for an unknown model with the API's own error
// (modelNotFound); then it admits the request (exchange.admit). It reports
// whether the endpoint goes on to answer.
func (m *Mock) admitModel(x *exchange, apiErr *apiError, model string, modelNotFound func(model string) *apiError) bool {
	if apiErr != nil {
		x.fail(apiErr)
		return false
	}
	if !m.knownModel(model) {
		x.fail(modelNotFound(model))
		return false
	}
	return x.admit()
}
