package anthropic

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// serveHandler serves h on a loopback test server and returns its URL.
func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// testHTTPClient is an upstream client whose idle connections are closed at
// the end of the test.
func testHTTPClient(t *testing.T) *http.Client {
	client := &http.Client{Transport: chat.NewTransport(chat.TransportOptions{})}
	t.Cleanup(client.CloseIdleConnections)
	return client
}
