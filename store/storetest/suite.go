package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/store"
)

// Run runs the conformance suite, each test on its own database from newDB.
// The tests run in parallel with each other.
func Run(t *testing.T, newDB NewDatabase) {
	tests := []struct {
		name string
		run  func(t *testing.T, newDB NewDatabase)
	}{
		{"MigratesFromEmpty", testMigratesFromEmpty},
		{"ReopenIsIdempotent", testReopenIsIdempotent},
		{"RefusesNewerSchema", testRefusesNewerSchema},
		{"ConcurrentOpens", testConcurrentOpens},
		{"SettingsRoundTrip", testSettingsRoundTrip},
		{"SettingOverwriteAndDelete", testSettingOverwriteAndDelete},
		{"SettingsList", testSettingsList},
		{"SettingValidation", testSettingValidation},
		{"SetSettingIfAbsent", testSetSettingIfAbsent},
		{"SetSettingIfAbsentConcurrent", testSetSettingIfAbsentConcurrent},
		{"CanceledContext", testCanceledContext},
		{"Close", testClose},
	}
	tests = append(tests, governanceTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newDB)
		})
	}
}

func testMigratesFromEmpty(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	s := OpenStore(t, db)

	latest := store.LatestSchemaVersion()
	if latest < 1 {
		t.Fatalf("LatestSchemaVersion() = %d, want >= 1", latest)
	}
	got, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if got != latest {
		t.Errorf("SchemaVersion = %d, want %d", got, latest)
	}
	if versions := appliedVersions(t, db); fmt.Sprint(versions) != fmt.Sprint(seq(latest)) {
		t.Errorf("schema_migrations versions = %v, want %v", versions, seq(latest))
	}
	var missingTimes int
	if err := db.Raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE applied_at IS NULL`).Scan(&missingTimes); err != nil {
		t.Fatalf("count applied_at: %v", err)
	}
	if missingTimes != 0 {
		t.Errorf("%d migrations have no applied_at", missingTimes)
	}

	wantDriver := store.DriverSQLite
	if db.Config.Postgres != nil {
		wantDriver = store.DriverPostgres
	}
	if s.Driver() != wantDriver {
		t.Errorf("Driver() = %q, want %q", s.Driver(), wantDriver)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping on an open store: %v", err)
	}
	if _, ok, err := s.Setting(ctx, "absent"); err != nil || ok {
		t.Errorf("Setting(absent) = ok %v, err %v; want not found, no error", ok, err)
	}
}

func testReopenIsIdempotent(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)

	closedStore(t, db, map[string]string{"kept": "across restarts"})
	before := migrationRows(t, db)

	for i := range 2 {
		s, err := store.Open(ctx, db.Config, db.DataDir)
		if err != nil {
			t.Fatalf("re-Open #%d: %v", i+1, err)
		}
		v, err := s.SchemaVersion(ctx)
		if err != nil {
			t.Fatalf("SchemaVersion: %v", err)
		}
		if v != store.LatestSchemaVersion() {
			t.Errorf("re-Open #%d: SchemaVersion = %d, want %d", i+1, v, store.LatestSchemaVersion())
		}
		if got, ok, err := s.Setting(ctx, "kept"); err != nil || !ok || got != "across restarts" {
			t.Errorf("re-Open #%d: Setting(kept) = %q, %v, %v; want %q", i+1, got, ok, err, "across restarts")
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if after := migrationRows(t, db); after != before {
		t.Errorf("schema_migrations changed by re-opening:\nbefore %s\nafter  %s", before, after)
	}
}

func testRefusesNewerSchema(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	closedStore(t, db, map[string]string{"k": "v"})

	// Pretend a newer binary migrated the database one step further.
	latest := store.LatestSchemaVersion()
	future := latest + 1
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO schema_migrations (version) VALUES (%d)`, future),
		`CREATE TABLE future_feature (id INTEGER PRIMARY KEY)`,
	} {
		if _, err := db.Raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("fake a newer schema: %s: %v", q, err)
		}
	}
	before := migrationRows(t, db)

	s2, err := store.Open(ctx, db.Config, db.DataDir)
	if err == nil {
		_ = s2.Close()
		t.Fatal("Open succeeded on a database with a newer schema, want an error")
	}
	if s2 != nil {
		t.Errorf("Open returned a non-nil *Store with error %v", err)
	}
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Errorf("error %v does not match store.ErrSchemaTooNew", err)
	}
	var tooNew *store.SchemaTooNewError
	if !errors.As(err, &tooNew) {
		t.Fatalf("error %v is not a *store.SchemaTooNewError", err)
	}
	if tooNew.Database != future || tooNew.Binary != latest {
		t.Errorf("SchemaTooNewError = {Database: %d, Binary: %d}, want {%d, %d}", tooNew.Database, tooNew.Binary, future, latest)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(future)) || !strings.Contains(msg, fmt.Sprint(latest)) {
		t.Errorf("error %q does not name both versions", msg)
	}

	// Untouched: same migration rows, the unknown table and the data still there.
	if after := migrationRows(t, db); after != before {
		t.Errorf("schema_migrations changed by the refused Open:\nbefore %s\nafter  %s", before, after)
	}
	var n int
	if err := db.Raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM future_feature`).Scan(&n); err != nil {
		t.Errorf("future_feature table after refused Open: %v", err)
	}
	var v string
	if err := db.Raw.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'k'`).Scan(&v); err != nil || v != "v" {
		t.Errorf("settings row after refused Open = %q, %v; want %q", v, err, "v")
	}
}

