package store

import (
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store/internal/testdb"
)

// backend makes fresh, empty databases of one driver for in-package tests
// (the conformance suite in storetest covers the public API).
type backend struct {
	name string
	// newConfig returns what Open needs to reach a new empty database that
	// is removed when t ends.
	newConfig func(t *testing.T) (cfg Config, dataDir string)
}

// backends returns SQLite and Postgres; the Postgres one skips the test when
// JUNCTION_TEST_POSTGRES is not set.
func backends() []backend {
	return []backend{
		{name: "sqlite", newConfig: func(t *testing.T) (Config, string) {
			return Config{}, t.TempDir()
		}},
		{name: "postgres", newConfig: func(t *testing.T) (Config, string) {
			dsn := testdb.PostgresSchema(t, testdb.PostgresDSN(t))
			return Config{Postgres: &PostgresConfig{DSN: dsn}}, ""
		}},
	}
}

// openT opens a store on cfg with the given migrations (both dialects) and
// closes it when t ends.
func openT(t *testing.T, cfg Config, dataDir string, ms []migration) *Store {
	t.Helper()
	s, err := open(t.Context(), cfg, dataDir, bothDialects(ms))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	testkit.CloseAtEnd(t, "Close", s)
	return s
}

// openEmbeddedT opens a store with the real migrations, closed when t ends.
func openEmbeddedT(t *testing.T, cfg Config, dataDir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), cfg, dataDir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	testkit.CloseAtEnd(t, "Close", s)
	return s
}

// bothDialects uses ms, written in SQL both databases accept, for each.
func bothDialects(ms []migration) map[dialect][]migration {
	return map[dialect][]migration{dialectSQLite: ms, dialectPostgres: ms}
}
