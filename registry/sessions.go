package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"
)

// Caller sessions. An upstream session that a caller's client has given
// something (its roots, a sampling result, an elicitation answer) may keep
// it: server-everything caches the roots per session, any server may
// remember an answer. So nothing a client supplies may reach a session that
// serves another caller, and each upstream has two kinds of sessions:
//
//   - the shared one, the owner goroutine's connection: catalog, health
//     checks, resource subscriptions, and the calls that carry no client
//     features (the agent loop's, those of clients that declared none).
//     Its calls have no hooks, so every sampling, elicitation and roots
//     request it gets is refused: no caller's client answers there;
//   - one per caller (CallOptions.Caller), for the calls that can answer
//     the upstream's requests (a hook is set) or carry a client's answers
//     (CallOptions.Resume, PassInputRequired). Its requests are relayed to
//     the calls of its caller only (relay.go). For stdio it is a process of
//     its own.
//
// Every session declares the three client capabilities, the shared one
// included, so that an upstream that offers some tools only to clients
// with a capability (server-everything's get-roots-list) lists them; a
// request the caller's client cannot answer is refused with a JSON-RPC
// error saying so.
//
// Caller sessions are dialled on a caller's first such call and are
// bounded: at most Options.MaxCallerSessions per server, the least recently
// used idle one closed to make room (when every one is busy the call fails
// at once with ErrCallerSessionsBusy), each closed after
// Options.CallerSessionIdle unused, when its downstream session ends
// (EndSession), when the upstream's shared connection is lost, and when the
// server stops.

// Defaults of the caller session bounds.
const (
	// DefaultMaxCallerSessions bounds the caller sessions of one server
	// when Options.MaxCallerSessions is zero.
	DefaultMaxCallerSessions = 32
	// DefaultCallerSessionIdle is how long an unused caller session is kept
	// when Options.CallerSessionIdle is zero.
	DefaultCallerSessionIdle = 5 * time.Minute
)

// Caller identifies whose client answers a call's hooks: the calls of one
// Caller share an upstream session, the calls of different Callers never
// do.
type Caller struct {
	// Key is who calls: a virtual key's ID, or "admin". Required for a
	// call with client features.
	Key string
	// Session is which of the key's clients: its downstream MCP session,
	// or "" for a stateless (2026-07-28) client, whose key is then the
	// caller.
	Session string
}

// needsCallerSession reports whether the call carries anything of its
// caller's client, or may ask it for something.
func (o CallOptions) needsCallerSession() bool {
	return o.OnSampling != nil || o.OnElicitation != nil || o.OnRoots != nil || o.Resume != nil || o.PassInputRequired
}

// callerSession is one caller's session with a server.
type callerSession struct {
	key Caller
	// ready is closed when the dial has ended; conn or err is then set.
	ready chan struct{}
	conn  *connection
	err   error
	// busy counts the calls using the session, lastUsed is when the last
	// one ended, closed is set once its connection is being closed (all
	// guarded by callerPool.mu).
	busy     int
	lastUsed time.Time
	closed   bool
}

// callerPool holds the caller sessions of one server.
type callerPool struct {
	max  int
	idle time.Duration
	now  func() time.Time
	log  zerolog.Logger

	// mu guards byKey, retired and closed.
	mu    sync.Mutex
	byKey map[Caller]*callerSession
	// retired are sessions no new call may use that calls still use: the
	// last one's release closes them.
	retired map[*callerSession]bool
	closed  bool
	// closing counts the sessions being closed in the background.
	closing sync.WaitGroup
}

func newCallerPool(max int, idle time.Duration, now func() time.Time, log zerolog.Logger) *callerPool {
	return &callerPool{max: max, idle: idle, now: now, log: log, byKey: map[Caller]*callerSession{},
		retired: map[*callerSession]bool{}}
}

// errPoolClosed fails a call that arrives while the server stops.
var errPoolClosed = errors.New("the server is stopping")

// ErrCallerSessionsBusy matches (with errors.Is) a call refused because
// every caller session of its server is in use (Options.MaxCallerSessions).
var ErrCallerSessionsBusy = errors.New("registry: every caller session of this server is in use")

