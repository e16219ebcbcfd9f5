package mcp

import (
	"context"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
	"github.com/junctionhq/junction/store/storetest"
)

// httpUpstream is an mcp-go server to serve over streamable HTTP, pinned to
// the 2025-11-25 era when legacy is set.
type httpUpstream struct {
	srv    *server.MCPServer
	legacy bool
}

// registerHTTPUpstreams serves each upstream on its own httptest server and
// registers them, by name, in a registry over a test store. Everything is
// closed when the test ends.
func registerHTTPUpstreams(t *testing.T, ups map[string]httpUpstream) *registry.Registry {
	t.Helper()
	urls := map[string]string{}
	for name, u := range ups {
		var opts []server.StreamableHTTPOption
		if u.legacy {
			opts = append(opts, server.WithStreamableHTTPProtocolVersions(legacyEra))
		}
		urls[name] = mcptest.ServeStreamable(t, u.srv, opts...)
	}
	reg, err := registry.New(context.Background(), registry.Options{Store: storetest.NewStore(t), SecretKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = reg.Close(ctx)
	})
	for name, url := range urls {
		if _, err := reg.CreateServer(context.Background(), registry.ServerConfig{Name: name, Transport: registry.TransportStreamableHTTP, URL: url}); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}
