package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/policy"
)

// Resource subscriptions. When the upstreams can be subscribed to (the
// registry implements resourceSubscriber), every endpoint offers the
// resources.subscribe capability:
//
//   - a 2025-11-25 client subscribes with resources/subscribe and
//     unsubscribes with resources/unsubscribe; its session's subscriptions
//     end with the session (DELETE, or the end of an SSE stream);
//   - a 2026-07-28 client names the URIs in the resourceSubscriptions of a
//     subscriptions/listen request; they last as long as that stream.
//
// A URI is mapped to the upstream that serves it (a listed resource, else
// the first resource template that matches it; resources keep their
// upstream URIs, so the public URI is the upstream's). A URI that no
// upstream lists (resources need not be listed) goes to every upstream
// that offers subscriptions and that the caller may see, and stays
// subscribed on those that accept it. Subscribing is checked like a read
// (server:<name> with action list) and refused when no upstream is left to
// ask. The hub asks the
// registry once per (subscriber, URI); the registry keeps the upstream
// subscribed while anyone is, and resubscribes after reconnects. Each
// upstream notifications/resources/updated goes to exactly the subscribers
// of its URI that may still see that upstream.
//
// mcp-go's hooks cannot fail a request, so the refusals of
// resources/subscribe are answered by a check in front of mcp-go
// (subscribeCheck); a 2026-07-28 listen request is acknowledged by mcp-go
// with every URI it named, and the ones refused here simply get no
// updates.

// resourceSubscriber is what the hub needs from the upstreams to offer
// resource subscriptions; *registry.Registry implements it.
type resourceSubscriber interface {
	// SubscribeResource asks for updates of uri on server; each success is
	// matched by one UnsubscribeResource.
	SubscribeResource(ctx context.Context, server, uri string) error
	UnsubscribeResource(ctx context.Context, server, uri string) error
	// OnResourceUpdated registers fn for every update of a subscribed URI.
	OnResourceUpdated(fn func(server, uri string)) (remove func())
}

// unsubscribeTimeout bounds the upstream unsubscribe made when a
// downstream subscriber goes away.
const unsubscribeTimeout = 10 * time.Second

// maxSubscriptionsPerSubscriber bounds the upstream resources one session
// or listen stream is subscribed to (the URIs are the client's, and need
// not be listed).
const maxSubscriptionsPerSubscriber = 1000

// resourceKey names an upstream resource.
type resourceKey struct{ server, uri string }

// subscriber is one downstream party that receives resource updates: a
// 2025-11-25 session, or one 2026-07-28 listen stream.
type subscriber struct {
	e       *endpoint
	session string          // the session ID; "" for a listen stream
	listen  context.Context // the listen request's context; nil for a session

	// mu serialises this subscriber's subscribes and unsubscribes (held
	// across the registry's upstream requests) and guards dead.
	mu   sync.Mutex
	dead bool
}

// send delivers a resources/updated notification to the subscriber.
func (s *subscriber) send(uri string) error {
	params := map[string]any{"uri": uri}
	if s.listen != nil {
		return s.e.srv.SendNotificationToClient(s.listen, mcp.MethodNotificationResourceUpdated, params)
	}
	return s.e.srv.SendNotificationToSpecificClient(s.session, mcp.MethodNotificationResourceUpdated, params)
}

// sessionKey names a 2025-11-25 session of an endpoint.
type sessionKey struct {
	e  *endpoint
	id string
}

// resourceSubs is the hub's record of downstream subscriptions.
type resourceSubs struct {
	h      *Hub
	up     resourceSubscriber
	remove func()

	// mu guards live, sessions, byKey and keysOf; it is never held across
	// I/O.
	mu sync.Mutex
	// live holds the registered 2025-11-25 sessions: only they are ever
	// unregistered (which gives their subscriptions back) and can receive
	// updates, so only they may subscribe.
	live     map[sessionKey]bool
	sessions map[sessionKey]*subscriber
	byKey    map[resourceKey]map[*subscriber]*policy.Identity
	keysOf   map[*subscriber]map[resourceKey]bool
}

