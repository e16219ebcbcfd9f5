package mcp

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// originPolicy guards the MCP endpoints against DNS rebinding and other
// cross-site use from browsers: a request carrying an Origin header must come
// from an allowed origin or from localhost. Requests without Origin are not
// made by a browser page and pass (they still need a key).
type originPolicy struct {
	any     bool
	allowed map[string]bool // normalised scheme://host[:port]
}

func newOriginPolicy(origins []string) (originPolicy, []error) {
	p := originPolicy{allowed: map[string]bool{}}
	var errs []error
	for i, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		n, ok := normalizeOrigin(o)
		if !ok {
			errs = append(errs, fmt.Errorf("allowed_origins[%d]: %q is not an origin (scheme://host[:port])", i, o))
			continue
		}
		p.allowed[n] = true
	}
	return p, errs
}

// normalizeOrigin lower-cases an origin and checks that it is one.
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(o), "/"))
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

func (p originPolicy) allows(origin string) bool {
	if origin == "" || p.any {
		return true
	}
	n, ok := normalizeOrigin(origin)
	if !ok {
		return false // includes "null", sent by sandboxed and file: pages
	}
	if p.allowed[n] {
		return true
	}
	u, _ := url.Parse(n)
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// wrap rejects requests from origins that are not allowed with 403.
func (p originPolicy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.allows(r.Header.Get("Origin")) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"origin not allowed: add it to the gateway's allowed origins"}}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
