package store

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	tests := []struct {
		name     string
		files    fstest.MapFS
		wantVers []int
		wantErr  string
	}{
		{
			name: "ordered by number",
			files: fstest.MapFS{
				"m/0002_second.sql": file("SELECT 2;"),
				"m/0001_first.sql":  file("SELECT 1;"),
				"m/0003_third.sql":  file("SELECT 3;"),
			},
			wantVers: []int{1, 2, 3},
		},
		{
			name: "unpadded numbers sort numerically",
			files: fstest.MapFS{
				"m/1_a.sql": file("x"), "m/2_b.sql": file("x"), "m/3_c.sql": file("x"), "m/4_d.sql": file("x"),
				"m/5_e.sql": file("x"), "m/6_f.sql": file("x"), "m/7_g.sql": file("x"), "m/8_h.sql": file("x"),
				"m/9_i.sql": file("x"), "m/10_j.sql": file("x"),
			},
			wantVers: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		},
		{
			name: "other files ignored",
			files: fstest.MapFS{
				"m/0001_first.sql": file("SELECT 1;"),
				"m/README.md":      file("notes"),
				"m/sub/0002_x.sql": file("SELECT 2;"),
			},
			wantVers: []int{1},
		},
		{
			name:    "gap",
			files:   fstest.MapFS{"m/0001_a.sql": file("x"), "m/0003_c.sql": file("x")},
			wantErr: "version 2 is missing",
		},
		{
			name:    "not starting at one",
			files:   fstest.MapFS{"m/0002_b.sql": file("x")},
			wantErr: "version 1 is missing",
		},
		{
			name:    "duplicate version",
			files:   fstest.MapFS{"m/0001_a.sql": file("x"), "m/0001_b.sql": file("x")},
			wantErr: "share version 1",
		},
		{
			name:    "bad name",
			files:   fstest.MapFS{"m/init.sql": file("x")},
			wantErr: "name must look like",
		},
		{
			name:    "upper case description",
			files:   fstest.MapFS{"m/0001_Init.sql": file("x")},
			wantErr: "name must look like",
		},
		{
			name:    "version zero",
			files:   fstest.MapFS{"m/0000_zero.sql": file("x")},
			wantErr: "positive number",
		},
		{
			name:    "empty file",
			files:   fstest.MapFS{"m/0001_a.sql": file(" \n\t")},
			wantErr: "is empty",
		},
		{
			name:    "no migrations",
			files:   fstest.MapFS{"m/README.md": file("x")},
			wantErr: "no migrations",
		},
		{
			name:    "missing directory",
			files:   fstest.MapFS{},
			wantErr: "read migrations",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := loadMigrations(tc.files, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadMigrations error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if len(got) != len(tc.wantVers) {
				t.Fatalf("versions = %v, want %v", got, tc.wantVers)
			}
			for i := range got {
				if got[i] != tc.wantVers[i] {
					t.Fatalf("versions = %v, want %v", got, tc.wantVers)
				}
			}
		})
	}
}

// TestEmbeddedMigrationsAgree checks that the two dialects' migration sets
// load and describe the same versions, so a schema change is never made for
// one driver only.
func TestEmbeddedMigrationsAgree(t *testing.T) {
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	sqlite, postgres := ms[dialectSQLite], ms[dialectPostgres]
	if len(sqlite) == 0 || len(sqlite) != len(postgres) {
		t.Fatalf("sqlite has %d migrations, postgres %d; want the same, non-zero", len(sqlite), len(postgres))
	}
	for i := range sqlite {
		if sqlite[i].name != postgres[i].name {
			t.Errorf("migration %d: sqlite file %s, postgres file %s; want the same name", i+1, sqlite[i].name, postgres[i].name)
		}
	}
	if LatestSchemaVersion() != len(sqlite) {
		t.Errorf("LatestSchemaVersion() = %d, want %d", LatestSchemaVersion(), len(sqlite))
	}
}

// Migrations written in SQL that both SQLite and Postgres accept.
var (
	migCreateT1 = migration{version: 1, name: "0001_t1.sql", sql: `CREATE TABLE t1 (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`}
	migCreateT2 = migration{version: 2, name: "0002_t2.sql", sql: `
CREATE TABLE t2 (id INTEGER PRIMARY KEY);
INSERT INTO t2 (id) VALUES (1);
INSERT INTO t2 (id) VALUES (2);`}
	migAlterT1 = migration{version: 3, name: "0003_t1_note.sql", sql: `ALTER TABLE t1 ADD COLUMN note TEXT`}
	migBroken  = migration{version: 2, name: "0002_broken.sql", sql: `
CREATE TABLE t3 (id INTEGER PRIMARY KEY);
INSERT INTO t3 (id) VALUES (1);
INSERT INTO no_such_table (id) VALUES (1);`}
)

func TestMigrateSteps(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()

			t.Run("upgrade applies only new migrations", func(t *testing.T) {
				ctx := t.Context()
				cfg, dir := b.newConfig(t)
				s := openT(t, cfg, dir, []migration{migCreateT1, migCreateT2})
				assertVersion(t, s, 2)
				assertCount(t, s, "t2", 2)
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				// Re-running 0002 would fail on its duplicate primary keys.
				s = openT(t, cfg, dir, []migration{migCreateT1, migCreateT2, migAlterT1})
				assertVersion(t, s, 3)
				assertCount(t, s, "t2", 2)
				if _, err := s.writer.ExecContext(ctx, newQuery(`INSERT INTO t1 (id, name, note) VALUES (?, ?, ?)`).text(s.dialect), 1, "a", "n"); err != nil {
					t.Errorf("column added by 0003 unusable: %v", err)
				}
			})

			t.Run("failed migration rolls back entirely", func(t *testing.T) {
				cfg, dir := b.newConfig(t)
				s, err := open(t.Context(), cfg, dir, bothDialects([]migration{migCreateT1, migBroken}))
				if err == nil {
					_ = s.Close()
					t.Fatal("open with a broken migration succeeded")
				}
				if !strings.Contains(err.Error(), "0002_broken.sql") {
					t.Errorf("error %q does not name the failed migration", err)
				}
				s = openT(t, cfg, dir, []migration{migCreateT1})
				assertVersion(t, s, 1)
				var n int
				if err := s.reader.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM t3`).Scan(&n); err == nil {
					t.Errorf("table t3 from the failed migration exists (%d rows); want it rolled back", n)
				}
			})

			t.Run("newer schema refused", func(t *testing.T) {
				cfg, dir := b.newConfig(t)
				s := openT(t, cfg, dir, []migration{migCreateT1, migCreateT2})
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				_, err := open(t.Context(), cfg, dir, bothDialects([]migration{migCreateT1}))
				var tooNew *SchemaTooNewError
				if !errors.As(err, &tooNew) || tooNew.Database != 2 || tooNew.Binary != 1 {
					t.Fatalf("open with an older migration set = %v, want SchemaTooNewError{2, 1}", err)
				}
			})
		})
	}
}

func assertVersion(t *testing.T, s *Store, want int) {
	t.Helper()
	got, err := s.SchemaVersion(t.Context())
	if err != nil || got != want {
		t.Fatalf("SchemaVersion = %d, %v; want %d", got, err, want)
	}
}

func assertCount(t *testing.T, s *Store, table string, want int) {
	t.Helper()
	var n int
	if err := s.reader.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != want {
		t.Fatalf("COUNT(*) FROM %s = %d, %v; want %d", table, n, err, want)
	}
}
