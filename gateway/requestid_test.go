package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRequestIDIsNeverEchoedUnlessItIsAnID: a caller's X-Request-Id comes
// back only when it is made of [A-Za-z0-9._:-] and at most 128 long; anything
// else (markup, quotes, spaces, non-ASCII) is replaced by a fresh id, in the
// response header and in the log.
func TestRequestIDIsNeverEchoedUnlessItIsAnID(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	for _, good := range []string{
		"client-chosen-id.42",
		"0f8fad5b-d9cb-469f-a165-70867728950e",
		"trace:4bf92f3577b34da6_a3ce929d0e0e4736",
		strings.Repeat("x", 128),
		"7",
	} {
		resp, _ := get(t, g.URL+"/healthz", RequestIDHeader, good)
		if got := resp.Header.Get(RequestIDHeader); got != good {
			t.Errorf("sane id %q: got %q back", good, got)
		}
	}
	bad := []string{
		"<script>alert(1)</script>",
		`"><img src=x onerror=alert(1)>`,
		"id'with'quotes",
		"has space",
		"semi;colon",
		"slash/path",
		"percent%0d%0a",
		"ünïcödé",
		"back\\slash",
		"{json}",
		strings.Repeat("x", 129),
	}
	for _, id := range bad {
		resp, _ := get(t, g.URL+"/healthz", RequestIDHeader, id)
		got := resp.Header.Get(RequestIDHeader)
		if got == id || len(got) != 32 || strings.Trim(got, "0123456789abcdef") != "" {
			t.Errorf("unsafe id %q: got %q, want a fresh 32-hex id", id, got)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(g.Logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		rid, _ := m["request_id"].(string)
		for _, id := range bad {
			if rid == id || (len(id) > 8 && strings.Contains(line, id)) {
				t.Errorf("log line carries the caller's unsafe id %q: %s", id, line)
			}
		}
	}
	// An error answer carries the fresh id too.
	req := mustRequest(t, http.MethodGet, g.URL+"/admin/v1/status", nil)
	req.Header.Set(RequestIDHeader, "<b>x</b>")
	resp, _ := do(t, req)
	if got := resp.Header.Get(RequestIDHeader); got == "<b>x</b>" || len(got) != 32 {
		t.Errorf("401 echoes the unsafe id: %q", got)
	}
}
