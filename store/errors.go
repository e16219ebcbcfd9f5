package store

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound reports that the row an operation needed does not exist.
// Test for it with errors.Is.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by every method called after [Store.Close].
var ErrClosed = errors.New("store: closed")

// ErrSchemaTooNew matches (with errors.Is) every [SchemaTooNewError].
var ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")

// SchemaTooNewError is returned by [Open] when the database has migrations
// applied that this binary does not know, i.e. it was last opened by a newer
// Junction. The database is left untouched: run the newer binary, or restore a
// backup taken before the upgrade.
type SchemaTooNewError struct {
	// Database is the schema version recorded in the database.
	Database int
	// Binary is the newest schema version this binary can migrate to.
	Binary int
}

// Error describes the version mismatch and what to do about it.
func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("store: database schema version %d is newer than this binary supports (%d); "+
		"run a Junction release that knows version %d, the database was not modified", e.Database, e.Binary, e.Database)
}

// Unwrap makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaTooNewError) Unwrap() error { return ErrSchemaTooNew }

// ErrConflict reports that a write would duplicate a unique id or name (or,
// for policy rules, an identical rule) that already exists. Test for it with
// errors.Is.
var ErrConflict = errors.New("store: conflict")

// ErrReadOnly reports an attempt to change an entry managed by the
// configuration file (source [SourceFile]) where the store itself enforces
// that such entries are read-only ([Store.RemovePolicyRule]).
var ErrReadOnly = errors.New("store: file-managed entry is read-only")

// isUniqueViolation reports whether err is a database's refusal of a
// duplicate primary key or unique value.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgUniqueViolation
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		code := sqliteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// pgUniqueViolation is Postgres' SQLSTATE unique_violation.
const pgUniqueViolation = "23505"
