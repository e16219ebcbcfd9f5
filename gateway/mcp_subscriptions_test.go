package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

// subClient is a downstream MCP client with an open notification stream
// (the GET stream on 2025-11-25, a subscriptions/listen stream on
// 2026-07-28) that records the resources/updated notifications it gets.
type subClient struct {
	c       *client.Client
	era     string
	updates chan string
	// acks receives the 2026-07-28 listen streams' acknowledgements, which
	// Junction sends once it has recorded the stream's subscriptions.
	acks chan struct{}
	// stop ends the 2026-07-28 listen stream (nil on 2025-11-25).
	stop func()
}

// bearer adds a virtual key to every request.
type bearer struct {
	key  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.next.RoundTrip(r)
}

// subConnect connects to url with key in era. On 2026-07-28 the client
// listens for updates of uris (and for list changes, so that a client
// without uris still has a stream open).
func subConnect(t *testing.T, url, key, era string, uris ...string) *subClient {
	t.Helper()
	// The key goes on every request through the HTTP client: mcp-go's
	// transport leaves its own headers off the DELETE that ends a session.
	hc := &http.Client{Transport: bearer{key: key, next: http.DefaultTransport}}
	opts := []transport.StreamableHTTPCOption{transport.WithHTTPBasicClient(hc)}
	if !mcpgo.IsModernProtocol(era) {
		//lint:ignore SA1019 a 2025-11-25 client gets its notifications on the standalone GET stream.
		opts = append(opts, transport.WithContinuousListening())
	}
	tr, err := transport.NewStreamableHTTP(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sc := &subClient{c: client.NewClient(tr, client.WithProtocolVersion(era)), era: era, updates: make(chan string, 16), acks: make(chan struct{}, 16)}
	sc.c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == mcpgo.MethodNotificationResourceUpdated {
			uri, _ := n.Params.AdditionalFields["uri"].(string)
			sc.updates <- uri
		}
		if n.Method == mcpgo.MethodNotificationSubscriptionsAcknowledged {
			sc.acks <- struct{}{}
		}
	})
	if err := sc.c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := mcpgo.InitializeRequest{}
	req.Params.ClientInfo = mcpgo.Implementation{Name: "subscriptions-test", Version: "1"}
	if _, err := sc.c.Initialize(ctx, req); err != nil {
		t.Fatalf("initialize (%s): %v", era, err)
	}
	if mcpgo.IsModernProtocol(era) {
		sc.listen(t, uris...)
	}
	return sc
}