func testConcurrentOpens(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	const n = 6
	stores := make([]*store.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = store.Open(ctx, db.Config, db.DataDir)
		})
	}
	close(start)
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() { _ = s.Close() })
		}
		if errs[i] != nil {
			t.Errorf("concurrent Open #%d: %v", i, errs[i])
		}
	}
	if t.Failed() {
		return
	}
	latest := store.LatestSchemaVersion()
	for i, s := range stores {
		if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
			t.Errorf("store #%d: SchemaVersion = %d, %v; want %d", i, v, err, latest)
		}
	}
	if versions := appliedVersions(t, db); fmt.Sprint(versions) != fmt.Sprint(seq(latest)) {
		t.Errorf("schema_migrations versions = %v, want each of %v exactly once", versions, seq(latest))
	}
}

func testSettingsRoundTrip(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	tests := []struct {
		name, key, value string
	}{
		{"plain", "admin.key_hash", "sha256:0123456789abcdef"},
		{"empty value", "empty", ""},
		{"unicode", "grüße/キー", "значение ✓ 🚀"},
		{"quotes and SQL", "it's \"quoted\"", "'); DROP TABLE settings; --"},
		{"question marks", "what?", "? $1 ?"},
		{"whitespace", " spaced key ", "line1\nline2\t"},
		{"large value", "large", strings.Repeat("0123456789abcdef", 64<<10/16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetSetting(ctx, tc.key, tc.value); err != nil {
				t.Fatalf("SetSetting: %v", err)
			}
			got, ok, err := s.Setting(ctx, tc.key)
			if err != nil || !ok {
				t.Fatalf("Setting = ok %v, err %v; want found", ok, err)
			}
			if got != tc.value {
				t.Errorf("Setting = %q (len %d), want %q (len %d)", abbrev(got), len(got), abbrev(tc.value), len(tc.value))
			}
		})
	}
}

func testSettingOverwriteAndDelete(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))

	mustSet(t, s, "k", "one")
	mustSet(t, s, "k", "two")
	mustSet(t, s, "other", "untouched")
	if got, ok, err := s.Setting(ctx, "k"); err != nil || !ok || got != "two" {
		t.Errorf("after overwrite Setting(k) = %q, %v, %v; want %q", got, ok, err, "two")
	}

	if err := s.DeleteSetting(ctx, "k"); err != nil {
		t.Fatalf("DeleteSetting(k): %v", err)
	}
	if got, ok, err := s.Setting(ctx, "k"); err != nil || ok {
		t.Errorf("after delete Setting(k) = %q, %v, %v; want not found", got, ok, err)
	}
	if err := s.DeleteSetting(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSetting of an absent key = %v, want store.ErrNotFound", err)
	}
	if got, ok, err := s.Setting(ctx, "other"); err != nil || !ok || got != "untouched" {
		t.Errorf("Setting(other) = %q, %v, %v; want %q", got, ok, err, "untouched")
	}
	// A deleted key can be set again.
	mustSet(t, s, "k", "three")
	if got, _, _ := s.Setting(ctx, "k"); got != "three" {
		t.Errorf("after re-set Setting(k) = %q, want %q", got, "three")
	}
}

