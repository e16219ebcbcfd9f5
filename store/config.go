package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Defaults applied by [Open] to zero-valued fields.
const (
	// DefaultSQLiteFile is the database file name inside the data dir.
	DefaultSQLiteFile = "junction.db"
	// DefaultMaxReaders is the default size of the SQLite reader pool.
	DefaultMaxReaders = 4
	// DefaultPostgresMaxConns is the default size of the Postgres connection pool.
	DefaultPostgresMaxConns = 10
)

// Config selects the driver and configures it. The zero value means SQLite at
// <data-dir>/junction.db. Setting both SQLite and Postgres is a validation
// error.
type Config struct {
	// SQLite configures the embedded database (the default when Postgres is nil).
	SQLite *SQLiteConfig `yaml:"sqlite,omitempty"`
	// Postgres, when set, stores everything in one Postgres database that any
	// number of replicas may share.
	Postgres *PostgresConfig `yaml:"postgres,omitempty"`
}

// SQLiteConfig configures the embedded SQLite database.
type SQLiteConfig struct {
	// Path is the database file. Empty means <data-dir>/junction.db. A relative
	// path is relative to the working directory. The file and its directory are
	// created when absent (file mode 0600, directory 0700). The -wal and -shm
	// files live beside it.
	Path string `yaml:"path,omitempty"`
	// MaxReaders bounds the pool of read-only connections. 0 means 4. Writes
	// always go through a single connection.
	MaxReaders int `yaml:"max_readers,omitempty"`
}

// PostgresConfig configures the Postgres database.
type PostgresConfig struct {
	// DSN is a libpq-style connection string, as a URL
	// (postgres://user:pass@host:5432/db?sslmode=require) or as key=value pairs.
	// Any other parameter, e.g. search_path=junction, is sent to the server as a
	// session setting. Required.
	DSN string `yaml:"dsn"`
	// MaxConns bounds the connection pool. 0 means 10.
	MaxConns int `yaml:"max_conns,omitempty"`
}

// Validate returns every problem with c, each message prefixed with the YAML
// path of the offending field below path (e.g. Validate("store") reports
// "store.postgres.dsn: required"). It returns nil when c is valid.
func (c Config) Validate(path string) []error {
	var errs []error
	if c.SQLite != nil && c.Postgres != nil {
		errs = append(errs, fmt.Errorf("%s: set either sqlite or postgres, not both", orRoot(path)))
	}
	if c.SQLite != nil {
		errs = append(errs, c.SQLite.validate(join(path, "sqlite"))...)
	}
	if c.Postgres != nil {
		errs = append(errs, c.Postgres.validate(join(path, "postgres"))...)
	}
	return errs
}

// validate returns every problem with c, prefixed with path.
func (c SQLiteConfig) validate(path string) []error {
	var errs []error
	p := strings.TrimSpace(c.Path)
	switch {
	case c.Path != "" && p == "":
		errs = append(errs, fmt.Errorf("%s: is blank", join(path, "path")))
	case p == ":memory:" || strings.HasPrefix(p, "file:"):
		errs = append(errs, fmt.Errorf("%s: must be a file path, not %q (in-memory and URI databases are not supported)",
			join(path, "path"), p))
	case strings.ContainsRune(c.Path, 0):
		errs = append(errs, fmt.Errorf("%s: contains a NUL byte", join(path, "path")))
	case c.Path != "" && (strings.HasSuffix(c.Path, "/") || strings.HasSuffix(c.Path, string(filepath.Separator))):
		errs = append(errs, fmt.Errorf("%s: names a directory; give the database file, e.g. %s",
			join(path, "path"), filepath.Join(c.Path, DefaultSQLiteFile)))
	}
	if c.MaxReaders < 0 {
		errs = append(errs, fmt.Errorf("%s: must not be negative (0 means %d), got %d",
			join(path, "max_readers"), DefaultMaxReaders, c.MaxReaders))
	}
	return errs
}

// validate returns every problem with c, prefixed with path.
func (c PostgresConfig) validate(path string) []error {
	var errs []error
	if strings.TrimSpace(c.DSN) == "" {
		errs = append(errs, fmt.Errorf("%s: required", join(path, "dsn")))
	} else if _, err := parsePostgresDSN(c.DSN); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", join(path, "dsn"), err))
	}
	if c.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("%s: must not be negative (0 means %d), got %d",
			join(path, "max_conns"), DefaultPostgresMaxConns, c.MaxConns))
	}
	return errs
}

// errInvalidDSN is deliberately vague: pgx's parse errors quote the connection
// string, and a DSN usually carries a password.
var errInvalidDSN = errors.New("cannot parse connection string " +
	"(expected postgres://user:password@host:port/database?param=value or key=value pairs; " +
	"the string is not shown because it may hold a password)")

// parsePostgresDSN parses dsn without leaking it into the error.
func parsePostgresDSN(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// A file named by the DSN (sslrootcert, sslcert, passfile...) that
		// cannot be read is worth naming: paths are not secrets.
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			return nil, fmt.Errorf("cannot read %s named in the connection string: %w", pathErr.Path, pathErr.Err)
		}
		return nil, errInvalidDSN
	}
	return cfg, nil
}

// join appends field to the YAML path prefix.
func join(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

// orRoot names the config root when path is empty.
func orRoot(path string) string {
	if path == "" {
		return "store"
	}
	return path
}
