package gateway

import (
	"net/http"
	"net/url"
	"testing"
)

// A name the client escapes more than it must (an @ is legal in a path
// segment, but some clients escape it) reaches the admin handlers decoded.
func TestAdminPathNamesAreDecoded(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	const name = "ops@acme"
	g.createTeam(t, map[string]any{"name": name})
	escaped := "/admin/v1/teams/" + url.QueryEscape(name) // ops%40acme
	g.admin(t, http.MethodGet, escaped, nil).want(t, http.StatusOK)
	g.admin(t, http.MethodGet, "/admin/v1/teams/"+name, nil).want(t, http.StatusOK)
	g.admin(t, http.MethodDelete, escaped, nil).want(t, http.StatusNoContent)
	g.admin(t, http.MethodGet, "/admin/v1/teams/"+name, nil).want(t, http.StatusNotFound)
}