func newResourceSubs(h *Hub, up resourceSubscriber) *resourceSubs {
	s := &resourceSubs{h: h, up: up,
		live:     map[sessionKey]bool{},
		sessions: map[sessionKey]*subscriber{},
		byKey:    map[resourceKey]map[*subscriber]*policy.Identity{},
		keysOf:   map[*subscriber]map[resourceKey]bool{},
	}
	s.remove = up.OnResourceUpdated(s.deliver)
	return s
}

// close stops the deliveries and gives back every subscription.
func (s *resourceSubs) close() {
	s.remove()
	s.mu.Lock()
	subs := make([]*subscriber, 0, len(s.keysOf))
	for sub := range s.keysOf {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		s.drop(sub)
	}
}

// registered records that a 2025-11-25 session was registered.
func (s *resourceSubs) registered(e *endpoint, id string) {
	s.mu.Lock()
	s.live[sessionKey{e, id}] = true
	s.mu.Unlock()
}

// session returns the subscriber of a registered 2025-11-25 session,
// creating it, or nil for a session that is not (or no longer) registered.
func (s *resourceSubs) session(e *endpoint, id string) *subscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sessionKey{e, id}
	if !s.live[k] {
		return nil
	}
	sub := s.sessions[k]
	if sub == nil {
		sub = &subscriber{e: e, session: id}
		s.sessions[k] = sub
	}
	return sub
}

// endSession drops the subscriptions of a session that went away.
func (s *resourceSubs) endSession(e *endpoint, id string) {
	s.mu.Lock()
	k := sessionKey{e, id}
	sub := s.sessions[k]
	delete(s.sessions, k)
	delete(s.live, k)
	s.mu.Unlock()
	if sub != nil {
		s.drop(sub)
	}
}

// subscribe records that sub (whose caller is id) wants updates of key and
// asks the registry, once per subscriber and key.
func (s *resourceSubs) subscribe(ctx context.Context, sub *subscriber, id *policy.Identity, key resourceKey) error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.dead {
		return errors.New("the subscriber has gone away")
	}
	s.mu.Lock()
	had := s.keysOf[sub][key]
	if had {
		s.byKey[key][sub] = id // the newest caller's identity counts
	}
	full := len(s.keysOf[sub]) >= maxSubscriptionsPerSubscriber
	s.mu.Unlock()
	if had {
		return nil
	}
	if full {
		return fmt.Errorf("too many resource subscriptions: at most %d per session or listen stream", maxSubscriptionsPerSubscriber)
	}
	if err := s.up.SubscribeResource(ctx, key.server, key.uri); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keysOf[sub] == nil {
		s.keysOf[sub] = map[resourceKey]bool{}
	}
	s.keysOf[sub][key] = true
	if s.byKey[key] == nil {
		s.byKey[key] = map[*subscriber]*policy.Identity{}
	}
	s.byKey[key][sub] = id
	s.h.metrics.subscriptions.Inc()
	return nil
}

// unsubscribe ends sub's subscription of key, if it has one.
func (s *resourceSubs) unsubscribe(ctx context.Context, sub *subscriber, key resourceKey) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !s.forget(sub, key) {
		return
	}
	if err := s.up.UnsubscribeResource(ctx, key.server, key.uri); err != nil {
		s.h.log.Warn().Err(err).Str("server", key.server).Str("uri", key.uri).Msg("mcp: unsubscribing from an upstream resource failed")
	}
}

// forget removes sub's record of key and reports whether there was one.
func (s *resourceSubs) forget(sub *subscriber, key resourceKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.keysOf[sub][key] {
		return false
	}
	delete(s.keysOf[sub], key)
	if len(s.keysOf[sub]) == 0 {
		delete(s.keysOf, sub)
	}
	delete(s.byKey[key], sub)
	if len(s.byKey[key]) == 0 {
		delete(s.byKey, key)
	}
	s.h.metrics.subscriptions.Dec()
	return true
}

// drop ends every subscription of sub, for good.
func (s *resourceSubs) drop(sub *subscriber) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.dead = true
	s.mu.Lock()
	keys := make([]resourceKey, 0, len(s.keysOf[sub]))
	for k := range s.keysOf[sub] {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), unsubscribeTimeout)
	defer cancel()
	for _, k := range keys {
		if s.forget(sub, k) {
			if err := s.up.UnsubscribeResource(ctx, k.server, k.uri); err != nil {
				s.h.log.Warn().Err(err).Str("server", k.server).Str("uri", k.uri).Msg("mcp: unsubscribing from an upstream resource failed")
			}
		}
	}
}

