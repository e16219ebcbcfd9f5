package registry

import (
	"context"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry/mcptest"
)

// updates collects OnResourceUpdated calls.
type updates chan [2]string

func (u updates) expect(t *testing.T, server, uri string) {
	t.Helper()
	select {
	case got := <-u:
		if got != [2]string{server, uri} {
			t.Fatalf("update %v, want %s %s", got, server, uri)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no update of %s %s", server, uri)
	}
}

func (u updates) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-u:
		t.Fatalf("unexpected update %v", got)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestResourceSubscriptions subscribes to an upstream resource through the
// registry, on both protocol eras: the upstream is subscribed once however
// many requests there are, its updates are passed on, the last request's
// end unsubscribes it, and a new connection is subscribed again.
func TestResourceSubscriptions(t *testing.T) {
	const doc, other = "mcptest://doc", "mcptest://other"
	for _, tc := range []struct{ name, version string }{
		{"legacy", mcp.LATEST_LEGACY_PROTOCOL_VERSION},
		{"modern", ""}, // negotiated: 2026-07-28
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mcptest.StartHTTP(t, mcptest.WithResourceSubscriptions())
			h.Server.SetText(doc, "v1")
			h.Server.SetText(other, "v1")
			r := newRegistry(t, newStore(t))
			mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: h.URL, ProtocolVersion: tc.version})
			waitReady(t, r, "web")
			if cat := serverCatalog(r, "web"); cat == nil || !cat.ResourceSubscribe {
				t.Fatalf("catalog does not say the upstream offers subscriptions: %+v", cat)
			}
			if got := status(r, "web").ProtocolVersion; mcp.IsModernProtocol(got) != (tc.version == "") {
				t.Fatalf("negotiated %q", got)
			}
			got := make(updates, 16)
			remove := r.OnResourceUpdated(func(server, uri string) { got <- [2]string{server, uri} })
			defer remove()
			ctx := context.Background()

			for range 2 {
				if err := r.SubscribeResource(ctx, "web", doc); err != nil {
					t.Fatal(err)
				}
			}
			testkit.Eventually(t, 5*time.Second, "upstream subscribed", func() bool { return h.Server.Subscribers(doc) == 1 })
			h.Server.SetText(doc, "v2")
			got.expect(t, "web", doc)
			h.Server.SetText(other, "v2") // nobody subscribed
			got.none(t)

			if err := r.UnsubscribeResource(ctx, "web", doc); err != nil {
				t.Fatal(err)
			}
			if n := h.Server.Subscribers(doc); n != 1 {
				t.Fatalf("after one of two unsubscribes the upstream has %d subscribers", n)
			}
			h.Server.SetText(doc, "v3")
			got.expect(t, "web", doc)
			if err := r.UnsubscribeResource(ctx, "web", doc); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 5*time.Second, "upstream unsubscribed", func() bool { return h.Server.Subscribers(doc) == 0 })
			if s := r.ResourceSubscriptions("web"); len(s) != 0 {
				t.Fatalf("still subscribed: %v", s)
			}
			h.Server.SetText(doc, "v4")
			got.none(t)
			// Giving back more than was asked for does nothing.
			if err := r.UnsubscribeResource(ctx, "web", doc); err != nil {
				t.Fatal(err)
			}

			// A new connection (the upstream restarted on the same address)
			// is subscribed again.
			if err := r.SubscribeResource(ctx, "web", doc); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 5*time.Second, "upstream subscribed", func() bool { return h.Server.Subscribers(doc) == 1 })
			addr := h.Addr().String()
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 10*time.Second, "connection lost", func() bool { return status(r, "web").State != StateReady })
			s2, err := mcptest.NewServer(mcptest.WithResourceSubscriptions())
			if err != nil {
				t.Fatal(err)
			}
			s2.SetText(doc, "v1")
			h2, err := s2.StartHTTP(mcptest.HTTPConfig{Addr: addr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = h2.Close() })
			waitReady(t, r, "web")
			testkit.Eventually(t, 10*time.Second, "upstream subscribed again", func() bool { return s2.Subscribers(doc) == 1 })
			s2.SetText(doc, "v2")
			got.expect(t, "web", doc)
			if err := r.UnsubscribeResource(ctx, "web", doc); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 5*time.Second, "upstream unsubscribed", func() bool { return s2.Subscribers(doc) == 0 })
		})
	}
}

// TestResourceSubscriptionRefused: a server that offers no subscriptions,
// or is not registered, is refused.
func TestResourceSubscriptionRefused(t *testing.T) {
	h := mcptest.StartHTTP(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: h.URL})
	waitReady(t, r, "web")
	ctx := context.Background()
	if err := r.SubscribeResource(ctx, "web", mcptest.ReadmeURI); err == nil {
		t.Error("subscribed on a server without the capability")
	}
	if err := r.SubscribeResource(ctx, "nope", mcptest.ReadmeURI); err == nil {
		t.Error("subscribed on an unknown server")
	}
	if s := r.ResourceSubscriptions("web"); len(s) != 0 {
		t.Errorf("refused subscriptions were recorded: %v", s)
	}
}
