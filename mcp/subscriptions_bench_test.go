package mcp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkSubscribeCheck measures what the resources/subscribe check in
// front of mcp-go costs a request that is not a subscription (a typical
// 2025-11-25 tools/call body): the body is read twice instead of once.
func BenchmarkSubscribeCheck(b *testing.B) {
	body := `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"web__echo","arguments":{"message":"hello through junction"},"_meta":{"progressToken":7}}}`
	sink := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.ReadAll(r.Body) })
	e := &endpoint{}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"without", sink}, {"with", e.subscribeCheck(sink, false)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			w := httptest.NewRecorder()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
				tc.h.ServeHTTP(w, r)
			}
		})
	}
}