// deliver passes an upstream's update to the subscribers of its URI that
// may still see the upstream. It runs on the registry's notification
// goroutine: it takes no lock across I/O, and mcp-go's sends do not block.
func (s *resourceSubs) deliver(server, uri string) {
	key := resourceKey{server, uri}
	type target struct {
		sub *subscriber
		id  *policy.Identity
	}
	s.mu.Lock()
	targets := make([]target, 0, len(s.byKey[key]))
	for sub, id := range s.byKey[key] {
		targets = append(targets, target{sub, id})
	}
	s.mu.Unlock()
	for _, t := range targets {
		if !t.sub.e.serverVisible(t.id, server) {
			continue
		}
		if err := t.sub.send(uri); err != nil {
			s.h.log.Debug().Err(err).Str("server", server).Str("uri", uri).Msg("mcp: resource update not delivered")
		}
	}
}

// subscribeError refuses a subscription; code is its JSON-RPC error code.
type subscribeError struct {
	code    int
	message string
}

func (e *subscribeError) Error() string { return e.message }

// subscribeTargets maps a public resource URI to the upstream resources a
// subscription of the caller in ctx is for (see the top of this file), or
// says why there are none.
func (e *endpoint) subscribeTargets(ctx context.Context, uri string) ([]resourceKey, error) {
	if uri == "" {
		return nil, &subscribeError{code: mcp.INVALID_PARAMS, message: "uri is required"}
	}
	id := policy.IdentityFrom(ctx)
	m := e.h.cur.Load()
	if server, ok := m.resourceServer(uri); ok {
		if !e.serverVisible(id, server) {
			ae := &policy.AccessError{Object: "server:" + server, Action: policy.ActionList}
			return nil, &subscribeError{code: mcp.INVALID_PARAMS, message: ae.Error()}
		}
		if !m.subscribable[server] {
			return nil, &subscribeError{code: mcp.INVALID_PARAMS, message: fmt.Sprintf("upstream server %q does not offer resource subscriptions", server)}
		}
		return []resourceKey{{server: server, uri: uri}}, nil
	}
	var keys []resourceKey
	for _, server := range m.subscribableServers {
		if e.serverVisible(id, server) {
			keys = append(keys, resourceKey{server: server, uri: uri})
		}
	}
	if len(keys) == 0 {
		return nil, &subscribeError{code: mcp.RESOURCE_NOT_FOUND, message: fmt.Sprintf("unknown resource %q: no upstream server lists it, and none you may use offers resource subscriptions", uri)}
	}
	return keys, nil
}

