package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawRequest sends head (a request line and headers, without the final blank
// line) and body as bytes on a new TCP connection to addr, so the server sees
// exactly what a hostile client wrote: no client-side path cleaning or
// escaping. It returns the status and body.
func rawRequest(t *testing.T, addr, head, body string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := head + "\r\nConnection: close\r\n"
	if body != "" {
		msg += "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	msg += "\r\n" + body
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: reading the response: %v", head, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPathTricksNeverSkipAuthentication sends raw request lines that peers'
// gateways mis-normalised into auth bypasses (double slashes, dot segments,
// encoded dots and slashes, trailing slashes, case, absolute-form targets,
// Host and X-Forwarded-* / X-Original-URL headers) to the full router on a
// real connection. Every one is answered 400, 401 or 404 (or 405), never
// with the protected data: what auth checks and what routing serves agree.
func TestPathTricksNeverSkipAuthentication(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) {
		// Wrong keys are part of the table; keep the throttle out of the way.
		c.HTTP.AuthThrottle = AuthThrottleConfig{SlowAfter: 1000, BlockAfter: 1000}
	})
	resp, raw := adminDo(t, http.MethodPost, g.URL+"/admin/v1/keys", map[string]any{"name": "caller"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create key: %d %s", resp.StatusCode, raw)
	}
	callerKey := strings.Split(strings.Split(string(raw), `"key":"`)[1], `"`)[0]
	addr := strings.TrimPrefix(g.URL, "http://")

	// Admin data an answer must never carry without the admin key.
	adminMarkers := []string{"uptime_seconds", "schema_version", `"data"`, `"hint"`, "jk-"}
	// What /v1/key answers to an authenticated caller.
	callerMarkers := []string{`"budgets"`, `"limits"`, `"key":{`}

	// want is the answer without the admin key; a target that only a
	// caller route can match answers the caller's key with 404 instead.
	adminTargets := []struct {
		target string
		want   int
	}{
		{"/admin/v1/keys", 401},
		{"/admin/v1/status", 401},
		{"//admin/v1/keys", 404},
		{"///admin/v1/keys", 404},
		{"/admin//v1/keys", 404},
		{"/admin/v1//keys", 401},
		{"/admin/v1/keys/", 401},
		{"/admin/v1/status/", 401},
		{"/admin/v1", 401},
		{"/admin/v1/", 401},
		{"/admin/v1/../v1/keys", 401},
		{"/admin/v1/./keys", 401},
		{"/admin/./v1/keys", 404},
		{"/x/../admin/v1/keys", 404},
		{"/v1/../admin/v1/keys", 401},
		{"/healthz/../admin/v1/keys", 404},
		{"/admin/v1/%2e%2e/v1/keys", 401},
		{"/%2e%2e/admin/v1/keys", 404},
		{"/admin/v1/%2E%2E/%2E%2E/admin/v1/keys", 401},
		{"/admin/v1/%252e%252e/keys", 401},
		{"/admin%2Fv1%2Fkeys", 404},
		{"/admin%2fv1/keys", 404},
		{"/admin/v1%2Fkeys", 404},
		{"/%2Fadmin/v1/keys", 404},
		{"/%61dmin/v1/keys", 404},
		{"/admin/v1/key%73", 401},
		{"/ADMIN/v1/keys", 404},
		{"/Admin/V1/Keys", 404},
		{"/admin/V1/keys", 404},
		{"/admin/v1/KEYS", 401},
		{"/admin/v1/keys;x=1", 401},
		{"/admin/v1/keys%00", 401},
		{"/admin/v1/keys%20", 401},
		{"/admin/v1/keys?x=../../healthz", 401},
		{"/admin/v1/keys#frag", 401},
		{`/admin\v1\keys`, 404},
		{"/admin/v1\\keys", 404},
		{"http://127.0.0.1/admin/v1/keys", 401},
		{"http://evil.example//admin/v1/keys", 404},
		{"*", 404},
	}
	for _, tc := range adminTargets {
		for _, who := range []struct{ name, header string }{
			{"no key", ""},
			{"a caller's virtual key", "\r\nAuthorization: Bearer " + callerKey},
			{"a wrong admin key", "\r\nAuthorization: Bearer jadm-not-the-admin-key"},
		} {
			for _, method := range []string{"GET", "POST", "DELETE", "HEAD"} {
				head := method + " " + tc.target + " HTTP/1.1\r\nHost: " + addr + who.header
				status, body := rawRequest(t, addr, head, "")
				want := tc.want
				if who.header != "" && strings.Contains(who.header, callerKey) && strings.HasPrefix(tc.target, "/v1/") {
					want = 404
				}
				if status != want && !(status == 405 && want == 404) {
					t.Errorf("%s %s with %s: %d, want %d: %s", method, tc.target, who.name, status, want, body)
				}
				for _, m := range adminMarkers {
					if strings.Contains(body, m) {
						t.Errorf("%s %s with %s leaks %q: %s", method, tc.target, who.name, m, body)
					}
				}
			}
		}
	}

	// Headers that some proxies and frameworks trust to rewrite the path or
	// the origin change nothing here.
	for _, h := range []string{
		"X-Original-URL: /admin/v1/keys",
		"X-Rewrite-URL: /admin/v1/keys",
		"X-Forwarded-Prefix: /admin/v1",
		"X-Forwarded-Path: /admin/v1/keys",
		"X-Forwarded-For: 127.0.0.1",
		"X-Forwarded-Host: localhost",
		"X-Forwarded-Proto: https",
		"X-Real-IP: 127.0.0.1",
		"Forwarded: for=127.0.0.1;host=localhost",
	} {
		for _, tc := range []struct {
			target string
			want   int
		}{{"/admin/v1/keys", 401}, {"/healthz", 200}, {"/nope", 404}} {
			for _, host := range []string{addr, "localhost", "127.0.0.1", "admin"} {
				status, body := rawRequest(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: "+host+"\r\n"+h, "")
				if status != tc.want {
					t.Errorf("GET %s, Host %s, %s: %d, want %d: %s", tc.target, host, h, status, tc.want, body)
				}
				for _, m := range adminMarkers {
					if strings.Contains(body, m) {
						t.Errorf("GET %s, Host %s, %s leaks %q: %s", tc.target, host, h, m, body)
					}
				}
			}
		}
	}
	// HTTP/1.0 with no Host at all.
	if status, body := rawRequest(t, addr, "GET /admin/v1/keys HTTP/1.0", ""); status != 401 {
		t.Errorf("HTTP/1.0 without Host: %d %s", status, body)
	}

	// /v1 and /mcp: no path form reaches a handler without a key.
	callerTargets := []struct {
		method, target string
		want           int
	}{
		{"GET", "/v1/key", 401},
		{"GET", "//v1/key", 404},
		{"GET", "/v1//key", 401},
		{"GET", "/v1/key/", 401},
		{"GET", "/v1/./key", 401},
		{"GET", "/v1/../v1/key", 401},
		{"GET", "/x/../v1/key", 404},
		{"GET", "/v1/%2e%2e/v1/key", 401},
		{"GET", "/v1%2Fkey", 404},
		{"GET", "/%761/key", 404},
		{"GET", "/V1/key", 404},
		{"GET", "/v1/KEY", 401},
		{"GET", "/v1/models", 401},
		{"GET", "/v1/models/", 401},
		{"POST", "/v1/chat/completions", 401},
		{"POST", "/v1/chat/completions/", 401},
		{"POST", "/v1//chat/completions", 401},
		{"POST", "/v1/chat%2Fcompletions", 401},
		{"POST", "/v1/messages", 401},
		{"POST", "/v1/messages/", 401},
		{"POST", "/v1/embeddings", 401},
		{"GET", "http://127.0.0.1/v1/key", 401},
		{"POST", "/mcp", 401},
		{"POST", "/mcp/", 404},
		{"POST", "//mcp", 404},
		{"POST", "/MCP", 404},
		{"POST", "/mcp/any-toolset", 401},
		{"POST", "/mcp/..", 401},
		{"POST", "/mcp/%2e%2e", 401},
		{"POST", "/mcp%2F", 404},
		{"POST", "/mcp;x", 404},
		{"GET", "/mcp", 401},
		{"DELETE", "/mcp", 401},
		{"GET", "/sse", 401},
		{"GET", "/sse/", 404},
		{"POST", "/sse/message?sessionId=x", 401},
		{"POST", "/sse//message?sessionId=x", 404},
		{"POST", "/sse/message/?sessionId=x", 404},
	}
	const rpc = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for _, tc := range callerTargets {
		for _, extra := range []string{"", "X-Forwarded-For: 127.0.0.1", "X-Original-URL: /healthz", "Authorization: Basic " + callerKey} {
			head := tc.method + " " + tc.target + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: application/json, text/event-stream"
			if extra != "" {
				head += "\r\n" + extra
			}
			body := ""
			if tc.method == "POST" {
				body = rpc
			}
			status, got := rawRequest(t, addr, head, body)
			if status != tc.want && !(status == 405 && tc.want == 404) {
				t.Errorf("%s %s (%s): %d, want %d: %s", tc.method, tc.target, extra, status, tc.want, got)
			}
			for _, m := range append(callerMarkers, `"tools"`, `"result"`) {
				if strings.Contains(got, m) {
					t.Errorf("%s %s (%s) answered with data %q: %s", tc.method, tc.target, extra, m, got)
				}
			}
		}
	}
}
