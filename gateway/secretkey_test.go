package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store/secret"
	"github.com/junctionhq/junction/store/storetest"
)

// writeSecretKey puts key into dir's secret.key, as an operator copying the
// first replica's key file would.
func writeSecretKey(t *testing.T, dir string, key []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantSecretKeyMismatch checks that err refuses the start for a secret key
// mismatch, saying to share JUNCTION_SECRET_KEY and naming the key file used.
func wantSecretKeyMismatch(t *testing.T, err error, dir string) {
	t.Helper()
	var mismatch *secret.MismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("start with another secret key: %v, want a secret key mismatch", err)
	}
	for _, want := range []string{secret.EnvVar, filepath.Join(dir, "secret.key")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %q: %v", want, err)
		}
	}
}

// TestReplicaWithAnotherSecretKeyRefusesToStart: two gateways on one
// Postgres, each with its own generated secret.key. The second refuses to
// start (it could not decrypt the provider the first stored through the
// API), saying to share JUNCTION_SECRET_KEY; with the first one's key file
// it starts and serves that provider's models.
func TestReplicaWithAnotherSecretKeyRefusesToStart(t *testing.T) {
	t.Parallel()
	db := storetest.PostgresFromEnv(t)(t)
	a := startGateway(t, func(c *Config) { c.Store = db.Config })
	resp, body := adminDo(t, http.MethodPost, a.URL+"/admin/v1/providers", map[string]any{
		"name": "api-added", "type": "openai", "base_url": "http://127.0.0.1:9/v1",
		"keys": []map[string]any{{"name": "main", "value": "sk-secret-0123456789"}},
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add provider: %d %s", resp.StatusCode, body)
	}

	dirB := t.TempDir()
	_, err := New(context.Background(), Config{DataDir: dirB, AdminKey: testAdminKey, Store: db.Config,
		Teams: []policy.TeamConfig{{Name: "from-b"}}}, Options{Logger: zerolog.Nop(), Terminal: io.Discard})
	wantSecretKeyMismatch(t, err, dirB)
	// Refused before it wrote anything: its file-managed team is not stored.
	teams, err := a.Store().ListResources(context.Background(), "team")
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range teams {
		if tm.Name == "from-b" {
			t.Errorf("the refused replica wrote its config to the store: %+v", tm)
		}
	}

	keyA, err := os.ReadFile(filepath.Join(a.cfg.DataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	dirC := t.TempDir()
	if err := os.WriteFile(filepath.Join(dirC, "secret.key"), keyA, 0o600); err != nil {
		t.Fatal(err)
	}
	c := startGateway(t, func(c *Config) { c.Store = db.Config; c.DataDir = dirC })
	resp, body = adminDo(t, http.MethodGet, c.URL+"/admin/v1/providers/api-added", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the replica sharing the key does not see the provider: %d %s", resp.StatusCode, body)
	}
}

// TestSecretKeyChangeIsRefusedOnSQLite: a single SQLite gateway whose
// secret.key was replaced (a restored backup, a wiped data dir) refuses to
// start rather than dropping its stored credentials.
func TestSecretKeyChangeIsRefusedOnSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := func() (*Gateway, error) {
		return New(context.Background(), Config{DataDir: dir, AdminKey: testAdminKey}, Options{Logger: zerolog.Nop(), Terminal: io.Discard})
	}
	g, err := start()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err = start()
	if err != nil {
		t.Fatalf("restart with the same key: %v", err)
	}
	if err := g.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, secret.KeySize)
	for i := range other {
		other[i] = byte(i + 1)
	}
	writeSecretKey(t, dir, other)
	_, err = start()
	wantSecretKeyMismatch(t, err, dir)
}
