package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// UnavailableError fails a call to a server that is unknown, disabled, or
// not connected right now. It is returned at once: no call waits for an
// upstream to connect.
type UnavailableError struct {
	// Server is the server name the call asked for.
	Server string
	// State is the server's state (StateConnecting, StateFailed,
	// StateDisabled), or "" if no such server is registered.
	State string
	// Reason is the last connection error, if any.
	Reason string
}

// Error says which server is unavailable and why.
func (e *UnavailableError) Error() string {
	switch {
	case e.State == "":
		return fmt.Sprintf("registry: unknown server %q", e.Server)
	case e.Reason != "":
		return fmt.Sprintf("registry: server %q is unavailable (%s): %s", e.Server, e.State, e.Reason)
	}
	return fmt.Sprintf("registry: server %q is unavailable (%s)", e.Server, e.State)
}

// ErrTimeout matches (with errors.Is) a call that got no answer within its
// timeout; the call was cancelled upstream. The error also matches
// context.DeadlineExceeded.
var ErrTimeout = errors.New("registry: the upstream did not answer in time")

// conn returns the live connection of server and its config, or an
// *UnavailableError.
func (r *Registry) conn(server string) (*connection, ServerConfig, error) {
	u, ok := r.lookup(server)
	if !ok {
		return nil, ServerConfig{}, &UnavailableError{Server: server}
	}
	c, err := u.ready()
	if err != nil {
		return nil, ServerConfig{}, err
	}
	return c, u.def.cfg, nil
}

// CallTool calls tool (the upstream's own name) on server with args (a JSON
// object; empty means {}) and returns the upstream's CallToolResult JSON
// exactly as it was sent, isError results included. Progress notifications
// for the call go to opts.OnProgress, log messages to opts.OnLog, and the
// upstream's sampling and elicitation requests to opts.OnSampling and
// opts.OnElicitation (see relay.go for how they are matched to the call, and
// sessions.go for the caller's own upstream session such a call runs on). When
// ctx ends the call is cancelled upstream; when the timeout (opts.Timeout,
// else the server's) passes first, the call is cancelled upstream and the
// error matches ErrTimeout. A server that is not ready fails at once with an
// *UnavailableError; a JSON-RPC error from the upstream is returned wrapped.
func (r *Registry) CallTool(ctx context.Context, server, tool string, args json.RawMessage, opts CallOptions) (raw json.RawMessage, err error) {
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	} else if !json.Valid(args) {
		return nil, fmt.Errorf("registry: call %s/%s: arguments are not valid JSON", server, tool)
	}
	c, cfg, release, err := r.callConn(ctx, server, opts)
	if err != nil {
		return nil, err
	}
	defer func() { release(err) }()
	req := mcp.CallToolRequest{Params: mcp.CallToolParams{Name: tool, Arguments: args}}
	token, ctx, done := c.register(ctx, opts)
	defer done()
	if opts.ProgressToken != nil || opts.OnProgress != nil {
		req.Params.Meta = &mcp.Meta{ProgressToken: token}
	}
	if opts.Resume != nil && mcp.IsModernProtocol(c.protocol) {
		ctx = context.WithValue(ctx, resumeKey{}, &resumeOnce{params: *opts.Resume})
	}
	return r.roundTrip(ctx, c, cfg, opts.Timeout, "call "+server+"/"+tool, func(ctx context.Context) error {
		_, err := c.client.CallTool(ctx, req)
		if errors.Is(err, errPassInput) {
			// The raw slot holds the input_required result.
			return nil
		}
		return err
	})
}

// ReadResource reads uri from server and returns the upstream's
// ReadResourceResult JSON as sent. Errors are as for CallTool.
func (r *Registry) ReadResource(ctx context.Context, server, uri string) (json.RawMessage, error) {
	c, cfg, err := r.conn(server)
	if err != nil {
		return nil, err
	}
	req := mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: uri}}
	// In flight without hooks: what the upstream sends meanwhile cannot be
	// taken for a tool call's.
	_, ctx, done := c.register(ctx, CallOptions{})
	defer done()
	return r.roundTrip(ctx, c, cfg, 0, "read "+server+" "+uri, func(ctx context.Context) error {
		_, err := c.client.ReadResource(ctx, req)
		return err
	})
}

// GetPrompt renders the prompt name of server with args and returns the
// upstream's GetPromptResult JSON as sent. Errors are as for CallTool.
func (r *Registry) GetPrompt(ctx context.Context, server, name string, args map[string]string) (json.RawMessage, error) {
	c, cfg, err := r.conn(server)
	if err != nil {
		return nil, err
	}
	req := mcp.GetPromptRequest{Params: mcp.GetPromptParams{Name: name, Arguments: args}}
	_, ctx, done := c.register(ctx, CallOptions{})
	defer done()
	return r.roundTrip(ctx, c, cfg, 0, "get prompt "+server+"/"+name, func(ctx context.Context) error {
		_, err := c.client.GetPrompt(ctx, req)
		return err
	})
}

// roundTrip runs send under the call timeout with a raw slot, and returns
// the raw result or a clear error.
func (r *Registry) roundTrip(ctx context.Context, c *connection, cfg ServerConfig, timeout time.Duration, what string, send func(context.Context) error) (json.RawMessage, error) {
	if timeout <= 0 {
		timeout = cfg.timeout()
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cctx, slot := withRawSlot(cctx)
	err := send(cctx)
	switch {
	case err == nil:
		raw := slot.get()
		if raw == nil {
			return nil, fmt.Errorf("registry: %s: the upstream sent no result", what)
		}
		return raw, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("registry: %s: %w", what, ctx.Err())
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("registry: %s: no answer within %s, the call was cancelled: %w (%w)", what, timeout, ErrTimeout, context.DeadlineExceeded)
	case c.isLost():
		return nil, fmt.Errorf("registry: %s: %w (%v)", what, err, c.lostErr())
	}
	return nil, fmt.Errorf("registry: %s: %w", what, err)
}

// Complete asks server for completions of a prompt or resource-template
// argument (completion/complete) and returns the upstream's CompleteResult
// JSON as sent. Errors are as for CallTool.
func (r *Registry) Complete(ctx context.Context, server string, req mcp.CompleteRequest) (json.RawMessage, error) {
	c, cfg, err := r.conn(server)
	if err != nil {
		return nil, err
	}
	_, ctx, done := c.register(ctx, CallOptions{})
	defer done()
	return r.roundTrip(ctx, c, cfg, 0, "complete on "+server, func(ctx context.Context) error {
		_, err := c.client.Complete(ctx, req)
		return err
	})
}
