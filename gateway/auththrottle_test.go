package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/policy"
)

// throttleRig runs adminAuth with a throttle on a fake clock whose delays
// are recorded instead of slept.
type throttleRig struct {
	clock    *testkit.Clock
	throttle *authThrottle
	handler  http.Handler

	mu    sync.Mutex // guards waits
	waits []time.Duration
}

func newThrottleRig(t *testing.T, cfg AuthThrottleConfig, proxies ...string) *throttleRig {
	t.Helper()
	cfg.applyDefaults()
	if errs := cfg.validate("auth_throttle"); len(errs) > 0 {
		t.Fatal(errs)
	}
	trusted, errs := parseTrustedProxies("trusted_proxies", proxies)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rig := &throttleRig{clock: testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	rig.throttle = newAuthThrottle(cfg, trusted, rig.clock.Now, zerolog.Nop(), prometheus.NewRegistry())
	rig.throttle.wait = func(_ context.Context, d time.Duration) {
		rig.mu.Lock()
		rig.waits = append(rig.waits, d)
		rig.mu.Unlock()
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"data": "secret"})
	})
	rig.handler = adminAuth(policy.NewAdminAuth(testAdminKey), rig.throttle)(ok)
	return rig
}

// send presents key from addr and returns the answer and whether it was held.
func (rig *throttleRig) send(t *testing.T, addr, key string) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	rig.mu.Lock()
	before := len(rig.waits)
	rig.mu.Unlock()
	req := httptest.NewRequest(http.MethodGet, "/admin/v1/status", nil)
	req.RemoteAddr = addr
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	rig.handler.ServeHTTP(rec, req)
	rig.mu.Lock()
	defer rig.mu.Unlock()
	return rec, len(rig.waits) > before
}

// TestAdminKeyGuessesAreSlowedThenRefused: past slow_after wrong keys every
// wrong answer is held; the right key is never held; at block_after the
// address is refused everything (429 with Retry-After) until the lockout
// ends, while other addresses are untouched.
func TestAdminKeyGuessesAreSlowedThenRefused(t *testing.T) {
	t.Parallel()
	rig := newThrottleRig(t, AuthThrottleConfig{SlowAfter: 3, BlockAfter: 6, Delay: time.Second, Lockout: 5 * time.Minute})
	const attacker, neighbour = "198.51.100.7:40000", "198.51.100.8:40000"
	wrong := func(i int) string { return fmt.Sprintf("guess-%03d-0123456789", i) }

	for i := 1; i <= 3; i++ {
		rec, held := rig.send(t, attacker, wrong(i))
		if rec.Code != http.StatusUnauthorized || held {
			t.Fatalf("wrong key %d: %d, held %v; want 401 at once", i, rec.Code, held)
		}
	}
	if rec, held := rig.send(t, attacker, testAdminKey); rec.Code != http.StatusOK || held {
		t.Fatalf("right key after 3 failures: %d, held %v", rec.Code, held)
	}
	for i := 4; i <= 5; i++ {
		rec, held := rig.send(t, attacker, wrong(i))
		if rec.Code != http.StatusUnauthorized || !held {
			t.Fatalf("wrong key %d: %d, held %v; want 401 after the delay", i, rec.Code, held)
		}
	}
	// In the slow-down stage the right key still answers at once.
	if rec, held := rig.send(t, attacker, testAdminKey); rec.Code != http.StatusOK || held {
		t.Fatalf("right key in the slow-down stage: %d, held %v", rec.Code, held)
	}
	if rec, _ := rig.send(t, attacker, wrong(6)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong key 6: %d", rec.Code)
	}
	// Locked out: the right key is refused too, so the lockout tells a
	// guesser nothing.
	rec, held := rig.send(t, attacker, testAdminKey)
	if rec.Code != http.StatusTooManyRequests || held || rec.Header().Get("Retry-After") != "300" {
		t.Fatalf("locked-out address with the right key: %d, held %v, Retry-After %q", rec.Code, held, rec.Header().Get("Retry-After"))
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "too_many_auth_failures" ||
		strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("429 body: %s", rec.Body)
	}
	if rec, _ := rig.send(t, attacker, wrong(7)); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("locked-out address with a wrong key: %d", rec.Code)
	}
	if rec, _ := rig.send(t, attacker, ""); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("locked-out address with no key: %d", rec.Code)
	}
	if rec, held := rig.send(t, neighbour, testAdminKey); rec.Code != http.StatusOK || held {
		t.Fatalf("another address: %d, held %v", rec.Code, held)
	}

	rig.clock.Advance(5*time.Minute - time.Second)
	if rec, _ := rig.send(t, attacker, testAdminKey); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("one second before the lockout ends: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	rig.clock.Advance(time.Second)
	if rec, held := rig.send(t, attacker, testAdminKey); rec.Code != http.StatusOK || held {
		t.Fatalf("after the lockout: %d, held %v", rec.Code, held)
	}
	// The count starts over: the next wrong key is answered at once.
	if rec, held := rig.send(t, attacker, wrong(8)); rec.Code != http.StatusUnauthorized || held {
		t.Fatalf("first wrong key after the lockout: %d, held %v", rec.Code, held)
	}
}

