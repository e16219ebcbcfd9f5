package registry

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// Resource subscriptions: the hub asks for updates of a resource with
// SubscribeResource and gives the request back with UnsubscribeResource,
// once per downstream subscriber; the registry counts the requests per
// (server, URI) and keeps the upstream subscribed while the count is above
// zero:
//
//   - on a 2025-11-25 (or older) upstream, the first request sends
//     resources/subscribe and the last one resources/unsubscribe;
//   - on a 2026-07-28 upstream, which has no such requests, the
//     subscriptions/listen stream is reopened with the new set of URIs in
//     its filter (updates sent while it reopens can be missed).
//
// The counts belong to the server name, not to one connection: after a
// reconnect (or a change of the server's definition) every subscribed URI
// is subscribed again. The upstream's notifications/resources/updated for a
// subscribed URI go to every OnResourceUpdated function; updates of URIs
// nobody subscribed to are dropped.

// subscriptions is the registry's record of resource subscriptions.
type subscriptions struct {
	// mu guards counts and ioMu, and is never held across I/O: the
	// notification goroutines read counts.
	mu     sync.Mutex
	counts map[string]map[string]int // server → URI → requests
	// ioMu serialises, per server, the changes of counts that reach the
	// upstream (subscribe, unsubscribe, resubscribe after a connect), so
	// that they reach it in order. Each is held across that server's
	// upstream requests, so a slow upstream holds up only its own.
	ioMu map[string]*sync.Mutex

	// fnMu guards fns and nextFn.
	fnMu   sync.Mutex
	fns    map[int]func(server, uri string)
	nextFn int
}

// serverLock returns the ioMu of server, creating it. Only registered
// names (and those subscribed before) get one.
func (s *subscriptions) serverLock(server string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ioMu == nil {
		s.ioMu = map[string]*sync.Mutex{}
	}
	m := s.ioMu[server]
	if m == nil {
		m = &sync.Mutex{}
		s.ioMu[server] = m
	}
	return m
}

// SubscribeResource asks for notifications/resources/updated of uri (the
// upstream's own URI) on server; every successful call must be matched by
// one UnsubscribeResource. The upstream is asked only when the first
// request for the URI arrives; its refusal is returned (and the request not
// counted). A server that is registered but not connected right now is
// subscribed when it connects. A server that is not registered, or whose
// catalog says it offers no resource subscriptions, is refused.
func (r *Registry) SubscribeResource(ctx context.Context, server, uri string) error {
	u, ok := r.lookup(server)
	if !ok {
		return &UnavailableError{Server: server}
	}
	s := &r.resSubs
	io := s.serverLock(server)
	io.Lock()
	defer io.Unlock()
	s.mu.Lock()
	if s.counts[server][uri] > 0 {
		s.counts[server][uri]++
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	conn, _ := u.ready()
	if conn != nil {
		if _, cat := u.snapshot(); cat != nil && !cat.ResourceSubscribe {
			return fmt.Errorf("registry: server %q does not offer resource subscriptions", server)
		}
		if err := r.subscribeUpstream(ctx, u, conn, uri, true); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if s.counts[server] == nil {
		s.counts[server] = map[string]int{}
	}
	s.counts[server][uri] = 1
	s.mu.Unlock()
	if conn != nil {
		// Stateless upstreams: the listen stream reads the new set.
		conn.listen()
	}
	return nil
}

// UnsubscribeResource gives back one SubscribeResource request for uri on
// server; when it was the last, the upstream is unsubscribed. Giving back a
// request that was never made does nothing. The upstream's refusal to
// unsubscribe is returned, but the request is forgotten all the same.
func (r *Registry) UnsubscribeResource(ctx context.Context, server, uri string) error {
	s := &r.resSubs
	s.mu.Lock()
	known := s.counts[server][uri] > 0
	s.mu.Unlock()
	if !known {
		return nil // no lock for a server nobody subscribed to
	}
	io := s.serverLock(server)
	io.Lock()
	defer io.Unlock()
	s.mu.Lock()
	n := s.counts[server][uri]
	switch {
	case n == 0:
		s.mu.Unlock()
		return nil
	case n > 1:
		s.counts[server][uri] = n - 1
		s.mu.Unlock()
		return nil
	}
	delete(s.counts[server], uri)
	if len(s.counts[server]) == 0 {
		delete(s.counts, server)
	}
	s.mu.Unlock()
	var conn *connection
	u, ok := r.lookup(server)
	if ok {
		conn, _ = u.ready()
	}
	switch {
	case conn == nil:
		return nil
	case mcp.IsModernProtocol(conn.protocol):
		conn.listen()
		return nil
	}
	return r.subscribeUpstream(ctx, u, conn, uri, false)
}

// OnResourceUpdated registers fn to receive every upstream's
// notifications/resources/updated for a subscribed URI (server is the
// registered name, uri the upstream's). fn runs on the connection's
// notification goroutine and must not block. The returned func removes it.
func (r *Registry) OnResourceUpdated(fn func(server, uri string)) (remove func()) {
	s := &r.resSubs
	s.fnMu.Lock()
	id := s.nextFn
	s.nextFn++
	if s.fns == nil {
		s.fns = map[int]func(server, uri string){}
	}
	s.fns[id] = fn
	s.fnMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.fnMu.Lock()
			delete(s.fns, id)
			s.fnMu.Unlock()
		})
	}
}

