package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"
)

// connection is one live mcp-go client to an upstream.
type connection struct {
	server     string
	log        zerolog.Logger
	client     *client.Client
	protocol   string
	proc       *stdioProcess // stdio only
	httpClient *http.Client  // HTTP only
	// life ends when the connection is closed; the listen stream runs
	// under it.
	life   context.Context
	cancel context.CancelFunc
	// wanted returns the resource URIs subscribed to on this server;
	// updated receives the upstream's notifications/resources/updated.
	wanted  func() []string
	updated func(uri string)

	// lost is closed (once, by markLost) when the connection is known dead.
	lost      chan struct{}
	lostOnce  sync.Once
	lostMu    sync.Mutex // guards lostCause
	lostCause error

	listChanged chan struct{} // coalescing: a list changed
	listenEnded chan struct{} // coalescing: the listen stream ended

	// listenMu guards stopListen and serialises (re)opening the listen
	// stream.
	listenMu   sync.Mutex
	stopListen func()

	// callsMu guards calls, keyed by the progress token sent upstream.
	callsMu sync.Mutex
	calls   map[string]*callState
	tokens  atomic.Uint64

	closeOnce sync.Once
}

// callState is what a request in flight wants from the connection's
// notifications and requests.
type callState struct {
	opts CallOptions
	// key is the call's entry in connection.calls.
	key string
	// ctx ends when the call does.
	ctx context.Context
}

func (c *connection) markLost(err error) {
	c.lostOnce.Do(func() {
		c.lostMu.Lock()
		c.lostCause = err
		c.lostMu.Unlock()
		close(c.lost)
	})
}

func (c *connection) isLost() bool { return isClosed(c.lost) }

// isClosed reports whether ch, a channel that is closed to signal and never
// sent on, is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (c *connection) lostErr() error {
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	if c.lostCause == nil {
		return errors.New("connection lost")
	}
	return c.lostCause
}

// watchProcess marks the connection lost when the child exits.
func (c *connection) watchProcess() {
	p := c.proc
	go func() {
		select {
		case <-p.exited:
			c.markLost(p.exitError())
		case <-c.lost:
		}
	}()
}

// close disconnects: the listen stream, the client, the child process
// group, idle HTTP connections. It is idempotent.
func (c *connection) close() {
	c.closeOnce.Do(func() {
		c.listenMu.Lock()
		stop := c.stopListen
		c.stopListen = nil
		c.listenMu.Unlock()
		if stop != nil {
			stop()
		}
		c.markLost(errors.New("connection closed"))
		if c.client != nil {
			_ = c.client.Close()
		}
		c.cancel()
		if c.proc != nil {
			c.proc.stop(stopGrace)
		}
		if c.httpClient != nil {
			c.httpClient.CloseIdleConnections()
		}
	})
}

