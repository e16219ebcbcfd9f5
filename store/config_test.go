package store

import (
	"fmt"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		path string
		want []string // each error's full message must start with the entry at the same index
	}{
		{name: "zero value is sqlite", cfg: Config{}, path: "store"},
		{name: "sqlite empty block", cfg: Config{SQLite: &SQLiteConfig{}}, path: "store"},
		{name: "sqlite full", cfg: Config{SQLite: &SQLiteConfig{Path: "./data/junction.db", MaxReaders: 8}}, path: "store"},
		{name: "postgres url", cfg: Config{Postgres: &PostgresConfig{DSN: "postgres://u:p@db:5432/junction?sslmode=disable", MaxConns: 20}}, path: "store"},
		{name: "postgres key value", cfg: Config{Postgres: &PostgresConfig{DSN: "host=db user=u dbname=junction"}}, path: "store"},
		{
			name: "both drivers",
			cfg:  Config{SQLite: &SQLiteConfig{}, Postgres: &PostgresConfig{DSN: "postgres://db/junction"}},
			path: "store",
			want: []string{"store: set either sqlite or postgres, not both"},
		},
		{
			name: "postgres dsn missing",
			cfg:  Config{Postgres: &PostgresConfig{}},
			path: "store",
			want: []string{"store.postgres.dsn: required"},
		},
		{
			name: "postgres dsn blank",
			cfg:  Config{Postgres: &PostgresConfig{DSN: "   "}},
			path: "store",
			want: []string{"store.postgres.dsn: required"},
		},
		{
			name: "postgres dsn unparseable",
			cfg:  Config{Postgres: &PostgresConfig{DSN: "postgres://u:secret@db:notaport/x"}},
			path: "store",
			want: []string{"store.postgres.dsn: cannot parse connection string"},
		},
		{
			name: "postgres negative max_conns",
			cfg:  Config{Postgres: &PostgresConfig{DSN: "postgres://db/junction", MaxConns: -1}},
			path: "store",
			want: []string{"store.postgres.max_conns: must not be negative"},
		},
		{
			name: "every problem at once",
			cfg:  Config{SQLite: &SQLiteConfig{Path: ":memory:", MaxReaders: -2}, Postgres: &PostgresConfig{MaxConns: -5}},
			path: "config.store",
			want: []string{
				"config.store: set either sqlite or postgres, not both",
				"config.store.sqlite.path: must be a file path",
				"config.store.sqlite.max_readers: must not be negative",
				"config.store.postgres.dsn: required",
				"config.store.postgres.max_conns: must not be negative",
			},
		},
		{
			name: "sqlite uri path",
			cfg:  Config{SQLite: &SQLiteConfig{Path: "file:/tmp/x.db?mode=ro"}},
			path: "store",
			want: []string{"store.sqlite.path: must be a file path"},
		},
		{
			name: "sqlite blank path",
			cfg:  Config{SQLite: &SQLiteConfig{Path: "  "}},
			path: "store",
			want: []string{"store.sqlite.path: is blank"},
		},
		{
			name: "sqlite directory path",
			cfg:  Config{SQLite: &SQLiteConfig{Path: "/var/lib/junction/"}},
			path: "store",
			want: []string{"store.sqlite.path: names a directory"},
		},
		{
			name: "sqlite NUL in path",
			cfg:  Config{SQLite: &SQLiteConfig{Path: "a\x00b.db"}},
			path: "store",
			want: []string{"store.sqlite.path: contains a NUL byte"},
		},
		{
			name: "empty prefix",
			cfg:  Config{Postgres: &PostgresConfig{}},
			path: "",
			want: []string{"postgres.dsn: required"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.cfg.Validate(tc.path)
			if len(errs) != len(tc.want) {
				t.Fatalf("Validate(%q) returned %d errors %v, want %d %q", tc.path, len(errs), errs, len(tc.want), tc.want)
			}
			for i, err := range errs {
				if !strings.HasPrefix(err.Error(), tc.want[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, err, tc.want[i])
				}
			}
		})
	}
}

func TestConfigValidateHidesPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://user:hunter2@db:notaport/x",
		"host=db password=hunter2 port=notaport",
	} {
		errs := Config{Postgres: &PostgresConfig{DSN: dsn}}.Validate("store")
		if len(errs) == 0 {
			t.Fatalf("Validate accepted the invalid DSN %q", dsn)
		}
		if msg := fmt.Sprint(errs); strings.Contains(msg, "hunter2") {
			t.Errorf("validation error leaks the password: %s", msg)
		}
	}
}
