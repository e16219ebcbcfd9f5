package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// PostgresEnv names the environment variable holding the DSN of a Postgres
// database the tests may create schemas in.
const PostgresEnv = "JUNCTION_TEST_POSTGRES"

// cleanupTimeout bounds dropping a test schema.
const cleanupTimeout = 30 * time.Second

// PostgresDSN returns the DSN in $JUNCTION_TEST_POSTGRES, or skips t when it is
// not set.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skip(PostgresEnv + " not set: set it to a Postgres DSN, e.g. " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the Postgres tests")
	}
	return dsn
}

// PostgresSchema creates a schema with a random name in the database dsn
// points at, drops it (with everything in it) when t ends, and returns dsn
// with search_path set to that schema alone.
func PostgresSchema(t testing.TB, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", PostgresEnv, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	schema := "junction_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("testdb: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(dsn, schema)
}

// WithSearchPath returns dsn (URL or key=value form) with its search_path
// session parameter set to schema.
func WithSearchPath(dsn, schema string) string {
	return WithParam(dsn, "search_path", schema)
}

// WithParam returns dsn (URL or key=value form) with the parameter key set to
// value, which must not need quoting in the key=value form.
func WithParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return strings.TrimSpace(dsn) + " " + key + "=" + value
}

// OpenPostgres opens a raw handle on dsn, closed when t ends.
func OpenPostgres(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("testdb: open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// OpenSQLite opens a raw handle on the SQLite file at path, closed when t
// ends. Its connections wait up to 5 s for locks and write times the way the
// store does.
func OpenSQLite(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_busy_timeout=5000&_time_format=sqlite")
	if err != nil {
		t.Fatalf("testdb: open sqlite %s: %v", path, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
