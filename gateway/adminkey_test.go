package gateway

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/rs/zerolog"
)

// TestGeneratedAdminKeyNeverReachesTheLog: with no terminal to show it on,
// a generated admin key is written to <data>/admin.key with mode 0600 (an
// older file, or a symlink planted at the path, is replaced, not written
// through) and the log says where, never what.
func TestGeneratedAdminKeyNeverReachesTheLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, AdminKeyFile)
	decoy := filepath.Join(t.TempDir(), "decoy")
	if err := os.WriteFile(decoy, []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(decoy, path); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	g, err := New(context.Background(), Config{DataDir: dir}, Options{Logger: zerolog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())

	if strings.Contains(logs.String(), "jadm-") {
		t.Fatalf("the generated key reached the log:\n%s", logs)
	}
	if !strings.Contains(logs.String(), path) {
		t.Errorf("the log does not say where the key is:\n%s", logs)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want a regular file with 0600", path, fi.Mode())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	if !strings.HasPrefix(key, "jadm-") || !g.admin.Verify(key) {
		t.Fatalf("admin.key holds %q, which is not the admin key", key)
	}
	if d, _ := os.ReadFile(decoy); string(d) != "untouched\n" {
		t.Errorf("the symlink's target was written through: %q", d)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".admin.key-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// TestAdminKeyFileIsNotWrittenForAConfiguredKey: a configured key is the
// operator's own; nothing is generated or written.
func TestAdminKeyFileIsNotWrittenForAConfiguredKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g, err := New(context.Background(), Config{DataDir: dir, AdminKey: testAdminKey}, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	if _, err := os.Stat(filepath.Join(dir, AdminKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("admin.key written for a configured key: %v", err)
	}
}
