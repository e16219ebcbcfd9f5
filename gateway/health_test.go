package gateway

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/junctionhq/junction/store/storetest"
)

// readyBody is /readyz's answer.
type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// statusChecks is the checks part of GET /admin/v1/status.
type statusChecks struct {
	Checks map[string]dependencyCheck `json:"checks"`
}

// TestReadyzDoesNotLeakDatabaseDetail: with Postgres down, the
// unauthenticated /readyz says only that the store is unavailable, while the
// admin status route keeps the driver's detail for the operator.
func TestReadyzDoesNotLeakDatabaseDetail(t *testing.T) {
	t.Parallel()
	db := storetest.PostgresFromEnv(t)(t)
	u, err := url.Parse(db.Config.Postgres.DSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := storetest.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	g := startGateway(t, func(c *Config) {
		c.Store = db.Config
		pg := *db.Config.Postgres
		pg.DSN = u.String()
		c.Store.Postgres = &pg
	})
	if resp, body := get(t, g.URL+"/readyz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz with Postgres up: %d %s", resp.StatusCode, body)
	}

	proxy.Stop()
	resp, body := get(t, g.URL+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with Postgres down: %d %s", resp.StatusCode, body)
	}
	var ready readyBody
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("readyz body %s: %v", body, err)
	}
	if ready.Status != "unavailable" || len(ready.Checks) != 1 || ready.Checks["store"] != "unavailable" {
		t.Errorf("readyz body: %s", body)
	}
	_, port, _ := net.SplitHostPort(proxy.Addr())
	for _, secret := range []string{u.User.Username(), strings.TrimPrefix(u.Path, "/"), port, "127.0.0.1", "postgres", "user=", "database"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("readyz leaks %q: %s", secret, body)
		}
	}

	resp, body = get(t, g.URL+"/admin/v1/status", "Authorization", "Bearer "+testAdminKey)
	var st statusChecks
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &st) != nil {
		t.Fatalf("admin status with Postgres down: %d %s", resp.StatusCode, body)
	}
	if c := st.Checks["store"]; c.Status != "unavailable" || c.Driver != "postgres" || !strings.Contains(c.Error, port) {
		t.Errorf("admin status lacks the store's detail: %s", body)
	}
}

// TestReadyzSaysOnlyWhichDependencyFailed pins /readyz's whole answer, on a
// store that is closed, so nothing but the check's name and state is shown.
func TestReadyzSaysOnlyWhichDependencyFailed(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	resp, body := get(t, g.URL+"/readyz")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"checks":{"store":"ok"},"status":"ok"}` {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	if err := g.store.Close(); err != nil {
		t.Fatal(err)
	}
	resp, body = get(t, g.URL+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable ||
		strings.TrimSpace(string(body)) != `{"checks":{"store":"unavailable"},"status":"unavailable"}` {
		t.Fatalf("readyz with a closed store: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(g.Logs.String(), "readiness check failed") {
		t.Errorf("the failed check is not logged:\n%s", g.Logs.String())
	}
	resp, body = get(t, g.URL+"/admin/v1/status", "Authorization", "Bearer "+testAdminKey)
	var st statusChecks
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &st) != nil || st.Checks["store"].Error == "" {
		t.Fatalf("admin status with a closed store: %d %s", resp.StatusCode, body)
	}
}
