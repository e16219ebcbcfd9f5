package gateway

import (
	"cmp"
	"container/list"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// AuthThrottleConfig slows down, then locks out, a client address that keeps
// presenting wrong keys, so that neither the admin key nor virtual keys can
// be guessed at speed. It counts wrong keys on every authenticated route
// (/admin/v1, /v1, /mcp, /sse): the admin key is accepted on all of them.
//
// A failure is a key that matches nothing. A missing key, or a real key that
// is expired or disabled, is not a guess and is not counted; a correct key
// does not reset the count (else an attacker holding one key of their own
// could interleave it with guesses).
type AuthThrottleConfig struct {
	// Window is how long failures are counted for: the count starts at an
	// address's first failure and restarts once Window has passed. Default 10m.
	Window time.Duration `yaml:"window,omitempty"`
	// SlowAfter is how many failures within Window are answered at once;
	// each further failure is answered only after Delay. A correct key is
	// never delayed. Default 5.
	SlowAfter int `yaml:"slow_after,omitempty"`
	// Delay holds each failed answer past SlowAfter. Default 1s.
	Delay time.Duration `yaml:"delay,omitempty"`
	// BlockAfter failures within Window lock the address out for Lockout:
	// every request it makes to an authenticated route, with the right key
	// or not, gets 429 with Retry-After. Refusing the right key too is what
	// keeps a locked-out address from using the lockout as a guessing
	// oracle. Default 20.
	BlockAfter int `yaml:"block_after,omitempty"`
	// Lockout is how long a locked-out address is refused. Default 10m.
	Lockout time.Duration `yaml:"lockout,omitempty"`
	// MaxClients bounds the addresses tracked at once; when full, the one
	// whose last failure is oldest is forgotten. Default 10000.
	MaxClients int `yaml:"max_clients,omitempty"`
}

// Defaults of AuthThrottleConfig.
const (
	DefaultAuthWindow     = 10 * time.Minute
	DefaultAuthSlowAfter  = 5
	DefaultAuthDelay      = time.Second
	DefaultAuthBlockAfter = 20
	DefaultAuthLockout    = 10 * time.Minute
	DefaultAuthMaxClients = 10000
)

// applyDefaults fills every unset field with its default.
func (c *AuthThrottleConfig) applyDefaults() {
	c.Window = cmp.Or(c.Window, DefaultAuthWindow)
	c.SlowAfter = cmp.Or(c.SlowAfter, DefaultAuthSlowAfter)
	c.Delay = cmp.Or(c.Delay, DefaultAuthDelay)
	c.BlockAfter = cmp.Or(c.BlockAfter, DefaultAuthBlockAfter)
	c.Lockout = cmp.Or(c.Lockout, DefaultAuthLockout)
	c.MaxClients = cmp.Or(c.MaxClients, DefaultAuthMaxClients)
}

// validate reports every problem in c, each prefixed with path.
func (c AuthThrottleConfig) validate(path string) []error {
	errs := notNegative(path, named[time.Duration]{"window", c.Window}, named[time.Duration]{"delay", c.Delay},
		named[time.Duration]{"lockout", c.Lockout})
	errs = append(errs, notNegative(path, named[int]{"slow_after", c.SlowAfter}, named[int]{"block_after", c.BlockAfter},
		named[int]{"max_clients", c.MaxClients})...)
	if c.SlowAfter > 0 && c.BlockAfter > 0 && c.SlowAfter > c.BlockAfter {
		errs = append(errs, fmt.Errorf("%s.slow_after: %d is more than block_after (%d)", path, c.SlowAfter, c.BlockAfter))
	}
	return errs
}

// authThrottle tracks failed authentications per client address. It starts
// no goroutine: expired entries are reset when next seen, and the table is
// bounded by evicting the least recently failing address.
type authThrottle struct {
	cfg     AuthThrottleConfig
	proxies []netip.Prefix
	now     func() time.Time
	// wait holds a failed answer for d, or until ctx ends.
	wait func(ctx context.Context, d time.Duration)
	log  zerolog.Logger

	failures prometheus.Counter
	refused  prometheus.Counter
	lockouts prometheus.Counter

	mu      sync.Mutex // guards clients and lru
	clients map[netip.Prefix]*list.Element
	lru     *list.List // of *authClient, most recently failed at the front
}

// authClient is the failure record of one client address.
type authClient struct {
	addr        netip.Prefix
	windowStart time.Time // first failure of the current window
	failures    int       // failures since windowStart
	lockedUntil time.Time // zero unless locked out
}

// newAuthThrottle builds the throttle; cfg must have its defaults applied.
// proxies are the trusted proxies whose X-Forwarded-For is believed.
func newAuthThrottle(cfg AuthThrottleConfig, proxies []netip.Prefix, now func() time.Time, log zerolog.Logger,
	reg prometheus.Registerer) *authThrottle {
	t := &authThrottle{
		cfg:     cfg,
		proxies: proxies,
		now:     now,
		wait:    sleepCtx,
		log:     log,
		clients: make(map[netip.Prefix]*list.Element),
		lru:     list.New(),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "junction", Subsystem: "auth",
			Name: "failures_total", Help: "Wrong keys presented (admin or virtual), on every authenticated route."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "junction", Subsystem: "auth",
			Name: "refused_total", Help: "Requests refused with 429 because their client address is locked out."}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "junction", Subsystem: "auth",
			Name: "lockouts_total", Help: "Client addresses locked out after repeated wrong keys."}),
	}
	reg.MustRegister(t.failures, t.refused, t.lockouts)
	return t
}

