package agent

// One request's MCP tools: which the model is offered, what each of its
// calls is, running them through the hub, and the calls a client sent back.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

// Toolbox is one request's MCP tools. It is used by the request's
// goroutine, except where noted.
type Toolbox struct {
	hub         Hub
	id          *policy.Identity
	picker      *Selector
	maxTools    int
	toolTimeout time.Duration
	req         *chat.Request // the conversation; its Tools are set by Offer

	clientTools map[string]bool
	baseTools   []chat.Tool // the client's function tools
	tools       []*Tool
	byName      map[string]*Tool
	catalog     []mcp.ToolInfo // permitted, in list order, for search
	offered     map[string]bool
	withSearch  bool
	searchName  string // the search tool's name when withSearch
	// callable are the public names of every tool the key may call, named
	// by the request or not.
	callable map[string]bool
}

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

func (b *Toolbox) kindOf(call *chat.ToolCall) callKind {
	if b.withSearch && call.Name == b.searchName {
		return callSearch
	}
	if t := b.byName[call.Name]; t != nil {
		if t.Approval {
			return callApproval
		}
		return callMCP
	}
	if b.clientTools[call.Name] {
		return callClient
	}
	if b.callable[call.Name] {
		return callUnknown
	}
	return callOutside
}

// ClientStop says whether calls must go back to the client, and why.
func (b *Toolbox) ClientStop(calls []chat.ToolCall) string {
	stop := ""
	for i := range calls {
		switch b.kindOf(&calls[i]) {
		case callClient:
			return StopClientTools
		case callApproval:
			stop = StopApproval
		}
	}
	return stop
}

// Outcome is the result of one tool call, as fed back to the model.
type Outcome struct {
	Record ToolRecord
	Text   string
}

// Run runs the calls of one turn (of model call number iteration)
// concurrently, each with its own timeout, and returns the outcomes in call
// order. Calls that must not run
// here (approval, client) are not passed in. Tools found by search and
// called are offered from the next model call on.
func (b *Toolbox) Run(ctx context.Context, calls []chat.ToolCall, approved bool, iteration int) []Outcome {
	out := make([]Outcome, len(calls))
	var wg sync.WaitGroup
	for i := range calls {
		kind := b.kindOf(&calls[i])
		if approved && kind == callApproval {
			kind = callMCP
		}
		wg.Go(func() { out[i] = b.runTool(ctx, &calls[i], kind, iteration) })
	}
	wg.Wait()
	for i := range calls {
		if b.byName[calls[i].Name] != nil {
			b.offered[calls[i].Name] = true
		}
	}
	return out
}

// runTool runs one call. It may run on its own goroutine: it reads the
// run's fields but writes none.
func (b *Toolbox) runTool(ctx context.Context, call *chat.ToolCall, kind callKind, iteration int) Outcome {
	start := time.Now()
	o := Outcome{Record: ToolRecord{Iteration: iteration, ID: call.ID, Name: call.Name, Status: "ok"}}
	fail := func(status, text string) {
		o.Record.Status, o.Record.IsError, o.Text = status, true, text
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
		query, limit, err := ParseSearchArgs(call.Arguments)
		if err != nil {
			fail("invalid_arguments", "Error: "+err.Error())
			break
		}
		text, err := b.picker.Search(ctx, b.catalog, query, limit)
		if err != nil {
			fail("error", "Error: the tool search failed: "+err.Error())
		} else {
			o.Text = text
		}
	default:
		tctx, cancel := context.WithTimeout(ctx, b.toolTimeout)
		res, err := b.hub.CallTool(tctx, b.id, call.Name, args)
		cancel()
		if err != nil {
			status, text := ToolErrorText(call.Name, err)
			fail(status, text)
		} else {
			text, isError := ToolResultText(res)
			o.Text = text
			if isError {
				o.Record.Status, o.Record.IsError = "error", true
			}
		}
	}
	o.Record.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	return o
}

// NewToolbox resolves the MCP tools sels name that id may call, for the
// conversation req (whose Tools are the client's own function tools, which
// they must not clash with). Its errors are the client's (400).
func NewToolbox(hub Hub, id *policy.Identity, picker *Selector, cfg Config, sels []Selection, req *chat.Request) (*Toolbox, error) {
	b := &Toolbox{hub: hub, id: id, picker: picker, maxTools: cfg.MaxTools, toolTimeout: cfg.ToolTimeout, req: req,
		offered: map[string]bool{}, clientTools: map[string]bool{}}
	b.baseTools = b.req.Tools
	for _, t := range b.baseTools {
		b.clientTools[t.Name] = true
	}
	var unmatched []string
	b.tools, b.byName, unmatched = Permitted(func(toolset string) []mcp.ToolInfo { return hub.Tools(id, toolset) }, sels)
	if len(unmatched) > 0 {
		return nil, &apierror.Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "no_mcp_tools", Param: "tools",
			Message: fmt.Sprintf("MCP tools %q: no server or toolset of that name has tools this key may call (check the name, the allowed tools and the key's tool access; a server that is down lists no tools)", unmatched)}
	}
	b.callable = map[string]bool{}
	for _, t := range b.hub.Tools(b.id, "") {
		b.callable[t.Name] = true
	}
	for _, t := range b.tools {
		if b.clientTools[t.Info.Name] {
			return nil, apierror.BadRequest("invalid_request", "tools", fmt.Sprintf("tools: the function tool %q has the name of an MCP tool the request names; rename it", t.Info.Name))
		}
		b.catalog = append(b.catalog, t.Info)
	}
	if len(b.catalog) > b.maxTools {
		b.searchName = b.picker.SearchName(b.catalog)
		if b.clientTools[b.searchName] {
			return nil, apierror.BadRequest("invalid_request", "tools", fmt.Sprintf("tools: the function tool name %q is reserved when more than %d MCP tools are named", b.searchName, b.maxTools))
		}
	}
	return b, nil
}