// TestAuthFailuresOutsideTheWindowDoNotAddUp: a slow trickle of mistakes,
// fewer than block_after per window, never locks anyone out.
func TestAuthFailuresOutsideTheWindowDoNotAddUp(t *testing.T) {
	t.Parallel()
	rig := newThrottleRig(t, AuthThrottleConfig{SlowAfter: 2, BlockAfter: 3, Window: time.Minute})
	const addr = "192.0.2.10:1234"
	for round := range 5 {
		for i := range 2 {
			if rec, held := rig.send(t, addr, "not-the-admin-key-at-all"); rec.Code != http.StatusUnauthorized || held {
				t.Fatalf("round %d failure %d: %d, held %v", round, i, rec.Code, held)
			}
		}
		rig.clock.Advance(time.Minute)
	}
	if rec, _ := rig.send(t, addr, testAdminKey); rec.Code != http.StatusOK {
		t.Fatalf("right key: %d", rec.Code)
	}
}

// TestAuthThrottleMemoryIsBounded: wrong keys from far more addresses than
// max_clients keep the table at max_clients, forgetting the least recently
// failing address first.
func TestAuthThrottleMemoryIsBounded(t *testing.T) {
	t.Parallel()
	rig := newThrottleRig(t, AuthThrottleConfig{SlowAfter: 1, BlockAfter: 2, MaxClients: 100})
	const locked = "203.0.113.1:1"
	rig.send(t, locked, "wrong-key-0123456789")
	rig.send(t, locked, "wrong-key-0123456789")
	if rec, _ := rig.send(t, locked, testAdminKey); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("not locked out: %d", rec.Code)
	}
	for i := range 5000 {
		addr := fmt.Sprintf("10.%d.%d.%d:80", i>>16&255, i>>8&255, i&255)
		rig.send(t, addr, "wrong-key-0123456789")
		if n := rig.throttle.tracked(); n > 100 {
			t.Fatalf("%d addresses tracked after %d, want at most 100", n, i+1)
		}
	}
	if n := rig.throttle.tracked(); n != 100 {
		t.Fatalf("%d addresses tracked, want 100", n)
	}
	// The most recent address is still tracked (one more failure locks it).
	rig.send(t, "10.0.19.135:80", "wrong-key-0123456789")
	if rec, _ := rig.send(t, "10.0.19.135:80", testAdminKey); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("most recent address forgotten: %d", rec.Code)
	}
}

// TestAuthThrottleDelayEndsWithTheRequest: a held answer is released when
// the client goes away, so held requests cannot pile up goroutines.
func TestAuthThrottleDelayEndsWithTheRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sleepCtx(ctx, time.Hour); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("sleepCtx did not return when its context ended")
	}
	start := time.Now()
	sleepCtx(context.Background(), 20*time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("sleepCtx returned after %v", d)
	}
}

// TestAuthThrottleClientAddress: the client is the connection's peer;
// X-Forwarded-For is believed only from trusted proxies, and only up to the
// first address that is not one; IPv6 clients count per /64.
func TestAuthThrottleClientAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		proxies []string
		remote  string
		xff     []string
		want    string
	}{
		{"peer", nil, "192.0.2.1:5555", nil, "192.0.2.1/32"},
		{"forwarded-for ignored without trusted proxies", nil, "192.0.2.1:5555", []string{"203.0.113.9"}, "192.0.2.1/32"},
		{"forwarded-for ignored from an untrusted peer", []string{"10.0.0.0/8"}, "192.0.2.1:5555", []string{"203.0.113.9"}, "192.0.2.1/32"},
		{"trusted proxy", []string{"10.0.0.0/8"}, "10.1.2.3:5555", []string{"203.0.113.9"}, "203.0.113.9/32"},
		{"spoofed entries left of the real client are ignored", []string{"10.0.0.0/8"}, "10.1.2.3:5555",
			[]string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9/32"},
		{"chain of trusted proxies", []string{"10.0.0.0/8", "172.16.0.1"}, "10.1.2.3:5555",
			[]string{"1.1.1.1, 203.0.113.9", "172.16.0.1, 10.9.9.9"}, "203.0.113.9/32"},
		{"garbage stops the walk at the last good hop", []string{"10.0.0.0/8"}, "10.1.2.3:5555",
			[]string{"<script>, 10.2.2.2"}, "10.2.2.2/32"},
		{"only proxies: the farthest one", []string{"10.0.0.0/8"}, "10.1.2.3:5555", []string{"10.7.7.7"}, "10.7.7.7/32"},
		{"hop with a port", []string{"10.0.0.0/8"}, "10.1.2.3:5555", []string{"203.0.113.9:4711"}, "203.0.113.9/32"},
		{"ipv6 per /64", nil, "[2001:db8:1:2:aaaa::1]:5555", nil, "2001:db8:1:2::/64"},
		{"ipv4-mapped ipv6", nil, "[::ffff:192.0.2.1]:5555", nil, "192.0.2.1/32"},
		{"unparseable peer", nil, "@", nil, "invalid Prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trusted, errs := parseTrustedProxies("p", tc.proxies)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			th := newAuthThrottle(AuthThrottleConfig{}, trusted, time.Now, zerolog.Nop(), prometheus.NewRegistry())
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := th.clientOf(req).String(); got != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
		})
	}
	if _, errs := parseTrustedProxies("http.trusted_proxies", []string{"10.0.0.0/8", "nope", "::1"}); len(errs) != 1 ||
		!strings.Contains(errs[0].Error(), "http.trusted_proxies[1]") {
		t.Errorf("bad proxy entry: %v", errs)
	}
}