// acquire returns key's session, dialling it with dial on first use, and
// the function to call when the call is done (with whether the session
// turned out broken).
func (p *callerPool) acquire(ctx context.Context, key Caller, dial func() (*connection, error)) (*connection, func(broken bool), error) {
	s, dialNow, err := p.reserve(key)
	if err != nil {
		return nil, nil, err
	}
	if dialNow {
		conn, err := dial()
		p.dialled(s, conn, err)
	} else {
		select {
		case <-s.ready:
		case <-ctx.Done():
			p.release(s, false)
			return nil, nil, ctx.Err()
		}
	}
	if s.err != nil {
		p.release(s, false)
		return nil, nil, s.err
	}
	return s.conn, func(broken bool) { p.release(s, broken) }, nil
}

// reserve finds or makes key's session and counts the caller in; dialNow
// says the caller must dial it.
func (p *callerPool) reserve(key Caller) (s *callerSession, dialNow bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, false, errPoolClosed
	}
	s = p.byKey[key]
	if s != nil && s.dialledLocked() && s.conn.isLost() {
		p.dropLocked(s)
		s = nil
	}
	if s == nil {
		if len(p.byKey) >= p.max {
			victim := p.lruIdleLocked()
			if victim == nil {
				return nil, false, fmt.Errorf("%w (%d); try again shortly", ErrCallerSessionsBusy, p.max)
			}
			p.dropLocked(victim)
		}
		s = &callerSession{key: key, ready: make(chan struct{})}
		p.byKey[key] = s
		dialNow = true
	}
	s.busy++
	return s, dialNow, nil
}

// dialledLocked reports whether the session's dial has ended.
func (s *callerSession) dialledLocked() bool { return isClosed(s.ready) }

// dialled records the outcome of s's dial. A session dropped while it was
// dialled (the pool was reset or closed) is closed, and its callers fail.
func (p *callerPool) dialled(s *callerSession, conn *connection, err error) {
	p.mu.Lock()
	orphan := err == nil && (p.closed || p.byKey[s.key] != s)
	if orphan {
		err = errors.New("the session was closed while it connected")
	}
	s.err = err
	if err == nil {
		s.conn = conn
	} else if p.byKey[s.key] == s {
		delete(p.byKey, s.key)
	}
	p.mu.Unlock()
	close(s.ready)
	switch {
	case orphan:
		conn.close()
	case err != nil:
		p.log.Warn().Err(err).Msg("registry: caller session failed to connect")
	default:
		p.log.Debug().Msg("registry: caller session connected")
	}
}

// release counts a call out of s; a broken session, or a retired one that
// is no longer used, is closed.
func (p *callerPool) release(s *callerSession, broken bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.busy--
	s.lastUsed = p.now()
	if broken || (p.retired[s] && s.busy == 0) {
		p.dropLocked(s)
	}
}

// lruIdleLocked returns the idle session used least recently, or nil.
func (p *callerPool) lruIdleLocked() *callerSession {
	var victim *callerSession
	for _, s := range p.byKey {
		if s.busy == 0 && (victim == nil || s.lastUsed.Before(victim.lastUsed)) {
			victim = s
		}
	}
	return victim
}

// dropLocked forgets s and closes its connection in the background (a
// stdio process gets its grace period to exit), whoever still uses it.
func (p *callerPool) dropLocked(s *callerSession) {
	if p.byKey[s.key] == s {
		delete(p.byKey, s.key)
	}
	delete(p.retired, s)
	if s.conn == nil || s.closed {
		return
	}
	s.closed = true
	p.closing.Add(1)
	go func() {
		defer p.closing.Done()
		s.conn.close()
	}()
}

// retireLocked takes s out of use: the next call of its caller gets a new
// session, and s is closed once its calls in flight have ended.
func (p *callerPool) retireLocked(s *callerSession) {
	if s.busy == 0 {
		p.dropLocked(s)
		return
	}
	if p.byKey[s.key] == s {
		delete(p.byKey, s.key)
	}
	p.retired[s] = true
}

// sweep closes the sessions unused for longer than the idle timeout and
// those whose connection is lost.
func (p *callerPool) sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for _, s := range p.byKey {
		if s.busy == 0 && s.dialledLocked() && (s.conn.isLost() || now.Sub(s.lastUsed) >= p.idle) {
			p.dropLocked(s)
		}
	}
}

// endSession retires the sessions of downstream session id: closed at
// once when unused, else when their last call ends.
func (p *callerPool) endSession(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.byKey {
		if s.key.Session == id {
			p.retireLocked(s)
		}
	}
}

// reset closes every session, busy or not (the upstream went away).
func (p *callerPool) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropAllLocked()
}

