package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Setting is one stored key/value fact.
type Setting struct {
	Key   string
	Value string
	// UpdatedAt is when Value was last written, in UTC.
	UpdatedAt time.Time
}

var (
	qSettingGet    = newQuery(`SELECT value FROM settings WHERE key = ?`)
	qSettingsList  = newQuery(`SELECT key, value, updated_at FROM settings`)
	qSettingUpsert = newQuery(`INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`)
	qSettingInsertIfAbsent = newQuery(`INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO NOTHING`)
	qSettingDelete = newQuery(`DELETE FROM settings WHERE key = ?`)
)

// setSettingIfAbsentAttempts bounds SetSettingIfAbsent's retries when the key
// is deleted between its insert and its read.
const setSettingIfAbsentAttempts = 5

// Setting returns the value stored under key; ok is false if there is none.
func (s *Store) Setting(ctx context.Context, key string) (value string, ok bool, err error) {
	if s.closed.Load() {
		return "", false, ErrClosed
	}
	if err := checkSettingText("key", key); err != nil {
		return "", false, err
	}
	return s.readSetting(ctx, s.reader, key)
}

// Settings returns every setting, ordered by key (byte order, whatever the
// database's collation).
func (s *Store) Settings(ctx context.Context) ([]Setting, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	out, err := queryAll(ctx, s.reader, qSettingsList.text(s.dialect), nil, func(row scanner) (Setting, error) {
		var st Setting
		err := row.Scan(&st.Key, &st.Value, &st.UpdatedAt)
		st.UpdatedAt = st.UpdatedAt.UTC()
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list settings: %w", err)
	}
	slices.SortFunc(out, func(a, b Setting) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// SetSetting stores value under key, replacing any previous value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkSetting(key, value); err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, qSettingUpsert.text(s.dialect), key, value, s.timestamp()); err != nil {
		return fmt.Errorf("store: set setting %q: %w", key, err)
	}
	return nil
}

// SetSettingIfAbsent stores value under key only if key has no value yet. It
// returns the value stored once it returns — value itself if this call stored
// it (created is true), else the value that was already there. Callers racing
// on one key, in one process or across replicas, all get the same value and
// exactly one of them gets created == true: the insert relies on the
// database's uniqueness check (INSERT ... ON CONFLICT DO NOTHING), never on a
// read-then-write.
func (s *Store) SetSettingIfAbsent(ctx context.Context, key, value string) (stored string, created bool, err error) {
	if s.closed.Load() {
		return "", false, ErrClosed
	}
	if err := checkSetting(key, value); err != nil {
		return "", false, err
	}
	for range setSettingIfAbsentAttempts {
		res, err := s.writer.ExecContext(ctx, qSettingInsertIfAbsent.text(s.dialect), key, value, s.timestamp())
		if err != nil {
			return "", false, fmt.Errorf("store: set setting %q if absent: %w", key, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return "", false, fmt.Errorf("store: set setting %q if absent: %w", key, err)
		}
		if n == 1 {
			return value, true, nil
		}
		// Someone else's value is committed. Read it through the writer so a
		// SQLite reader snapshot cannot lag behind the conflict just seen.
		stored, ok, err := s.readSetting(ctx, s.writer, key)
		if err != nil {
			return "", false, err
		}
		if ok {
			return stored, false, nil
		}
		// Deleted between the insert and the read: try to insert again.
	}
	return "", false, fmt.Errorf("store: set setting %q if absent: key kept being deleted concurrently after %d attempts",
		key, setSettingIfAbsentAttempts)
}

// DeleteSetting removes key and its value. It returns an error matching
// ErrNotFound if key had no value.
func (s *Store) DeleteSetting(ctx context.Context, key string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkSettingText("key", key); err != nil {
		return err
	}
	res, err := s.writer.ExecContext(ctx, qSettingDelete.text(s.dialect), key)
	if err != nil {
		return fmt.Errorf("store: delete setting %q: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: delete setting %q: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete setting %q: %w", key, ErrNotFound)
	}
	return nil
}

// readSetting reads key's value through db.
func (s *Store) readSetting(ctx context.Context, db *sql.DB, key string) (string, bool, error) {
	var value string
	err := db.QueryRowContext(ctx, qSettingGet.text(s.dialect), key).Scan(&value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("store: get setting %q: %w", key, err)
	}
	return value, true, nil
}

// ErrInvalidSetting reports a key or value the store refuses: an empty key,
// or text that is not valid UTF-8 or contains a NUL byte (which Postgres
// cannot store, so neither driver accepts it).
var ErrInvalidSetting = errors.New("store: invalid setting")

// checkSetting validates a key and a value.
func checkSetting(key, value string) error {
	if err := checkSettingText("key", key); err != nil {
		return err
	}
	return checkSettingText("value", value)
}

// checkSettingText validates one key (which must not be empty) or value.
func checkSettingText(what, text string) error {
	switch {
	case what == "key" && text == "":
		return fmt.Errorf("%w: empty key", ErrInvalidSetting)
	case !utf8.ValidString(text):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidSetting, what)
	case strings.IndexByte(text, 0) >= 0:
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalidSetting, what)
	}
	return nil
}