// sleepCtx waits for d or until ctx ends, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// admit is called before a credential is checked. It returns the client's
// address, and a 429 error when the address is locked out.
func (t *authThrottle) admit(r *http.Request) (netip.Prefix, *Error) {
	client := t.clientOf(r)
	now := t.now()
	t.mu.Lock()
	var until time.Time
	if el, ok := t.clients[client]; ok {
		until = el.Value.(*authClient).lockedUntil
	}
	t.mu.Unlock()
	if !now.Before(until) {
		return client, nil
	}
	t.refused.Inc()
	secs := int64((until.Sub(now) + time.Second - 1) / time.Second)
	return client, &Error{
		Status: http.StatusTooManyRequests,
		Type:   "rate_limit_error",
		Code:   "too_many_auth_failures",
		Message: fmt.Sprintf("too many wrong keys from this address: authentication is refused for %d more seconds",
			secs),
		Header: map[string]string{"Retry-After": strconv.FormatInt(secs, 10)},
	}
}

// guard returns the middleware of a credential check: a locked-out client
// is refused before check runs; otherwise check returns the request to pass
// on, or the error to reject it with and whether it counts as a wrong key.
func (t *authThrottle) guard(reject func(http.ResponseWriter, *http.Request, error),
	check func(http.ResponseWriter, *http.Request) (next *http.Request, wrongKey bool, err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client, refused := t.admit(r)
			if refused != nil {
				reject(w, r, refused)
				return
			}
			passed, wrongKey, err := check(w, r)
			if err != nil {
				if wrongKey {
					t.fail(r.Context(), client)
				}
				reject(w, r, err)
				return
			}
			next.ServeHTTP(w, passed)
		})
	}
}

// fail records a wrong key from client. Past SlowAfter failures it holds the
// caller for Delay (or until ctx ends) before returning; the BlockAfter-th
// failure locks the address out.
func (t *authThrottle) fail(ctx context.Context, client netip.Prefix) {
	t.failures.Inc()
	now := t.now()
	t.mu.Lock()
	c := t.record(client, now)
	c.failures++
	n := c.failures
	locked := n >= t.cfg.BlockAfter && c.lockedUntil.IsZero()
	if locked {
		c.lockedUntil = now.Add(t.cfg.Lockout)
	}
	t.mu.Unlock()
	if locked {
		t.lockouts.Inc()
		t.log.Warn().Str("client", client.String()).Int("failures", n).Dur("lockout", t.cfg.Lockout).
			Msg("auth: locking out a client address after repeated wrong keys")
	}
	if n > t.cfg.SlowAfter {
		t.wait(ctx, t.cfg.Delay)
	}
}

// record returns client's entry, moved to the front, creating it (and
// evicting the least recently failing entry when full) or restarting it when
// its window or lockout is over. t.mu must be held.
func (t *authThrottle) record(client netip.Prefix, now time.Time) *authClient {
	if el, ok := t.clients[client]; ok {
		t.lru.MoveToFront(el)
		c := el.Value.(*authClient)
		lockOver := !c.lockedUntil.IsZero() && !now.Before(c.lockedUntil)
		windowOver := c.lockedUntil.IsZero() && now.Sub(c.windowStart) >= t.cfg.Window
		if lockOver || windowOver {
			*c = authClient{addr: client, windowStart: now}
		}
		return c
	}
	for t.lru.Len() >= t.cfg.MaxClients {
		oldest := t.lru.Back()
		delete(t.clients, oldest.Value.(*authClient).addr)
		t.lru.Remove(oldest)
	}
	c := &authClient{addr: client, windowStart: now}
	t.clients[client] = t.lru.PushFront(c)
	return c
}

// tracked is the number of addresses held, for tests.
func (t *authThrottle) tracked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// clientOf is the address failures are counted against: the connection's
// peer, or, when the peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not one. IPv6 addresses count per /64, the block
// one host usually controls.
func (t *authThrottle) clientOf(r *http.Request) netip.Prefix {
	addr := remoteAddr(r.RemoteAddr)
	if addr.IsValid() && t.trusted(addr) {
		addr = t.forwardedClient(r, addr)
	}
	return clientPrefix(addr)
}

// forwardedClient walks X-Forwarded-For from the right (the hop nearest to
// us) past trusted proxies and returns the first address that is not one.
// Entries further left were written by the client itself and are never
// believed. An entry that does not parse ends the walk at the last good hop.
func (t *authThrottle) forwardedClient(r *http.Request, peer netip.Addr) netip.Addr {
	hops := r.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a := parseHop(strings.TrimSpace(parts[j]))
			if !a.IsValid() {
				return client
			}
			client = a
			if !t.trusted(a) {
				return a
			}
		}
	}
	return client
}

// trusted reports whether a is one of the configured trusted proxies.
func (t *authThrottle) trusted(a netip.Addr) bool {
	for _, p := range t.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// remoteAddr parses http.Request.RemoteAddr ("ip:port"); the zero Addr when
// it is something else (a Unix socket, say).
func remoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// parseHop parses one X-Forwarded-For entry: an address, or an address with
// a port ("1.2.3.4:5", "[::1]:5").
func parseHop(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// clientPrefix is the bucket of an address: itself for IPv4, its /64 for
// IPv6. Addresses that cannot be parsed share the zero prefix.
func clientPrefix(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.WithZone("").Prefix(bits)
	return p
}

// parseTrustedProxies parses the http.trusted_proxies entries: CIDR blocks
// or single addresses.
func parseTrustedProxies(path string, entries []string) ([]netip.Prefix, []error) {
	var (
		out  []netip.Prefix
		errs []error
	)
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("%s[%d]: %q is not an IP address or CIDR block", path, i, e))
	}
	return out, errs
}