// listen (re)opens the 2026-07-28 listen stream for uris.
func (sc *subClient) listen(t *testing.T, uris ...string) {
	t.Helper()
	if sc.stop != nil {
		sc.stop()
	}
	stop, err := sc.c.ListenAsync(context.Background(), mcpgo.SubscriptionFilter{ToolsListChanged: true, ResourceSubscriptions: uris}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc.stop = stop
	select {
	case <-sc.acks:
	case <-time.After(5 * time.Second):
		t.Fatal("the listen stream was not acknowledged")
	}
}

// subscribe subscribes to uri: resources/subscribe on 2025-11-25, a listen
// stream naming uri on 2026-07-28.
func (sc *subClient) subscribe(t *testing.T, uri string) {
	t.Helper()
	if mcpgo.IsModernProtocol(sc.era) {
		sc.listen(t, uri)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	//lint:ignore SA1019 resources/subscribe is the 2025-11-25 way, under test.
	if err := sc.c.Subscribe(ctx, mcpgo.SubscribeRequest{Params: mcpgo.SubscribeParams{URI: uri}}); err != nil {
		t.Fatalf("subscribe %s: %v", uri, err)
	}
}

// unsubscribe ends the subscription of uri.
func (sc *subClient) unsubscribe(t *testing.T, uri string) {
	t.Helper()
	if mcpgo.IsModernProtocol(sc.era) {
		sc.listen(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	//lint:ignore SA1019 resources/unsubscribe is the 2025-11-25 way, under test.
	if err := sc.c.Unsubscribe(ctx, mcpgo.UnsubscribeRequest{Params: mcpgo.UnsubscribeParams{URI: uri}}); err != nil {
		t.Fatalf("unsubscribe %s: %v", uri, err)
	}
}

// close ends the client: the listen stream, then the session (DELETE).
func (sc *subClient) close() {
	if sc.stop != nil {
		sc.stop()
		sc.stop = nil
	}
	_ = sc.c.Close()
}

func (sc *subClient) expectUpdate(t *testing.T, uri string) {
	t.Helper()
	select {
	case got := <-sc.updates:
		if got != uri {
			t.Fatalf("update of %q, want %q", got, uri)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no update of %s reached the subscribed client", uri)
	}
}

func (sc *subClient) expectNone(t *testing.T) {
	t.Helper()
	select {
	case got := <-sc.updates:
		t.Fatalf("unexpected update of %q", got)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestMCPResourceSubscriptions: through Junction, on both downstream eras
// and against upstreams of both eras, a subscribed client gets each update
// of its resource and a client that did not subscribe gets none; the
// upstream is subscribed once for several downstream subscribers, and
// unsubscribed when the last one unsubscribes or goes away. A key that may
// not see the upstream is refused.
func TestMCPResourceSubscriptions(t *testing.T) {
	upstreams := map[string]*mcptest.HTTPServer{
		"newweb": mcptest.StartHTTP(t, mcptest.WithName("newweb"), mcptest.WithResourceSubscriptions()),
		"oldweb": mcptest.StartHTTP(t, mcptest.WithName("oldweb"), mcptest.WithResourceSubscriptions()),
	}
	for name, h := range upstreams {
		h.Server.SetText("mcptest://"+name+"/doc", "v1")
	}
	g := startGateway(t, func(c *Config) {
		c.Servers = []registry.ServerConfig{
			{Name: "newweb", Transport: registry.TransportStreamableHTTP, URL: upstreams["newweb"].URL},
			{Name: "oldweb", Transport: registry.TransportStreamableHTTP, URL: upstreams["oldweb"].URL, ProtocolVersion: "2025-11-25"},
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", tail(g.Logs.String(), 6000))
		}
	})
	key := callerKey(t, g)
	_, limited, err := g.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "newweb-only", Tools: []string{"newweb/*"}})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "both upstreams ready", func() bool {
		n := 0
		for _, s := range g.servers.Statuses() {
			if s.State == registry.StateReady {
				n++
			}
		}
		return n == 2
	})
	url := g.URL + "/mcp"

	for _, era := range mcpEras {
		for _, up := range []string{"newweb", "oldweb"} {
			t.Run(era+"/"+up, func(t *testing.T) {
				h := upstreams[up]
				uri := "mcptest://" + up + "/doc"
				subscribers := func() int { return h.Server.Subscribers(uri) }

				a := subConnect(t, url, key, era)
				b := subConnect(t, url, key, era)
				a.subscribe(t, uri)
				testkit.Eventually(t, 5*time.Second, "upstream subscribed", func() bool { return subscribers() == 1 })
				if _, m := get(t, g.URL+"/metrics"); !strings.Contains(string(m), "junction_mcp_resource_subscriptions 1") {
					t.Error("metrics do not count the subscription")
				}
				h.Server.SetText(uri, "v2")
				a.expectUpdate(t, uri)
				b.expectNone(t)

				a.unsubscribe(t, uri)
				testkit.Eventually(t, 5*time.Second, "upstream unsubscribed", func() bool { return subscribers() == 0 })
				h.Server.SetText(uri, "v3")
				a.expectNone(t)

				// Two subscribers: one upstream subscription, both updated;
				// it ends when the last subscriber goes away.
				a.subscribe(t, uri)
				b.subscribe(t, uri)
				testkit.Eventually(t, 5*time.Second, "upstream subscribed", func() bool { return subscribers() == 1 })
				h.Server.SetText(uri, "v4")
				a.expectUpdate(t, uri)
				b.expectUpdate(t, uri)
				a.close()
				// A negative check: give a wrong unsubscribe upstream the
				// time it would take.
				time.Sleep(200 * time.Millisecond)
				if n := subscribers(); n != 1 {
					t.Fatalf("one of two subscribers left and the upstream has %d subscribers", n)
				}
				h.Server.SetText(uri, "v5")
				b.expectUpdate(t, uri)
				b.close()
				testkit.Eventually(t, 5*time.Second, "upstream unsubscribed after the last subscriber left", func() bool { return subscribers() == 0 })
			})
		}
	}

	// The legacy SSE transport: the session's event stream carries the
	// updates, and its end ends the subscription.
	t.Run("sse", func(t *testing.T) {
		h := upstreams["oldweb"]
		uri := "mcptest://oldweb/doc"
		c, err := client.NewSSEMCPClient(g.URL+"/sse", transport.WithHeaders(map[string]string{"Authorization": "Bearer " + key}))
		if err != nil {
			t.Fatal(err)
		}
		updates := make(chan string, 4)
		c.OnNotification(func(n mcpgo.JSONRPCNotification) {
			if n.Method == mcpgo.MethodNotificationResourceUpdated {
				u, _ := n.Params.AdditionalFields["uri"].(string)
				updates <- u
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		init := mcpgo.InitializeRequest{}
		init.Params.ProtocolVersion = "2025-11-25"
		init.Params.ClientInfo = mcpgo.Implementation{Name: "sse-test", Version: "1"}
		if _, err := c.Initialize(ctx, init); err != nil {
			t.Fatal(err)
		}
		//lint:ignore SA1019 resources/subscribe is the 2025-11-25 way, under test.
		if err := c.Subscribe(ctx, mcpgo.SubscribeRequest{Params: mcpgo.SubscribeParams{URI: uri}}); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 5*time.Second, "upstream subscribed", func() bool { return h.Server.Subscribers(uri) == 1 })
		h.Server.SetText(uri, "sse")
		select {
		case got := <-updates:
			if got != uri {
				t.Errorf("update of %q", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no update on the SSE stream")
		}
		// A refused subscription fails the request.
		//lint:ignore SA1019 resources/subscribe is the 2025-11-25 way, under test.
		if err := c.Subscribe(ctx, mcpgo.SubscribeRequest{Params: mcpgo.SubscribeParams{URI: ""}}); err == nil {
			t.Error("subscribing to an empty URI succeeded")
		}
		_ = c.Close()
		testkit.Eventually(t, 5*time.Second, "upstream unsubscribed after the SSE stream ended", func() bool { return h.Server.Subscribers(uri) == 0 })
	})

	t.Run("denied", func(t *testing.T) {
		c := mcpConnect(t, url, limited, mcpEras[0])
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		//lint:ignore SA1019 resources/subscribe is the 2025-11-25 way, under test.
		err := c.Subscribe(ctx, mcpgo.SubscribeRequest{Params: mcpgo.SubscribeParams{URI: "mcptest://oldweb/doc"}})
		if err == nil || !strings.Contains(err.Error(), "oldweb") {
			t.Errorf("subscribing to another server's resource: %v", err)
		}
		if n := upstreams["oldweb"].Server.Subscribers("mcptest://oldweb/doc"); n != 0 {
			t.Errorf("the denied subscription reached the upstream (%d subscribers)", n)
		}
		//lint:ignore SA1019 resources/subscribe is the 2025-11-25 way, under test.
		if err := c.Subscribe(ctx, mcpgo.SubscribeRequest{Params: mcpgo.SubscribeParams{URI: "mcptest://newweb/doc"}}); err != nil {
			t.Errorf("subscribing to a visible resource: %v", err)
		}
	})
}
