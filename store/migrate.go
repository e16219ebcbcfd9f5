package store

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// migrationFiles holds every migration of both dialects. Each dialect has its
// own directory with files named NNNN_description.sql, numbered from 1 without
// gaps; the two directories must list the same versions.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string // file name, for error messages
	sql     string // one or more statements, applied in one transaction
}

// migrationName matches a migration file name and captures its version.
var migrationName = regexp.MustCompile(`^([0-9]+)_[a-z0-9_]+\.sql$`)

// loadMigrations reads the *.sql files of dir in fsys, ordered by version.
// It rejects bad names, duplicate or missing versions, and empty files, so a
// mistake in a new migration fails the tests rather than a deployment.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations %s: %w", dir, err)
	}
	var out []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("store: migration %s/%s: name must look like 0001_description.sql", dir, e.Name())
		}
		version, err := strconv.Atoi(m[1])
		if err != nil || version < 1 {
			return nil, fmt.Errorf("store: migration %s/%s: version must be a positive number", dir, e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s/%s: %w", dir, e.Name(), err)
		}
		if strings.TrimSpace(string(body)) == "" {
			return nil, fmt.Errorf("store: migration %s/%s is empty", dir, e.Name())
		}
		out = append(out, migration{version: version, name: e.Name(), sql: string(body)})
	}
	// fs.ReadDir sorts by name; sort by number so 10 follows 9 whatever the padding.
	slices.SortFunc(out, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i, m := range out {
		if m.version != i+1 {
			if i > 0 && m.version == out[i-1].version {
				return nil, fmt.Errorf("store: migrations %s/%s and %s share version %d", dir, out[i-1].name, m.name, m.version)
			}
			return nil, fmt.Errorf("store: migrations in %s: version %d is missing (found %s)", dir, i+1, m.name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: no migrations in %s", dir)
	}
	return out, nil
}

// embeddedMigrations loads each dialect's embedded migrations once.
var embeddedMigrations = sync.OnceValues(func() (map[dialect][]migration, error) {
	sqlite, err := loadMigrations(migrationFiles, "migrations/sqlite")
	if err != nil {
		return nil, err
	}
	postgres, err := loadMigrations(migrationFiles, "migrations/postgres")
	if err != nil {
		return nil, err
	}
	if len(sqlite) != len(postgres) {
		return nil, fmt.Errorf("store: migrations/sqlite has %d migrations but migrations/postgres has %d; "+
			"every schema change needs a file in both", len(sqlite), len(postgres))
	}
	return map[dialect][]migration{dialectSQLite: sqlite, dialectPostgres: postgres}, nil
})

// LatestSchemaVersion is the schema version this binary migrates databases
// to. It is 0 only if the embedded migrations are malformed, which the
// package's tests rule out.
func LatestSchemaVersion() int {
	ms, err := embeddedMigrations()
	if err != nil {
		return 0
	}
	return len(ms[dialectSQLite])
}

// createMigrationsTable is the bookkeeping table, created outside the numbered
// migrations because they are recorded in it.
var createMigrationsTable = map[dialect]string{
	dialectSQLite: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER   NOT NULL PRIMARY KEY,
    applied_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))
)`,
	dialectPostgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER     NOT NULL PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`,
}

// migrationLock serialises migrators on one Postgres schema across processes.
// The key is derived from the schema name, so databases in different schemas
// (e.g. parallel test runs) do not wait on each other. The lock is
// transaction-scoped: it is released by COMMIT or ROLLBACK, including when the
// connection dies.
const migrationLock = `SELECT pg_advisory_xact_lock(hashtextextended('junction.store.migrate:' || COALESCE(current_schema(), ''), 0))`

var (
	qSchemaVersion   = newQuery(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`)
	qRecordMigration = newQuery(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`)
)

// migrate brings the database up to the newest of ms, one transaction per
// migration. Concurrent migrators are safe: each step re-reads the version
// under the database's write lock (SQLite: BEGIN IMMEDIATE on the writer;
// Postgres: the advisory lock), so every migration is applied exactly once.
func (s *Store) migrate(ctx context.Context, ms []migration) error {
	for {
		done, err := s.migrateStep(ctx, ms)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateStep applies the next pending migration, if any, and reports whether
// the schema is now current.
func (s *Store) migrateStep(ctx context.Context, ms []migration) (done bool, err error) {
	latest := len(ms)
	err = s.inWriteTx(ctx, func(tx *sql.Tx) error {
		if s.dialect == dialectPostgres {
			if _, err := tx.ExecContext(ctx, migrationLock); err != nil {
				return fmt.Errorf("store: take migration lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, createMigrationsTable[s.dialect]); err != nil {
			return fmt.Errorf("store: create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, qSchemaVersion.text(s.dialect)).Scan(&current); err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		switch {
		case current > latest:
			return &SchemaTooNewError{Database: current, Binary: latest}
		case current == latest:
			done = true
			return nil
		}
		m := ms[current] // versions run 1..latest without gaps, so this is version current+1
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("store: apply migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, qRecordMigration.text(s.dialect), m.version, s.timestamp()); err != nil {
			return fmt.Errorf("store: record migration %s: %w", m.name, err)
		}
		return nil
	})
	return done, err
}
