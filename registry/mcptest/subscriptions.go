package mcptest

import (
	"context"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// WithResourceSubscriptions offers resource subscriptions (the
// resources.subscribe capability): 2025-11-25 clients subscribe with
// resources/subscribe and resources/unsubscribe, 2026-07-28 clients with
// the resourceSubscriptions of a subscriptions/listen request (mcp-go's
// server records neither, so the Server does). [Server.SetText] adds or
// changes a text resource and sends notifications/resources/updated to
// exactly the clients subscribed to it; [Server.Subscribers] counts them.
func WithResourceSubscriptions() Option {
	return func(c *config) { c.subscribe = true }
}

// subscribers records who is subscribed to which resource URI.
type subscribers struct {
	// mu guards sessions and listens.
	mu sync.Mutex
	// sessions: legacy session ID → subscribed URIs.
	sessions map[string]map[string]bool
	// listens: the context of each open subscriptions/listen request →
	// its resource URIs. The context ends with the stream.
	listens map[*listenStream]map[string]bool
}

type listenStream struct{ ctx context.Context }

// hooks returns the mcp-go hooks that keep the record.
func (s *Server) subscriptionHooks() *server.Hooks {
	subs := &s.subs
	subs.sessions = map[string]map[string]bool{}
	subs.listens = map[*listenStream]map[string]bool{}
	h := &server.Hooks{}
	h.AddBeforeSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest) {
		sess := server.ClientSessionFromContext(ctx)
		if sess == nil || req.Params.URI == "" {
			return
		}
		subs.mu.Lock()
		defer subs.mu.Unlock()
		set := subs.sessions[sess.SessionID()]
		if set == nil {
			set = map[string]bool{}
			subs.sessions[sess.SessionID()] = set
		}
		set[req.Params.URI] = true
	})
	h.AddBeforeUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest) {
		sess := server.ClientSessionFromContext(ctx)
		if sess == nil {
			return
		}
		subs.mu.Lock()
		defer subs.mu.Unlock()
		delete(subs.sessions[sess.SessionID()], req.Params.URI)
	})
	h.AddOnUnregisterSession(func(_ context.Context, sess server.ClientSession) {
		subs.mu.Lock()
		defer subs.mu.Unlock()
		delete(subs.sessions, sess.SessionID())
	})
	h.AddBeforeSubscriptionsListen(func(ctx context.Context, _ any, req *mcp.SubscriptionsListenRequest) {
		uris := req.Params.Notifications.ResourceSubscriptions
		if len(uris) == 0 {
			return
		}
		ls := &listenStream{ctx: ctx}
		set := map[string]bool{}
		for _, u := range uris {
			set[u] = true
		}
		subs.mu.Lock()
		subs.listens[ls] = set
		subs.mu.Unlock()
		context.AfterFunc(ctx, func() {
			subs.mu.Lock()
			delete(subs.listens, ls)
			subs.mu.Unlock()
		})
	})
	return h
}

// SetText serves text (text/plain) as the resource uri, adding the resource
// if it is new, and notifies the clients subscribed to uri with
// notifications/resources/updated. Adding a resource also sends
// notifications/resources/list_changed to 2025-11-25 clients.
func (s *Server) SetText(uri, text string) {
	s.textMu.Lock()
	if s.texts == nil {
		s.texts = map[string]string{}
	}
	_, known := s.texts[uri]
	s.texts[uri] = text
	s.textMu.Unlock()
	if !known {
		s.mcp.AddResource(mcp.NewResource(uri, uri, mcp.WithMIMEType("text/plain")),
			func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				s.textMu.Lock()
				t := s.texts[uri]
				s.textMu.Unlock()
				return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "text/plain", Text: t}}, nil
			})
	}
	s.notifyUpdated(uri)
}

// notifyUpdated sends notifications/resources/updated for uri to its
// subscribers.
func (s *Server) notifyUpdated(uri string) {
	params := map[string]any{"uri": uri}
	subs := &s.subs
	subs.mu.Lock()
	var sessions []string
	for id, set := range subs.sessions {
		if set[uri] {
			sessions = append(sessions, id)
		}
	}
	var listens []context.Context
	for ls, set := range subs.listens {
		if set[uri] {
			listens = append(listens, ls.ctx)
		}
	}
	subs.mu.Unlock()
	for _, id := range sessions {
		if err := s.mcp.SendNotificationToSpecificClient(id, mcp.MethodNotificationResourceUpdated, params); err != nil {
			s.logger.Warn("mcptest: resource update not delivered", "session", id, "err", err)
		}
	}
	for _, ctx := range listens {
		if err := s.mcp.SendNotificationToClient(ctx, mcp.MethodNotificationResourceUpdated, params); err != nil {
			s.logger.Warn("mcptest: resource update not delivered to a listen stream", "err", err)
		}
	}
}

// Subscribers returns how many clients (sessions and open listen streams)
// are subscribed to uri.
func (s *Server) Subscribers(uri string) int {
	subs := &s.subs
	subs.mu.Lock()
	defer subs.mu.Unlock()
	n := 0
	for _, set := range subs.sessions {
		if set[uri] {
			n++
		}
	}
	for _, set := range subs.listens {
		if set[uri] {
			n++
		}
	}
	return n
}