// TestKeyGuessingLocksOutTheAddressOnEveryRoute: on a running gateway, wrong
// admin keys and wrong virtual keys on /admin, /v1 and /mcp add up (the
// admin key is accepted on all of them); missing keys and real but disabled
// keys do not. Once locked out, the address gets 429 with Retry-After on
// every authenticated route, in each route's protocol, right keys included,
// until the lockout ends; unauthenticated routes still answer.
func TestKeyGuessingLocksOutTheAddressOnEveryRoute(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Now())
	g := startGatewayWith(t, func(c *Config) {
		c.HTTP.AuthThrottle = AuthThrottleConfig{SlowAfter: 2, BlockAfter: 5, Delay: 10 * time.Millisecond, Lockout: time.Minute}
	}, Options{Now: clock.Now})
	key := func(body map[string]any) string {
		resp, raw := adminDo(t, http.MethodPost, g.URL+"/admin/v1/keys", body)
		var k struct {
			Key string `json:"key"`
		}
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &k) != nil {
			t.Fatalf("create key: %d %s", resp.StatusCode, raw)
		}
		return k.Key
	}
	good := key(map[string]any{"name": "good"})
	disabled := key(map[string]any{"name": "off", "enabled": false})

	send := func(method, path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		var body *strings.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
		} else {
			body = strings.NewReader("")
		}
		req := mustRequest(t, method, g.URL+path, body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return do(t, req)
	}
	bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }

	// Not guesses: no key, a real key that is disabled.
	for range 10 {
		if resp, body := send(http.MethodGet, "/admin/v1/status"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no admin key: %d %s", resp.StatusCode, body)
		}
		if resp, body := send(http.MethodGet, "/v1/key", bearer(disabled)...); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("disabled key: %d %s", resp.StatusCode, body)
		}
	}
	if resp, body := send(http.MethodGet, "/admin/v1/status", bearer(testAdminKey)...); resp.StatusCode != http.StatusOK {
		t.Fatalf("right admin key after missing and disabled keys: %d %s", resp.StatusCode, body)
	}

	// Five guesses over four routes lock the address out.
	for i, guess := range []struct{ method, path, header, value string }{
		{http.MethodGet, "/v1/key", "Authorization", "Bearer jk-guess-1"},
		{http.MethodPost, "/mcp", "Authorization", "Bearer jk-guess-2"},
		{http.MethodPost, "/v1/messages", "X-Api-Key", "jk-guess-3"},
		{http.MethodGet, "/admin/v1/status", "Authorization", "Bearer jadm-guess-4"},
		{http.MethodGet, "/v1/key", "Api-Key", "jk-guess-5"},
	} {
		if resp, body := send(guess.method, guess.path, guess.header, guess.value); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d on %s: %d %s", i+1, guess.path, resp.StatusCode, body)
		}
	}
	for _, tc := range []struct{ method, path, key string }{
		{http.MethodGet, "/admin/v1/status", testAdminKey},
		{http.MethodGet, "/v1/key", good},
		{http.MethodGet, "/v1/key", testAdminKey},
		{http.MethodPost, "/mcp", good},
		{http.MethodPost, "/v1/messages", good},
	} {
		resp, body := send(tc.method, tc.path, bearer(tc.key)...)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
			t.Fatalf("locked out, %s %s with a right key: %d Retry-After %q %s", tc.method, tc.path, resp.StatusCode,
				resp.Header.Get("Retry-After"), body)
		}
		if tc.path == "/v1/messages" {
			var anth struct {
				Type  string `json:"type"`
				Error struct{ Type, Message string }
			}
			if json.Unmarshal(body, &anth) != nil || anth.Type != "error" || anth.Error.Type != "rate_limit_error" {
				t.Errorf("/v1/messages 429 is not Anthropic-shaped: %s", body)
			}
		} else if tc.path == "/mcp" {
			var rpc struct {
				Error struct{ Message string }
			}
			if json.Unmarshal(body, &rpc) != nil || !strings.Contains(rpc.Error.Message, "too many wrong keys") {
				t.Errorf("/mcp 429 is not a JSON-RPC error: %s", body)
			}
		} else if e := errorJSON(t, body); e.Code != "too_many_auth_failures" {
			t.Errorf("%s 429 body: %s", tc.path, body)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, _ := get(t, g.URL+p); resp.StatusCode != http.StatusOK {
			t.Errorf("%s while locked out: %d", p, resp.StatusCode)
		}
	}
	if !strings.Contains(g.Logs.String(), "locking out a client address") {
		t.Errorf("the lockout is not logged:\n%s", g.Logs)
	}
	if _, m := get(t, g.URL+"/metrics"); !strings.Contains(string(m), "junction_auth_lockouts_total 1") ||
		!strings.Contains(string(m), "junction_auth_failures_total 5") {
		t.Errorf("auth metrics missing or wrong")
	}

	clock.Advance(time.Minute)
	if resp, body := send(http.MethodGet, "/admin/v1/status", bearer(testAdminKey)...); resp.StatusCode != http.StatusOK {
		t.Fatalf("right admin key after the lockout: %d %s", resp.StatusCode, body)
	}
	if resp, body := send(http.MethodGet, "/v1/key", bearer(good)...); resp.StatusCode != http.StatusOK {
		t.Fatalf("right virtual key after the lockout: %d %s", resp.StatusCode, body)
	}
}

