package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBusyTimeout is how long a connection waits for another connection's
// lock (another Store on the same file, a checkpoint) before failing with
// SQLITE_BUSY.
const sqliteBusyTimeout = 5 * time.Second

// sqliteCloseTimeout bounds the optimise-and-checkpoint done by Close.
const sqliteCloseTimeout = 5 * time.Second

// sqliteWriterParams configure the single writer connection. The driver
// applies them on every new connection (see modernc.org/sqlite's Driver.Open).
//   - _txlock=immediate: BEGIN takes the write lock at once, so a transaction
//     that reads then writes cannot fail half-way with SQLITE_BUSY, and the
//     busy timeout applies to it.
//   - _synchronous=NORMAL: durable across application crashes; in WAL mode a
//     power loss can only lose the last transactions, never corrupt the file.
//   - _time_format=sqlite: time.Time is written as sortable text
//     ("2006-01-02 15:04:05.999999999-07:00") and read back by the driver from
//     columns declared TIMESTAMP.
func sqliteWriterParams() url.Values {
	return url.Values{
		"_txlock":       {"immediate"},
		"_busy_timeout": {strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)},
		"_foreign_keys": {"1"},
		"_synchronous":  {"NORMAL"},
		"_time_format":  {"sqlite"},
	}
}

// sqliteReaderParams configure the reader pool's connections. They open the
// file read-write but set PRAGMA query_only, which rejects every write. That
// is chosen over a mode=ro open because a read-only connection cannot create
// or recover the WAL's -shm index, which would make a reader reconnecting
// while no other connection is open fail; query_only gives the same guarantee
// for every statement the store sends.
func sqliteReaderParams() url.Values {
	return url.Values{
		"_busy_timeout": {strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)},
		"_foreign_keys": {"1"},
		"_query_only":   {"1"},
		"_time_format":  {"sqlite"},
	}
}

// openSQLite opens (creating if needed) the SQLite database cfg names, with a
// single writer connection and a bounded pool of readers.
func openSQLite(ctx context.Context, cfg SQLiteConfig, dataDir string) (*Store, error) {
	path := cfg.Path
	if path == "" {
		if dataDir == "" {
			return nil, errors.New("store: sqlite: no database file: set store.sqlite.path or a data dir")
		}
		path = filepath.Join(dataDir, DefaultSQLiteFile)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: resolve %s: %w", path, err)
	}
	if err := ensureSQLiteFile(abs); err != nil {
		return nil, err
	}

	writer, err := sql.Open("sqlite", sqliteDSN(abs, sqliteWriterParams()))
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: open %s: %w", abs, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := enableWAL(ctx, writer); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("store: sqlite: open %s: %w", abs, err)
	}

	reader, err := sql.Open("sqlite", sqliteDSN(abs, sqliteReaderParams()))
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("store: sqlite: open readers on %s: %w", abs, err)
	}
	maxReaders := cfg.MaxReaders
	if maxReaders == 0 {
		maxReaders = DefaultMaxReaders
	}
	reader.SetMaxOpenConns(maxReaders)
	reader.SetMaxIdleConns(maxReaders)
	if err := reader.PingContext(ctx); err != nil {
		_ = reader.Close()
		_ = writer.Close()
		return nil, fmt.Errorf("store: sqlite: open readers on %s: %w", abs, err)
	}
	return &Store{dialect: dialectSQLite, writer: writer, reader: reader, now: time.Now}, nil
}

// enableWAL switches the database to write-ahead logging, so readers and the
// writer do not block each other, before any reader connects. The mode is
// stored in the file, so later connections inherit it.
//
// Switching needs an exclusive lock, and SQLite reports SQLITE_BUSY at once,
// without waiting out busy_timeout, when another process holds the file at
// that moment (e.g. several replicas creating the database together), so the
// switch is retried for up to sqliteBusyTimeout.
func enableWAL(ctx context.Context, writer *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	delay := 5 * time.Millisecond
	for {
		var mode string
		err := writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			// WAL needs shared memory; on filesystems without it (some
			// network mounts) SQLite keeps the old mode without an error.
			return fmt.Errorf("journal mode is %q, not WAL; put the data dir on a local filesystem", mode)
		case !isSQLiteBusy(err) || time.Now().After(deadline):
			return fmt.Errorf("enable WAL: %w", err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("enable WAL: %w", ctx.Err())
		case <-timer.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// isSQLiteBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isSQLiteBusy(err error) bool {
	var sqliteErr *sqlite.Error
	return errors.As(err, &sqliteErr) && sqliteErr.Code()&0xff == sqlite3.SQLITE_BUSY
}

// ensureSQLiteFile creates path's directory (0700) and an empty database file
// (0600) when they do not exist. SQLite gives the -wal and -shm files the
// database file's permissions, so the whole database stays private.
func ensureSQLiteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: sqlite: create directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("store: sqlite: create %s: %w", path, err)
		}
		return nil
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("store: sqlite: create %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("store: sqlite: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("store: sqlite: %s is not a regular file", path)
	}
	return nil
}

// sqliteDSN returns a file: URI for the absolute path abs with params. The
// path is percent-encoded, so names containing '?', '#' or '%' are safe.
func sqliteDSN(abs string, params url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letters: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// checkpointSQLite copies the write-ahead log into the database file,
// truncating the log, so a closed database is one self-contained file. A
// checkpoint that cannot finish because another process is reading is not an
// error: the log stays valid. With optimize it first lets SQLite refresh its
// query planner statistics, which may write to the database, so it is only
// asked for on a database this binary migrated.
func checkpointSQLite(writer *sql.DB, optimize bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), sqliteCloseTimeout)
	defer cancel()
	if optimize {
		if _, err := writer.ExecContext(ctx, "PRAGMA optimize"); err != nil {
			return fmt.Errorf("store: sqlite: optimize: %w", err)
		}
	}
	var busy, logFrames, checkpointed int
	if err := writer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed); err != nil {
		return fmt.Errorf("store: sqlite: checkpoint: %w", err)
	}
	return nil
}
