package storetest

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/internal/testdb"
)

// Database is one empty database made for a single test.
type Database struct {
	// Config opens a Store on the database (with DataDir).
	Config store.Config
	// DataDir is the data dir to pass to store.Open.
	DataDir string
	// Raw reaches the same database outside any Store, for tests that inspect
	// or tamper with it. Only SQL valid in both dialects should be sent to it.
	Raw *sql.DB
}

// NewDatabase makes an empty database for t and removes it when t ends.
type NewDatabase func(t testing.TB) Database

// SQLite is a NewDatabase for SQLite: a zero Config, so the file is the
// default <data-dir>/junction.db in a fresh t.TempDir.
func SQLite(t testing.TB) Database {
	t.Helper()
	dir := t.TempDir()
	return Database{
		DataDir: dir,
		Raw:     testdb.OpenSQLite(t, filepath.Join(dir, store.DefaultSQLiteFile)),
	}
}

// Postgres returns a NewDatabase that gives each test its own schema, with a
// random name, in the database dsn points at, and drops it when the test ends.
func Postgres(dsn string) NewDatabase {
	return func(t testing.TB) Database {
		t.Helper()
		schemaDSN := testdb.PostgresSchema(t, dsn)
		return Database{
			Config: store.Config{Postgres: &store.PostgresConfig{DSN: schemaDSN, MaxConns: 8}},
			Raw:    testdb.OpenPostgres(t, schemaDSN),
		}
	}
}

// PostgresFromEnv returns Postgres($JUNCTION_TEST_POSTGRES), or skips t when
// the variable is not set.
func PostgresFromEnv(t testing.TB) NewDatabase {
	t.Helper()
	return Postgres(testdb.PostgresDSN(t))
}

// OpenStore opens a Store on db and closes it when t ends.
func OpenStore(t testing.TB, db Database) *store.Store {
	t.Helper()
	s := mustOpen(t, db)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	return s
}

// mustOpen opens a Store on db, failing t if it cannot.
func mustOpen(t testing.TB, db Database) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), db.Config, db.DataDir)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	return s
}

// closedStore opens a Store on db, stores settings in it and closes it: a
// run of the gateway that has ended.
func closedStore(t testing.TB, db Database, settings map[string]string) *store.Store {
	t.Helper()
	s := mustOpen(t, db)
	for k, v := range settings {
		if err := s.SetSetting(t.Context(), k, v); err != nil {
			t.Fatalf("SetSetting(%s): %v", k, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return s
}

// emptyAtFirst checks that list, on a new store, finds nothing.
func emptyAtFirst[T any](t testing.TB, what string, list func() ([]T, error)) {
	t.Helper()
	if got, err := list(); err != nil || len(got) != 0 {
		t.Fatalf("%s on an empty store = %v, %v; want none", what, got, err)
	}
}

// NewStore returns a migrated SQLite Store in a fresh t.TempDir, closed when
// t ends.
func NewStore(t testing.TB) *store.Store {
	t.Helper()
	return OpenStore(t, SQLite(t))
}