// TestAuthThrottleConfig: the throttle and trusted proxies are read from the
// file under http:, with defaults, and every mistake is reported by path.
func TestAuthThrottleConfig(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig("junction.yaml", []byte(`
http:
  trusted_proxies: [10.0.0.0/8, "::1"]
  auth_throttle: { window: 1m, slow_after: 2, block_after: 4, delay: 250ms }
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := AuthThrottleConfig{Window: time.Minute, SlowAfter: 2, BlockAfter: 4, Delay: 250 * time.Millisecond,
		Lockout: DefaultAuthLockout, MaxClients: DefaultAuthMaxClients}
	if cfg.HTTP.AuthThrottle != want || len(cfg.HTTP.TrustedProxies) != 2 {
		t.Fatalf("http: %+v", cfg.HTTP)
	}
	_, err = ParseConfig("junction.yaml", []byte(`
http:
  trusted_proxies: [10.0.0.0/8, proxy.internal]
  auth_throttle: { slow_after: 30, block_after: 10, lockout: -1s }
`), nil)
	for _, want := range []string{"http.trusted_proxies[1]", "http.auth_throttle.slow_after", "http.auth_throttle.lockout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestMetricsTokenGuardsMetrics: with http.metrics_token set, /metrics (whose
// labels name keys and teams) answers only the token; wrong tokens count as
// wrong keys. Without one it stays open for existing scrapers.
func TestMetricsTokenGuardsMetrics(t *testing.T) {
	t.Parallel()
	const token = "scrape-token-0123456789"
	g := startGateway(t, func(c *Config) {
		c.HTTP.MetricsToken = token
		c.HTTP.AuthThrottle = AuthThrottleConfig{SlowAfter: 1, BlockAfter: 2, Delay: time.Millisecond}
	})
	if resp, body := get(t, g.URL+"/metrics"); resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "junction_") {
		t.Fatalf("/metrics without the token: %d %.200s", resp.StatusCode, body)
	}
	if resp, body := get(t, g.URL+"/metrics", "Authorization", "Bearer "+token); resp.StatusCode != http.StatusOK ||
		!strings.Contains(string(body), "junction_http_requests_total") {
		t.Fatalf("/metrics with the token: %d %.200s", resp.StatusCode, body)
	}
	for range 2 {
		get(t, g.URL+"/metrics", "Authorization", "Bearer wrong-token-0123456789")
	}
	if resp, _ := get(t, g.URL+"/metrics", "Authorization", "Bearer "+token); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("/metrics after wrong tokens: %d, want the lockout's 429", resp.StatusCode)
	}
	open := startGateway(t, nil)
	if resp, _ := get(t, open.URL+"/metrics"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics without a configured token: %d", resp.StatusCode)
	}
	if _, err := ParseConfig("x.yaml", []byte("http: { metrics_token: short }"), nil); err == nil ||
		!strings.Contains(err.Error(), "http.metrics_token") {
		t.Errorf("short metrics token: %v", err)
	}
}
