package anthropic

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// serveHandler serves h on a loopback test server and returns its URL.
func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
