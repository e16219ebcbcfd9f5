package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/store/internal/testdb"
)

// blockTimeout is how long a test lets an operation that must not block run
// before calling it blocked. Generous: it only matters when the test fails.
const blockTimeout = 10 * time.Second

func TestSQLiteCreatesDefaultFile(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "nested", "data")
	s := openEmbeddedT(t, Config{}, dataDir)
	if s.Driver() != DriverSQLite {
		t.Errorf("Driver() = %q, want %q", s.Driver(), DriverSQLite)
	}
	path := filepath.Join(dataDir, DefaultSQLiteFile)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("default database file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode = %v, want 0600", perm)
	}
	dirInfo, err := os.Stat(dataDir)
	if err != nil {
		t.Fatalf("data dir: %v", err)
	}
	if perm := dirInfo.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("data dir mode = %v, want no group/other access", perm)
	}
}

func TestSQLiteExplicitPath(t *testing.T) {
	// Characters that are special in a file: URI must survive the round trip.
	path := filepath.Join(t.TempDir(), "odd dir?#%", "my store.db")
	s := openEmbeddedT(t, Config{SQLite: &SQLiteConfig{Path: path}}, "/nonexistent/data-dir-is-unused")
	if err := s.SetSetting(t.Context(), "k", "v"); err != nil {
		t.Fatalf("SetSetting: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the configured path: %v", err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "my store.db") {
			t.Errorf("unexpected file %q beside the database (mangled path?)", e.Name())
		}
	}
}

func TestSQLiteOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notAFile := filepath.Join(dir, "adir")
	if err := os.Mkdir(notAFile, 0o700); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		dataDir string
		wantErr string
	}{
		{"no path and no data dir", Config{}, "", "no database file"},
		{"path is a directory", Config{SQLite: &SQLiteConfig{Path: notAFile}}, "", "not a regular file"},
		{"parent is a file", Config{SQLite: &SQLiteConfig{Path: filepath.Join(blocker, "x.db")}}, "", "create directory"},
		{"invalid config", Config{SQLite: &SQLiteConfig{MaxReaders: -1}}, dir, "store.sqlite.max_readers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.cfg, tc.dataDir)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("Open error = %q, want a store: error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSQLiteConnectionSettings(t *testing.T) {
	s := openEmbeddedT(t, Config{SQLite: &SQLiteConfig{MaxReaders: 3}}, t.TempDir())
	ctx := t.Context()
	tests := []struct {
		pool, pragma, want string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "foreign_keys", "1"},
		{"writer", "synchronous", "1"}, // NORMAL
		{"writer", "busy_timeout", "5000"},
		{"writer", "query_only", "0"},
		{"reader", "journal_mode", "wal"},
		{"reader", "foreign_keys", "1"},
		{"reader", "busy_timeout", "5000"},
		{"reader", "query_only", "1"},
	}
	for _, tc := range tests {
		db := s.writer
		if tc.pool == "reader" {
			db = s.reader
		}
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Errorf("%s: PRAGMA %s: %v", tc.pool, tc.pragma, err)
			continue
		}
		if !strings.EqualFold(got, tc.want) {
			t.Errorf("%s: PRAGMA %s = %q, want %q", tc.pool, tc.pragma, got, tc.want)
		}
	}
	if got := s.writer.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", got)
	}
	if got := s.reader.Stats().MaxOpenConnections; got != 3 {
		t.Errorf("reader MaxOpenConnections = %d, want 3 (max_readers)", got)
	}
	if _, err := s.reader.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ('x', 'y', '2020-01-01')`); err == nil {
		t.Error("a write through the reader pool succeeded, want it refused (query_only)")
	}
}

func TestSQLiteDefaultReaderPool(t *testing.T) {
	s := openEmbeddedT(t, Config{}, t.TempDir())
	if got := s.reader.Stats().MaxOpenConnections; got != DefaultMaxReaders {
		t.Errorf("reader MaxOpenConnections = %d, want %d", got, DefaultMaxReaders)
	}
}

// TestSQLiteReadDuringWrite holds the store's only writer connection in an
// open write transaction: reads must still be answered, from the last
// committed state, because they use the reader pool and WAL.
func TestSQLiteReadDuringWrite(t *testing.T) {
	s := openEmbeddedT(t, Config{}, t.TempDir())
	ctx := t.Context()
	if err := s.SetSetting(ctx, "k", "committed"); err != nil {
		t.Fatal(err)
	}

	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if _, err := tx.ExecContext(ctx, qSettingUpsert.text(s.dialect), "k", "uncommitted", s.timestamp()); err != nil {
		t.Fatal(err)
	}

	readCtx, cancel := context.WithTimeout(ctx, blockTimeout)
	defer cancel()
	got, ok, err := s.Setting(readCtx, "k")
	if err != nil {
		t.Fatalf("Setting during a write transaction: %v (reads must not wait for the writer)", err)
	}
	if !ok || got != "committed" {
		t.Errorf("Setting during a write transaction = %q, %v; want the committed value", got, ok)
	}
	if err := s.Ping(readCtx); err != nil {
		t.Errorf("Ping during a write transaction: %v", err)
	}
	if _, err := s.SchemaVersion(readCtx); err != nil {
		t.Errorf("SchemaVersion during a write transaction: %v", err)
	}

	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Setting(ctx, "k"); err != nil || got != "uncommitted" {
		t.Errorf("Setting after commit = %q, %v; want the new value", got, err)
	}
}

// TestSQLiteReadDuringOtherProcessWrite holds a write transaction on another
// connection to the file, as a second process would.
func TestSQLiteReadDuringOtherProcessWrite(t *testing.T) {
	dir := t.TempDir()
	s := openEmbeddedT(t, Config{}, dir)
	ctx := t.Context()
	if err := s.SetSetting(ctx, "k", "committed"); err != nil {
		t.Fatal(err)
	}
	other := testdb.OpenSQLite(t, filepath.Join(dir, DefaultSQLiteFile))
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `UPDATE settings SET value = 'other' WHERE key = 'k'`); err != nil {
		t.Fatal(err)
	}

	readCtx, cancel := context.WithTimeout(ctx, blockTimeout)
	defer cancel()
	if got, _, err := s.Setting(readCtx, "k"); err != nil || got != "committed" {
		t.Errorf("Setting while another process writes = %q, %v; want %q", got, err, "committed")
	}

	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Setting(ctx, "k"); err != nil || got != "other" {
		t.Errorf("Setting after the other process committed = %q, %v; want %q", got, err, "other")
	}
}

func TestSQLiteCloseCheckpointsWAL(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := s.SetSetting(t.Context(), "k", strings.Repeat("x", i*100)); err != nil {
			t.Fatal(err)
		}
	}
	wal := filepath.Join(dir, DefaultSQLiteFile+"-wal")
	if info, err := os.Stat(wal); err != nil || info.Size() == 0 {
		t.Fatalf("before Close the WAL should hold the writes: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if info, err := os.Stat(wal); err == nil && info.Size() != 0 {
		t.Errorf("after Close the WAL is %d bytes, want it checkpointed away", info.Size())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat WAL: %v", err)
	}
}
