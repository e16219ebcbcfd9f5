package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Store is Junction's persistent state in SQLite or Postgres. It is safe for
// concurrent use. Open one per process and Close it on shutdown.
type Store struct {
	dialect dialect

	// writer takes every write. With SQLite it holds exactly one connection,
	// so writes are serialised in Go instead of contending for the file lock.
	writer *sql.DB
	// reader takes every read. With SQLite it is a separate, bounded pool of
	// query_only connections that never wait for the writer (WAL mode); with
	// Postgres it is the same pool as writer.
	reader *sql.DB
	// pgConfig is the parsed Postgres connection configuration, kept so that
	// each change-feed subscription can open its own LISTEN connection; nil
	// with SQLite.
	pgConfig *pgx.ConnConfig
	// changes fans configuration changes out to subscribers (see changes.go).
	changes changeFeed

	// now is the clock for timestamps the store writes.
	now func() time.Time
	// migrated is set once the schema is known to be current; a database
	// refused as too new is closed without any write. Set before Open returns,
	// read only by Close.
	migrated bool

	// closed is set as Close starts, so later calls fail fast with ErrClosed.
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // the result of the one real close, guarded by closeOnce
}

// Open opens the database cfg selects, creating it if needed, and applies any
// pending migrations before returning. dataDir is where the default SQLite file
// goes; it is unused when cfg names a Postgres database or an explicit SQLite
// path. ctx bounds the opening and migrating, not the Store's lifetime.
//
// Open fails with a [SchemaTooNewError] (errors.Is ErrSchemaTooNew) if the
// database was migrated by a newer binary.
func Open(ctx context.Context, cfg Config, dataDir string) (*Store, error) {
	if errs := cfg.Validate("store"); len(errs) > 0 {
		return nil, fmt.Errorf("store: invalid config: %w", errors.Join(errs...))
	}
	ms, err := embeddedMigrations()
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg, dataDir, ms)
}

// open is Open with the migrations to apply given, so tests can supply their own.
func open(ctx context.Context, cfg Config, dataDir string, ms map[dialect][]migration) (*Store, error) {
	var (
		s   *Store
		err error
	)
	if cfg.Postgres != nil {
		s, err = openPostgres(ctx, *cfg.Postgres)
	} else {
		var sc SQLiteConfig
		if cfg.SQLite != nil {
			sc = *cfg.SQLite
		}
		s, err = openSQLite(ctx, sc, dataDir)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, ms[s.dialect]); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.migrated = true
	return s, nil
}

// Driver returns the database driver in use: "sqlite" or "postgres".
func (s *Store) Driver() string { return s.dialect.String() }

// pingQuery is a cheap statement that still needs the database: SQLite reads
// the schema page of the file, Postgres makes a round trip to the server.
var pingQuery = map[dialect]string{
	dialectSQLite:   `SELECT COUNT(*) FROM sqlite_schema`,
	dialectPostgres: `SELECT 1`,
}

// Ping reports whether the database answers a query, for readiness checks.
// With SQLite it checks the reader pool; a long write does not fail it.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, pingQuery[s.dialect]).Scan(&n); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.dialect, err)
	}
	return nil
}

// SchemaVersion returns the number of the last migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	var v int
	if err := s.reader.QueryRowContext(ctx, qSchemaVersion.text(s.dialect)).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return v, nil
}

// Close ends every change-feed subscription (closing its channel and its
// listener connection), waits for queries in flight, checkpoints the SQLite
// write-ahead log into the database file and closes every connection. It is
// safe to call more than once and from several goroutines; every call returns
// the result of the first. Every other method returns ErrClosed once Close has
// begun.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.changes.close()
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

// closeDBs closes the pools; with SQLite the readers go first so the final
// checkpoint does not wait for them.
func (s *Store) closeDBs() error {
	if s.dialect == dialectPostgres {
		if err := s.writer.Close(); err != nil {
			return fmt.Errorf("store: close postgres: %w", err)
		}
		return nil
	}
	var errs []error
	if err := s.reader.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close sqlite readers: %w", err))
	}
	if err := checkpointSQLite(s.writer, s.migrated); err != nil {
		errs = append(errs, err)
	}
	if err := s.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close sqlite writer: %w", err))
	}
	return errors.Join(errs...)
}

// inWriteTx runs fn in a transaction on the writer and commits if fn returns
// nil. With SQLite the transaction takes the write lock at BEGIN (IMMEDIATE),
// so reads inside fn see the latest committed state and nothing can change it
// before COMMIT.
func (s *Store) inWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	// Rolls back on error and on panic; a no-op after Commit. Leaving a
	// transaction open would hold SQLite's only writer connection forever.
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// timestamp is the time the store records for a change: UTC, truncated to the
// microsecond so that both drivers return exactly what was written.
func (s *Store) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// queryAll runs query with args through q and reads every row with scan.
func queryAll[T any](ctx context.Context, q querier, query string, args []any, scan func(row scanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