// ResourceSubscriptions returns the URIs of server that are subscribed to
// now, sorted.
func (r *Registry) ResourceSubscriptions(server string) []string {
	return r.wantedResources(server)
}

// wantedResources returns the subscribed URIs of server, sorted.
func (r *Registry) wantedResources(server string) []string {
	s := &r.resSubs
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for uri := range r.resSubs.counts[server] {
		out = append(out, uri)
	}
	slices.Sort(out)
	return out
}

// resourceUpdated passes an upstream's update of a subscribed URI on.
func (r *Registry) resourceUpdated(server, uri string) {
	s := &r.resSubs
	s.mu.Lock()
	subscribed := s.counts[server][uri] > 0
	s.mu.Unlock()
	if !subscribed {
		return
	}
	s.fnMu.Lock()
	fns := make([]func(string, string), 0, len(s.fns))
	for _, fn := range s.fns {
		fns = append(fns, fn)
	}
	s.fnMu.Unlock()
	for _, fn := range fns {
		fn(server, uri)
	}
}

// applySubscriptions subscribes a new connection to every URI subscribed on
// its server: one request each on the legacy protocol, the listen stream's
// filter on the stateless one. Refusals are logged; the URIs stay
// subscribed for the next connection.
func (r *Registry) applySubscriptions(ctx context.Context, u *upstream, conn *connection, cat *ServerCatalog) {
	s := &r.resSubs
	io := s.serverLock(u.def.cfg.Name)
	io.Lock()
	defer io.Unlock()
	uris := r.wantedResources(u.def.cfg.Name)
	switch {
	case len(uris) == 0:
		return
	case !cat.ResourceSubscribe:
		u.log.Warn().Int("resources", len(uris)).Msg("registry: upstream does not offer resource subscriptions; its subscribers get no updates")
		return
	case mcp.IsModernProtocol(conn.protocol):
		conn.listen() // reads the set itself
		return
	}
	for _, uri := range uris {
		if err := r.subscribeUpstream(ctx, u, conn, uri, true); err != nil {
			u.log.Warn().Err(err).Str("uri", uri).Msg("registry: resubscribing to an upstream resource failed")
		}
	}
}

// subscribeUpstream sends resources/subscribe (or, with on false,
// resources/unsubscribe) for uri to a legacy upstream, within the
// connect timeout. On a stateless upstream it does nothing: the listen
// stream carries the subscriptions.
func (r *Registry) subscribeUpstream(ctx context.Context, u *upstream, conn *connection, uri string, on bool) error {
	if mcp.IsModernProtocol(conn.protocol) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.def.cfg.connectTimeout())
	defer cancel()
	var err error
	what := "subscribe to"
	if on {
		//lint:ignore SA1019 resources/subscribe is how legacy upstreams are subscribed; stateless ones use the listen filter.
		err = conn.client.Subscribe(ctx, mcp.SubscribeRequest{Params: mcp.SubscribeParams{URI: uri}})
	} else {
		what = "unsubscribe from"
		//lint:ignore SA1019 resources/unsubscribe is how legacy upstreams are unsubscribed; stateless ones use the listen filter.
		err = conn.client.Unsubscribe(ctx, mcp.UnsubscribeRequest{Params: mcp.UnsubscribeParams{URI: uri}})
	}
	if err != nil {
		return fmt.Errorf("registry: %s %q on %s: %w", what, uri, u.def.cfg.Name, err)
	}
	return nil
}
