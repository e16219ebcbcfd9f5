package mcp

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
)

// subscribingUpstreams are fake upstreams that can be subscribed to and
// count the subscriptions they hold.
type subscribingUpstreams struct {
	*fakeUpstreams

	mu     sync.Mutex
	counts map[string]int // server + " " + uri → subscriptions held
}

func (s *subscribingUpstreams) SubscribeResource(_ context.Context, server, uri string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[server+" "+uri]++
	return nil
}

func (s *subscribingUpstreams) UnsubscribeResource(_ context.Context, server, uri string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[server+" "+uri]--
	return nil
}

func (s *subscribingUpstreams) OnResourceUpdated(func(server, uri string)) func() { return func() {} }

func (s *subscribingUpstreams) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

// newSubscribingFixture serves a hub with opts over upstreams whose "files"
// server offers resource subscriptions.
func newSubscribingFixture(t *testing.T, opts Options) (*subscribingUpstreams, *Hub, string, string) {
	t.Helper()
	servers := standardServers()
	servers[0].ResourceSubscribe = true
	up := &subscribingUpstreams{fakeUpstreams: newFake(servers...), counts: map[string]int{}}
	pol := testPolicy(t)
	key, _ := testKey(t, pol, policy.KeyInput{Name: "all"})
	opts.Upstreams, opts.Policy, opts.Registerer = up, pol, prometheus.NewRegistry()
	h := testHub(t, opts)
	if h.subs == nil {
		t.Fatal("the hub offers no resource subscriptions over a resourceSubscriber")
	}
	return up, h, serveHub(t, h, pol).URL + "/mcp", key
}

// A resources/subscribe naming a session that was never initialized (or
// none) must not hold an upstream subscription: such a session is never
// unregistered, so nothing would ever give the subscription back, and
// updates could not reach it anyway.
func TestSubscribeUnregisteredSessionHoldsNothing(t *testing.T) {
	t.Parallel()
	up, h, url, key := newSubscribingFixture(t, Options{})
	for i, session := range []string{"mcp-session-0b6a6c0e-0c1b-4a52-9b53-7f0a2a9f6d11", "mcp-session-5f3e2d1c-4b5a-4c6d-8e7f-9a0b1c2d3e4f"} {
		body := `{"jsonrpc":"2.0","id":` + string(rune('1'+i)) + `,"method":"resources/subscribe","params":{"uri":"file:///readme"}}`
		rawPost(t, url, key, session, body)
	}
	if n := up.held(); n != 0 {
		t.Errorf("%d upstream subscriptions held for sessions that do not exist", n)
	}
	h.subs.mu.Lock()
	sessions := len(h.subs.sessions)
	h.subs.mu.Unlock()
	if sessions != 0 {
		t.Errorf("%d subscriber records kept for sessions that do not exist", sessions)
	}
}

var _ registry.CallOptions // the fixture's upstreams are registry-shaped

// An initialized session's subscription is held until the session ends.
func TestSubscribeRegisteredSessionUntilDelete(t *testing.T) {
	t.Parallel()
	up, _, url, key := newSubscribingFixture(t, Options{})
	sid := subscribedSession(t, url, key, up)
	statusOf(t, http.MethodDelete, url, key, "", "Mcp-Session-Id", sid, "MCP-Protocol-Version", legacyEra)
	testkit.Eventually(t, 5*time.Second, "condition", func() bool { return up.held() == 0 })
}

// A subscriber's subscriptions are bounded: a client cannot make the hub
// and the upstreams hold any number of them (URIs need not be listed, so
// they are client input).
func TestSubscriptionsPerSubscriberBounded(t *testing.T) {
	t.Parallel()
	up, h, _, _ := newSubscribingFixture(t, Options{})
	sub := &subscriber{session: "s"}
	for i := range maxSubscriptionsPerSubscriber {
		if err := h.subs.subscribe(context.Background(), sub, nil, resourceKey{"files", fmt.Sprintf("file:///%d", i)}); err != nil {
			t.Fatalf("subscription %d: %v", i+1, err)
		}
	}
	if err := h.subs.subscribe(context.Background(), sub, nil, resourceKey{"files", "file:///one-too-many"}); err == nil {
		t.Error("a subscription past the bound was accepted")
	}
	// Renewing one it has is no new subscription.
	if err := h.subs.subscribe(context.Background(), sub, nil, resourceKey{"files", "file:///0"}); err != nil {
		t.Errorf("renewing a subscription: %v", err)
	}
	if n := up.held(); n != maxSubscriptionsPerSubscriber {
		t.Errorf("%d upstream subscriptions held, want %d", n, maxSubscriptionsPerSubscriber)
	}
	h.subs.drop(sub)
	if n := up.held(); n != 0 {
		t.Errorf("%d upstream subscriptions held after the subscriber went away", n)
	}
}

// subscribedSession initializes a legacy session by hand, subscribes it to
// file:///readme and checks that up holds the subscription.
func subscribedSession(t *testing.T, url, key string, up *subscribingUpstreams) string {
	t.Helper()
	_, hdr := rawPost(t, url, key, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+legacyEra+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	sid := hdr.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatal("no session ID")
	}
	rawPost(t, url, key, sid, `{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"file:///readme"}}`)
	if n := up.held(); n != 1 {
		t.Fatalf("%d upstream subscriptions held, want 1", n)
	}
	return sid
}