// subscribeAll subscribes sub to every target; it fails only when none
// could be subscribed.
func (s *resourceSubs) subscribeAll(ctx context.Context, sub *subscriber, id *policy.Identity, keys []resourceKey) error {
	var errs []error
	for _, key := range keys {
		if err := s.subscribe(ctx, sub, id, key); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == len(keys) {
		return errors.Join(errs...)
	}
	return nil
}

// subscriptionHooks adds the hooks that record subscriptions to hooks.
func (e *endpoint) subscriptionHooks(hooks *server.Hooks, subs *resourceSubs) {
	hooks.AddBeforeSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest) {
		sess := server.ClientSessionFromContext(ctx)
		if sess == nil {
			return
		}
		// subscribeCheck has answered the refusals already; this is the
		// backstop for anything that reached mcp-go another way.
		keys, err := e.subscribeTargets(ctx, req.Params.URI)
		if err != nil {
			e.h.log.Debug().Err(err).Str("uri", req.Params.URI).Msg("mcp: resource subscription refused")
			return
		}
		sub := subs.session(e, sess.SessionID())
		if sub == nil {
			// A session ID of the right form that was never initialized
			// here (or has ended): nothing would give it back.
			e.h.log.Debug().Str("uri", req.Params.URI).Msg("mcp: resource subscription of an unregistered session ignored")
			return
		}
		if err := subs.subscribeAll(ctx, sub, policy.IdentityFrom(ctx), keys); err != nil {
			e.h.log.Warn().Err(err).Str("uri", req.Params.URI).Msg("mcp: subscribing to an upstream resource failed")
		}
	})
	hooks.AddBeforeUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest) {
		sess := server.ClientSessionFromContext(ctx)
		if sess == nil {
			return
		}
		// By what was subscribed, not the current catalog, which may have
		// changed since.
		sub, keys := subs.keysOfURI(e, sess.SessionID(), req.Params.URI)
		if sub == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unsubscribeTimeout)
		defer cancel()
		for _, key := range keys {
			subs.unsubscribe(ctx, sub, key)
		}
	})
	hooks.AddOnRegisterSession(func(_ context.Context, sess server.ClientSession) {
		subs.registered(e, sess.SessionID())
	})
	hooks.AddOnUnregisterSession(func(_ context.Context, sess server.ClientSession) {
		subs.endSession(e, sess.SessionID())
	})
	hooks.AddBeforeSubscriptionsListen(func(ctx context.Context, _ any, req *mcp.SubscriptionsListenRequest) {
		uris := req.Params.Notifications.ResourceSubscriptions
		if len(uris) == 0 || server.ClientSessionFromContext(ctx) == nil {
			return
		}
		sub := &subscriber{e: e, listen: ctx}
		id := policy.IdentityFrom(ctx)
		for _, uri := range uris {
			keys, err := e.subscribeTargets(ctx, uri)
			if err == nil {
				err = subs.subscribeAll(ctx, sub, id, keys)
			}
			if err != nil {
				e.h.log.Debug().Err(err).Str("uri", uri).Msg("mcp: resource subscription of a listen stream refused")
			}
		}
		context.AfterFunc(ctx, func() { subs.drop(sub) })
	})
}

// keysOfURI returns a session's subscriber and its subscriptions of uri
// (one per upstream), or nil.
func (s *resourceSubs) keysOfURI(e *endpoint, session, uri string) (*subscriber, []resourceKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.sessions[sessionKey{e, session}]
	if sub == nil {
		return nil, nil
	}
	var keys []resourceKey
	for k := range s.keysOf[sub] {
		if k.uri == uri {
			keys = append(keys, k)
		}
	}
	return sub, keys
}

// maxSubscribePeek bounds how much of a POST body subscribeCheck reads.
const maxSubscribePeek = 64 << 10

// subscribePattern is how a resources/subscribe request names its method.
var subscribePattern = []byte(`"resources/subscribe"`)

// subscribeCheck answers the resources/subscribe requests that the hub
// refuses (unknown URI, access denied, upstream without subscriptions)
// before they reach mcp-go, whose hooks cannot fail a request. Everything
// else passes through untouched. The refusal is a JSON-RPC error; on the
// legacy SSE transport, whose responses travel on the event stream, it is
// the body of the POST's HTTP error.
func (e *endpoint) subscribeCheck(next http.Handler, sse bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil || r.ContentLength > maxSubscribePeek ||
			mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
			next.ServeHTTP(w, r)
			return
		}
		head, err := io.ReadAll(io.LimitReader(r.Body, maxSubscribePeek))
		if err == nil && len(head) < maxSubscribePeek {
			// All of it: mcp-go reads the copy.
			_ = r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(head))
		} else {
			r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		}
		if err != nil || !bytes.Contains(head, subscribePattern) {
			next.ServeHTTP(w, r)
			return
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				URI string `json:"uri"`
			} `json:"params"`
		}
		if json.Unmarshal(head, &msg) != nil || msg.Method != string(mcp.MethodResourcesSubscribe) || len(msg.ID) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		_, err = e.subscribeTargets(r.Context(), msg.Params.URI)
		var se *subscribeError
		if !errors.As(err, &se) {
			next.ServeHTTP(w, r)
			return
		}
		status := http.StatusOK
		if sse {
			status = http.StatusForbidden
			if se.code == mcp.RESOURCE_NOT_FOUND {
				status = http.StatusNotFound
			}
		}
		writeRPCError(w, status, msg.ID, se.code, se.message)
	})
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