func testSettingsList(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))

	emptyAtFirst(t, "Settings", func() ([]store.Setting, error) { return s.Settings(ctx) })
	before := time.Now().UTC().Truncate(time.Microsecond)
	for _, k := range []string{"b", "a", "B", "c"} {
		mustSet(t, s, k, "value of "+k)
	}
	after := time.Now().UTC()

	list, err := s.Settings(ctx)
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	var keys []string
	for _, st := range list {
		keys = append(keys, st.Key)
		if st.Value != "value of "+st.Key {
			t.Errorf("Settings: %q has value %q", st.Key, st.Value)
		}
		if st.UpdatedAt.Location() != time.UTC {
			t.Errorf("Settings: %q UpdatedAt %v is not in UTC", st.Key, st.UpdatedAt)
		}
		if st.UpdatedAt.Before(before) || st.UpdatedAt.After(after) {
			t.Errorf("Settings: %q UpdatedAt %v not within [%v, %v]", st.Key, st.UpdatedAt, before, after)
		}
	}
	if want := "[B a b c]"; fmt.Sprint(keys) != want {
		t.Errorf("Settings keys = %v, want %s (byte order)", keys, want)
	}

	// Overwriting moves UpdatedAt forward (or leaves it, on a coarse clock).
	old := list[1].UpdatedAt // "a"
	mustSet(t, s, "a", "new")
	list, err = s.Settings(ctx)
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if list[1].Key != "a" || list[1].Value != "new" || list[1].UpdatedAt.Before(old) {
		t.Errorf("after overwrite: %+v, want a=new updated at or after %v", list[1], old)
	}
}

func testSettingValidation(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	tests := []struct {
		name, key, value string
		keyOnly          bool // the key is bad, so every method must refuse it
	}{
		{name: "empty key", key: "", value: "v", keyOnly: true},
		{name: "NUL in key", key: "a\x00b", value: "v", keyOnly: true},
		{name: "invalid UTF-8 key", key: "\xff\xfe", value: "v", keyOnly: true},
		{name: "NUL in value", key: "k", value: "a\x00b"},
		{name: "invalid UTF-8 value", key: "k", value: "ok\xc3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetSetting(ctx, tc.key, tc.value); !errors.Is(err, store.ErrInvalidSetting) {
				t.Errorf("SetSetting = %v, want store.ErrInvalidSetting", err)
			}
			if _, _, err := s.SetSettingIfAbsent(ctx, tc.key, tc.value); !errors.Is(err, store.ErrInvalidSetting) {
				t.Errorf("SetSettingIfAbsent = %v, want store.ErrInvalidSetting", err)
			}
			if !tc.keyOnly {
				return
			}
			if _, _, err := s.Setting(ctx, tc.key); !errors.Is(err, store.ErrInvalidSetting) {
				t.Errorf("Setting = %v, want store.ErrInvalidSetting", err)
			}
			if err := s.DeleteSetting(ctx, tc.key); !errors.Is(err, store.ErrInvalidSetting) {
				t.Errorf("DeleteSetting = %v, want store.ErrInvalidSetting", err)
			}
		})
	}
	if list, err := s.Settings(ctx); err != nil || len(list) != 0 {
		t.Errorf("after refused writes Settings = %v, %v; want none stored", list, err)
	}
}

func testSetSettingIfAbsent(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))

	steps := []struct {
		value       string
		wantStored  string
		wantCreated bool
	}{
		{"first", "first", true},
		{"second", "first", false},
		{"", "first", false},
	}
	for i, st := range steps {
		stored, created, err := s.SetSettingIfAbsent(ctx, "admin", st.value)
		if err != nil {
			t.Fatalf("step %d: SetSettingIfAbsent(%q): %v", i, st.value, err)
		}
		if stored != st.wantStored || created != st.wantCreated {
			t.Errorf("step %d: SetSettingIfAbsent(%q) = %q, %v; want %q, %v", i, st.value, stored, created, st.wantStored, st.wantCreated)
		}
	}
	// An empty value counts as present.
	if stored, created, err := s.SetSettingIfAbsent(ctx, "blank", ""); err != nil || !created || stored != "" {
		t.Errorf("SetSettingIfAbsent(blank, \"\") = %q, %v, %v; want \"\", true", stored, created, err)
	}
	if stored, created, err := s.SetSettingIfAbsent(ctx, "blank", "x"); err != nil || created || stored != "" {
		t.Errorf("second SetSettingIfAbsent(blank) = %q, %v, %v; want \"\", false", stored, created, err)
	}
	// SetSetting still overwrites, and IfAbsent then reports the new value.
	mustSet(t, s, "admin", "rotated")
	if stored, created, err := s.SetSettingIfAbsent(ctx, "admin", "third"); err != nil || created || stored != "rotated" {
		t.Errorf("after SetSetting, SetSettingIfAbsent = %q, %v, %v; want %q, false", stored, created, err, "rotated")
	}
	// After a delete the key is absent again.
	if err := s.DeleteSetting(ctx, "admin"); err != nil {
		t.Fatalf("DeleteSetting: %v", err)
	}
	if stored, created, err := s.SetSettingIfAbsent(ctx, "admin", "fresh"); err != nil || !created || stored != "fresh" {
		t.Errorf("after delete, SetSettingIfAbsent = %q, %v, %v; want %q, true", stored, created, err, "fresh")
	}
}