// dropAllLocked closes every session, live or retired.
func (p *callerPool) dropAllLocked() {
	for _, s := range p.byKey {
		p.dropLocked(s)
	}
	for s := range p.retired {
		p.dropLocked(s)
	}
}

// close closes every session, refuses new ones, and waits for the closes.
func (p *callerPool) close() {
	p.mu.Lock()
	p.closed = true
	p.dropAllLocked()
	p.mu.Unlock()
	p.closing.Wait()
}

// size returns the number of caller sessions, retired ones still in use
// included.
func (p *callerPool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byKey) + len(p.retired)
}

// rootsChanged handles caller's roots list_changed: it returns the live
// 2025-11-25 sessions of caller, to be notified, and retires its
// 2026-07-28 ones, whose protocol has no notification to forget the old
// roots by: the next call starts a new session.
func (p *callerPool) rootsChanged(caller Caller) []*connection {
	p.mu.Lock()
	defer p.mu.Unlock()
	var notify []*connection
	for _, s := range p.byKey {
		if s.key != caller || !s.dialledLocked() || s.err != nil || s.conn.isLost() {
			continue
		}
		if !mcp.IsModernProtocol(s.conn.protocol) {
			notify = append(notify, s.conn)
			continue
		}
		p.retireLocked(s)
	}
	return notify
}

// brokenSession reports whether a call's error shows that its caller
// session is gone (the upstream forgot it, or the connection is lost).
func brokenSession(c *connection, err error) bool {
	return err != nil && (c.isLost() || errors.Is(err, transport.ErrSessionTerminated))
}

// callConn returns the connection a call with opts runs on: the shared one,
// or the caller's own session, and the function to call when the call is
// done.
func (r *Registry) callConn(ctx context.Context, server string, opts CallOptions) (*connection, ServerConfig, func(error), error) {
	u, ok := r.lookup(server)
	if !ok {
		return nil, ServerConfig{}, nil, &UnavailableError{Server: server}
	}
	shared, err := u.ready()
	if err != nil {
		return nil, ServerConfig{}, nil, err
	}
	cfg := u.def.cfg
	if !opts.needsCallerSession() {
		return shared, cfg, func(error) {}, nil
	}
	if opts.Caller.Key == "" {
		return nil, ServerConfig{}, nil, fmt.Errorf("registry: a call to %s with client features needs CallOptions.Caller", server)
	}
	c, release, err := u.callers.acquire(ctx, opts.Caller, u.dialCaller)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ServerConfig{}, nil, fmt.Errorf("registry: caller session with %s: %w", server, ctx.Err())
		}
		if errors.Is(err, ErrCallerSessionsBusy) {
			return nil, ServerConfig{}, nil, fmt.Errorf("registry: call %s: %w", server, err)
		}
		return nil, ServerConfig{}, nil, &UnavailableError{Server: server, State: StateReady, Reason: "caller session: " + err.Error()}
	}
	return c, cfg, func(err error) { release(brokenSession(c, err)) }, nil
}

// dialCaller connects a caller session, within the connect timeout. It
// lives until it is closed or the server stops.
func (u *upstream) dialCaller() (*connection, error) {
	cctx, cancel := context.WithTimeout(u.life, u.def.cfg.connectTimeout())
	defer cancel()
	conn, err := u.dial(u.life, cctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// EndSession closes the caller sessions of downstream MCP session id on
// every server (when their calls in flight end): the client that could
// answer them is gone.
func (r *Registry) EndSession(id string) {
	if id == "" {
		return
	}
	for _, u := range r.upstreams() {
		u.callers.endSession(id)
	}
}

// NotifyRootsListChanged passes on caller's notifications/roots/list_changed
// to caller's own sessions, on every server, and to no other session: a 2025-11-25 session gets the notification (the
// upstream's roots/list that usually follows is answered only during a
// call of caller, see relay.go); a 2026-07-28 session, whose protocol has
// no such notification, is closed once unused, so that the caller's next
// call starts a session that has not seen the old roots.
func (r *Registry) NotifyRootsListChanged(ctx context.Context, caller Caller) error {
	var errs []error
	for _, u := range r.upstreams() {
		for _, c := range u.callers.rootsChanged(caller) {
			nctx, cancel := context.WithTimeout(ctx, u.def.cfg.connectTimeout())
			if err := c.client.RootListChanges(nctx); err != nil {
				errs = append(errs, fmt.Errorf("registry: notify %s of changed roots: %w", u.def.cfg.Name, err))
			}
			cancel()
		}
	}
	return errors.Join(errs...)
}