// Offer sets the request's tools for the next model call: the client's
// function tools, then the offered MCP tools (all of them, or the picker's
// choice plus the search tool), then the tools found by search and called
// since.
func (b *Toolbox) Offer(ctx context.Context, iterations int) {
	tools := append([]chat.Tool(nil), b.baseTools...)
	// A tool_choice that forces a call holds for the first model call only,
	// or every turn would call a tool until max_iterations.
	if tc := b.req.ToolChoice; iterations > 0 && tc != nil && (tc.Mode == chat.ToolChoiceRequired || tc.Mode == chat.ToolChoiceFunction) {
		b.req.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceAuto}
	}
	if iterations == 0 {
		offered, withSearch, err := b.picker.Select(ctx, b.catalog, conversationText(b.req), b.maxTools)
		if err != nil { // only when ctx is done: the model call fails next
			offered, withSearch = b.catalog[:min(len(b.catalog), max(0, b.maxTools-1))], true
		}
		for _, t := range offered {
			b.offered[t.Name] = true
		}
		b.withSearch = withSearch
	}
	for _, t := range b.tools {
		if b.offered[t.Info.Name] {
			tools = append(tools, chat.Tool{Name: t.Info.Name, Description: t.Info.Description, Parameters: schemaOrEmpty(t.Info.InputSchema)})
		}
	}
	if b.withSearch {
		search := SearchTool()
		search.Name = b.searchName
		tools = append(tools, search)
	}
	b.req.Tools = tools
}

func schemaOrEmpty(s json.RawMessage) json.RawMessage {
	if len(s) == 0 {
		return json.RawMessage(`{"type":"object","properties":{}}`)
	}
	return s
}

// conversationText is what the picker ranks tools against: the system and
// user texts, latest last, bounded.
func conversationText(req *chat.Request) string {
	var b strings.Builder
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role == chat.RoleUser || m.Role == chat.RoleSystem || m.Role == chat.RoleDeveloper {
			b.WriteString(m.Text())
			b.WriteByte('\n')
		}
	}
	s := b.String()
	if len(s) > 8<<10 {
		s = s[len(s)-8<<10:]
	}
	return s
}

// Pending are the MCP calls of the conversation's last assistant
// message that the client sent back without results: approved calls (or
// calls left for Junction next to the client's own function calls). They
// run before the first model call.
func (b *Toolbox) Pending() []chat.ToolCall {
	msgs := b.req.Messages
	i := len(msgs) - 1
	for i >= 0 && msgs[i].Role == chat.RoleTool {
		i--
	}
	if i < 0 || msgs[i].Role != chat.RoleAssistant || len(msgs[i].ToolCalls) == 0 {
		return nil
	}
	answered := map[string]bool{}
	for _, m := range msgs[i+1:] {
		answered[m.ToolCallID] = true
	}
	var out []chat.ToolCall
	for _, call := range msgs[i].ToolCalls {
		if !answered[call.ID] && b.byName[call.Name] != nil {
			out = append(out, call)
		}
	}
	return out
}

// FillDropped gives the MCP calls of earlier assistant turns that the
// client sent back without results (a client that accumulated a streamed
// loop into one message keeps its tool calls but not Junction's results) a
// placeholder result, so that the conversation stays valid for providers.
// The calls are not run again.
func (b *Toolbox) FillDropped() {
	msgs := b.req.Messages
	var out []chat.Message
	for i := 0; i < len(msgs); i++ {
		out = append(out, msgs[i])
		if msgs[i].Role != chat.RoleAssistant || len(msgs[i].ToolCalls) == 0 {
			continue
		}
		j := i + 1
		answered := map[string]bool{}
		for ; j < len(msgs) && msgs[j].Role == chat.RoleTool; j++ {
			answered[msgs[j].ToolCallID] = true
		}
		if j == len(msgs) {
			continue // the last turn: Pending deals with it
		}
		out = append(out, msgs[i+1:j]...)
		for _, call := range msgs[i].ToolCalls {
			if !answered[call.ID] && (b.byName[call.Name] != nil || b.callable[call.Name]) {
				m := chat.TextMessage(chat.RoleTool, "(Junction ran this call earlier; its result is not part of the conversation sent back.)")
				m.ToolCallID = call.ID
				out = append(out, m)
			}
		}
		i = j - 1
	}
	if len(out) != len(msgs) {
		b.req.Messages = out
	}
}