// testSetSettingIfAbsentConcurrent races goroutines spread over two Stores on
// the same database (two replicas, or two processes on one SQLite file).
func testSetSettingIfAbsentConcurrent(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	stores := []*store.Store{OpenStore(t, db), OpenStore(t, db)}

	const racers = 16
	type result struct {
		value, stored string
		created       bool
		err           error
	}
	results := make([]result, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			value := fmt.Sprintf("value-%02d", i)
			<-start
			stored, created, err := stores[i%len(stores)].SetSettingIfAbsent(ctx, "race", value)
			results[i] = result{value, stored, created, err}
		})
	}
	close(start)
	wg.Wait()

	var winners []string
	for i, r := range results {
		if r.err != nil {
			t.Errorf("racer %d: %v", i, r.err)
			continue
		}
		if r.created {
			winners = append(winners, r.value)
			if r.stored != r.value {
				t.Errorf("racer %d created but reports stored %q, not its value %q", i, r.stored, r.value)
			}
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d racers report created (%v), want exactly 1", len(winners), winners)
	}
	for i, r := range results {
		if r.err == nil && r.stored != winners[0] {
			t.Errorf("racer %d sees %q, want the winner's %q", i, r.stored, winners[0])
		}
	}
	for i, s := range stores {
		if got, ok, err := s.Setting(ctx, "race"); err != nil || !ok || got != winners[0] {
			t.Errorf("store %d: Setting(race) = %q, %v, %v; want %q", i, got, ok, err, winners[0])
		}
	}
}

func testCanceledContext(t *testing.T, newDB NewDatabase) {
	s := OpenStore(t, newDB(t))
	canceled, cancel := context.WithCancel(t.Context())
	cancel()

	if _, _, err := s.Setting(canceled, "k"); err == nil {
		t.Error("Setting with a canceled context succeeded, want an error")
	}
	if err := s.SetSetting(canceled, "k", "v"); err == nil {
		t.Error("SetSetting with a canceled context succeeded, want an error")
	}
	if _, _, err := s.SetSettingIfAbsent(canceled, "k", "v"); err == nil {
		t.Error("SetSettingIfAbsent with a canceled context succeeded, want an error")
	}
	if err := s.Ping(canceled); err == nil {
		t.Error("Ping with a canceled context succeeded, want an error")
	}
	// Canceled calls must not leave a connection (SQLite's only writer) stuck.
	ctx := t.Context()
	if _, ok, err := s.Setting(ctx, "k"); err != nil || ok {
		t.Errorf("Setting after canceled calls = %v, %v; want absent", ok, err)
	}
	mustSet(t, s, "k", "v")
}

func testClose(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	s := mustOpen(t, db)
	mustSet(t, s, "k", "v")

	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = s.Close() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Close #%d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}

	checks := map[string]error{
		"Ping":          s.Ping(ctx),
		"SetSetting":    s.SetSetting(ctx, "k", "v2"),
		"DeleteSetting": s.DeleteSetting(ctx, "k"),
	}
	_, checks["SchemaVersion"] = s.SchemaVersion(ctx)
	_, _, checks["Setting"] = s.Setting(ctx, "k")
	_, _, checks["SetSettingIfAbsent"] = s.SetSettingIfAbsent(ctx, "new", "v")
	_, checks["Settings"] = s.Settings(ctx)
	for method, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want store.ErrClosed", method, err)
		}
	}

	// Nothing written after Close, everything before it kept.
	reopened := OpenStore(t, db)
	if got, ok, err := reopened.Setting(ctx, "k"); err != nil || !ok || got != "v" {
		t.Errorf("after reopen Setting(k) = %q, %v, %v; want %q", got, ok, err, "v")
	}
}

// appliedVersions lists schema_migrations.version in order.
func appliedVersions(t *testing.T, db Database) []int {
	t.Helper()
	rows, err := db.Raw.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return out
}

// migrationRows renders schema_migrations for before/after comparisons.
func migrationRows(t *testing.T, db Database) string {
	t.Helper()
	rows, err := db.Raw.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var (
			v  int
			at time.Time
		)
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		fmt.Fprintf(&b, "%d@%s ", v, at.UTC().Format(time.RFC3339Nano))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return b.String()
}

// mustSet stores key=value or fails t.
func mustSet(t *testing.T, s *store.Store, key, value string) {
	t.Helper()
	if err := s.SetSetting(t.Context(), key, value); err != nil {
		t.Fatalf("SetSetting(%q): %v", key, err)
	}
}

// seq returns 1..n.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// abbrev shortens long values in failure messages.
func abbrev(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "..."
}