// ping checks that the upstream answers: ping on the legacy protocol,
// server/discover on the stateless one (which has no ping).
func (c *connection) ping(ctx context.Context, timeout time.Duration) error {
	if c.isLost() {
		return c.lostErr()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if mcp.IsModernProtocol(c.protocol) {
		_, err := c.client.Discover(ctx, mcp.DiscoverRequest{})
		return err
	}
	//lint:ignore SA1019 ping is the legacy protocol's health check; modern connections use server/discover above.
	return c.client.Ping(ctx)
}

// listen opens (or reopens, closing the current one) the
// subscriptions/listen stream on the stateless protocol, asking for the
// list_changed notifications the upstream offers and for updates of the
// subscribed resources. Legacy upstreams send list_changed without being
// asked, and take resource subscriptions one by one (subscriptions.go).
func (c *connection) listen() {
	if !mcp.IsModernProtocol(c.protocol) {
		return
	}
	c.listenMu.Lock()
	defer c.listenMu.Unlock()
	if c.stopListen != nil {
		c.stopListen()
		c.stopListen = nil
	}
	if c.isLost() {
		return
	}
	caps := c.client.GetServerCapabilities()
	filter := mcp.SubscriptionFilter{
		ToolsListChanged:     caps.Tools != nil && caps.Tools.ListChanged,
		PromptsListChanged:   caps.Prompts != nil && caps.Prompts.ListChanged,
		ResourcesListChanged: caps.Resources != nil && caps.Resources.ListChanged,
	}
	if caps.Resources != nil && caps.Resources.Subscribe {
		filter.ResourceSubscriptions = c.wanted()
	}
	if filter.IsEmpty() {
		return
	}
	stop, err := c.client.ListenAsync(c.life, filter, func(err error) {
		c.log.Debug().Err(err).Msg("registry: upstream notification stream ended")
		signal(c.listenEnded)
	})
	if err != nil {
		c.log.Warn().Err(err).Msg("registry: cannot open the upstream notification stream")
		return
	}
	c.stopListen = stop
}

// relisten reopens the listen stream after a pause.
func (c *connection) relisten(ctx context.Context, pause time.Duration) {
	t := time.NewTimer(min(pause, time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-c.lost:
		return
	case <-t.C:
	}
	c.listen()
}

// signal does a non-blocking send on a coalescing channel.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// onNotification handles what the upstream sends outside responses.
func (c *connection) onNotification(n mcp.JSONRPCNotification) {
	switch n.Method {
	case string(mcp.MethodNotificationToolsListChanged),
		string(mcp.MethodNotificationResourcesListChanged),
		string(mcp.MethodNotificationPromptsListChanged):
		signal(c.listChanged)
	case mcp.MethodNotificationSubscriptionsAcknowledged:
		// A (re)opened listen stream is live: re-list once, so that a change
		// made between the last list and the stream's start is not missed.
		signal(c.listChanged)
	case mcp.MethodNotificationResourceUpdated:
		if uri, _ := n.Params.AdditionalFields["uri"].(string); uri != "" {
			c.updated(uri)
		}
	case string(mcp.MethodNotificationProgress):
		f := n.Params.AdditionalFields
		token := tokenKey(f["progressToken"])
		c.callsMu.Lock()
		cs := c.calls[token]
		c.callsMu.Unlock()
		if cs == nil || cs.opts.OnProgress == nil {
			return
		}
		progress, _ := f["progress"].(float64)
		total, _ := f["total"].(float64)
		message, _ := f["message"].(string)
		cs.opts.OnProgress(progress, total, message)
	case "notifications/message":
		f := n.Params.AdditionalFields
		level, _ := f["level"].(string)
		logger, _ := f["logger"].(string)
		c.log.Debug().Str("level", level).Str("logger", logger).Msg("registry: upstream log message")
		// Log messages are not tied to a request: they go to the call in
		// flight only when there is exactly one, never to another caller.
		c.callsMu.Lock()
		var only *callState
		if len(c.calls) == 1 {
			for _, cs := range c.calls {
				only = cs
			}
		}
		c.callsMu.Unlock()
		if only != nil && only.opts.OnLog != nil {
			only.opts.OnLog(level, logger, f["data"])
		}
	}
}

// tokenKey normalises a progress token (a string or a number) to a map key.
func tokenKey(v any) string {
	switch t := v.(type) {
	case string:
		return "s:" + t
	case float64:
		return "n:" + strconv.FormatFloat(t, 'f', -1, 64)
	case json.Number:
		return "n:" + t.String()
	case int:
		return "n:" + strconv.Itoa(t)
	case int64:
		return "n:" + strconv.FormatInt(t, 10)
	}
	return fmt.Sprintf("?:%v", v)
}

// register records a request in flight and returns the progress token to
// send upstream (a fresh one per call, so that callers using the same token
// never see each other's progress) and the context to send it with, which
// names the call to the handlers of the upstream's requests. done ends the
// call's context too.
func (c *connection) register(ctx context.Context, opts CallOptions) (token string, cctx context.Context, done func()) {
	token = fmt.Sprintf("junction-%d", c.tokens.Add(1))
	key := tokenKey(token)
	cctx, cancel := context.WithCancel(ctx)
	cs := &callState{opts: opts, key: key, ctx: cctx}
	cctx = context.WithValue(cctx, callKey{}, cs)
	c.callsMu.Lock()
	c.calls[key] = cs
	c.callsMu.Unlock()
	return token, cctx, func() {
		c.callsMu.Lock()
		delete(c.calls, key)
		c.callsMu.Unlock()
		cancel()
	}
}

// list reads the whole catalog (every page), keeping each item's JSON as
// the upstream sent it.
func (c *connection) list(ctx context.Context, cfg ServerConfig) (*ServerCatalog, error) {
	caps := c.client.GetServerCapabilities()
	cat := &ServerCatalog{Name: cfg.Name, Prefix: cfg.prefix(), ProtocolVersion: c.protocol,
		ResourceSubscribe: caps.Resources != nil && caps.Resources.Subscribe}
	var err error
	if caps.Tools != nil {
		seen := map[string]bool{}
		cat.Tools, err = listItems(ctx, "tools/list", "tools", func(ctx context.Context, cursor mcp.Cursor) error {
			_, err := c.client.ListToolsByPage(ctx, mcp.ListToolsRequest{PaginatedRequest: pageAt(cursor)})
			return err
		}, func(raw json.RawMessage) (Tool, bool) {
			var t struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			}
			if json.Unmarshal(raw, &t) != nil || t.Name == "" || seen[t.Name] || !cfg.keepTool(t.Name) {
				return Tool{}, false
			}
			seen[t.Name] = true
			return Tool{Server: cfg.Name, Name: t.Name, Description: t.Description, Raw: raw}, true
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(cat.Tools, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	}
	if caps.Resources != nil {
		cat.Resources, err = listItems(ctx, "resources/list", "resources", func(ctx context.Context, cursor mcp.Cursor) error {
			_, err := c.client.ListResourcesByPage(ctx, mcp.ListResourcesRequest{PaginatedRequest: pageAt(cursor)})
			return err
		}, func(raw json.RawMessage) (Resource, bool) {
			var r struct{ URI, Name string }
			ok := json.Unmarshal(raw, &r) == nil && r.URI != ""
			return Resource{Server: cfg.Name, URI: r.URI, Name: r.Name, Raw: raw}, ok
		})
		if err != nil {
			return nil, err
		}
		cat.Templates, err = listItems(ctx, "resources/templates/list", "resourceTemplates", func(ctx context.Context, cursor mcp.Cursor) error {
			_, err := c.client.ListResourceTemplatesByPage(ctx, mcp.ListResourceTemplatesRequest{PaginatedRequest: pageAt(cursor)})
			return err
		}, func(raw json.RawMessage) (ResourceTemplate, bool) {
			var r struct {
				URITemplate string `json:"uriTemplate"`
				Name        string `json:"name"`
			}
			ok := json.Unmarshal(raw, &r) == nil && r.URITemplate != ""
			return ResourceTemplate{Server: cfg.Name, URITemplate: r.URITemplate, Name: r.Name, Raw: raw}, ok
		})
		if err != nil {
			return nil, err
		}
	}
	if caps.Prompts != nil {
		cat.Prompts, err = listItems(ctx, "prompts/list", "prompts", func(ctx context.Context, cursor mcp.Cursor) error {
			_, err := c.client.ListPromptsByPage(ctx, mcp.ListPromptsRequest{PaginatedRequest: pageAt(cursor)})
			return err
		}, func(raw json.RawMessage) (Prompt, bool) {
			var p struct{ Name string }
			ok := json.Unmarshal(raw, &p) == nil && p.Name != ""
			return Prompt{Server: cfg.Name, Name: p.Name, Raw: raw}, ok
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(cat.Prompts, func(a, b Prompt) int { return strings.Compare(a.Name, b.Name) })
	}
	return cat, nil
}

// pageAt is the request of the page at cursor.
func pageAt(cursor mcp.Cursor) mcp.PaginatedRequest {
	return mcp.PaginatedRequest{Params: mcp.PaginatedParams{Cursor: cursor}}
}

// listItems reads every page of the list method (whose results hold the
// items under key) and keeps the items decode accepts.
func listItems[T any](ctx context.Context, method, key string, call func(ctx context.Context, cursor mcp.Cursor) error,
	decode func(raw json.RawMessage) (T, bool)) ([]T, error) {
	items, err := listRaw(ctx, key, call)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	var out []T
	for _, raw := range items {
		if v, ok := decode(raw); ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// listRaw follows a paginated list, sending each page request through call
// and collecting the raw items under key from each page's raw result.
func listRaw(ctx context.Context, key string, call func(ctx context.Context, cursor mcp.Cursor) error) ([]json.RawMessage, error) {
	var out []json.RawMessage
	seen := map[mcp.Cursor]bool{}
	var cursor mcp.Cursor
	for range maxListPages {
		rctx, slot := withRawSlot(ctx)
		if err := call(rctx, cursor); err != nil {
			return nil, err
		}
		raw := slot.get()
		if raw == nil {
			return nil, errors.New("no result")
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("result is not an object: %w", err)
		}
		var items []json.RawMessage
		if v, ok := page[key]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &items); err != nil {
				return nil, fmt.Errorf("%s is not an array: %w", key, err)
			}
		}
		out = append(out, items...)
		var next mcp.Cursor
		if v, ok := page["nextCursor"]; ok {
			_ = json.Unmarshal(v, &next)
		}
		if next == "" {
			return out, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("cursor %q repeated", next)
		}
		seen[next] = true
		cursor = next
	}
	return nil, fmt.Errorf("more than %d pages", maxListPages)
}
