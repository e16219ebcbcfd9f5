package gateway

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/junctionhq/junction/store/storetest"
)

// tcpProxy forwards connections to a target address until it is stopped, so
// a test can take a dependency away from a running gateway.
type tcpProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex // guards conns
	conns  []net.Conn
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// stop refuses new connections and cuts the open ones. Idempotent.
func (p *tcpProxy) stop() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

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
	proxy := startTCPProxy(t, u.Host)
	u.Host = proxy.addr()
	g := startGateway(t, func(c *Config) {
		c.Store = db.Config
		pg := *db.Config.Postgres
		pg.DSN = u.String()
		c.Store.Postgres = &pg
	})
	if resp, body := get(t, g.URL+"/readyz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz with Postgres up: %d %s", resp.StatusCode, body)
	}

	proxy.stop()
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
	_, port, _ := net.SplitHostPort(proxy.addr())
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
