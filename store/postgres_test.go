package store

import (
	"strconv"
	"strings"
	"testing"

	"github.com/junctionhq/junction/store/internal/testdb"
)

func TestPostgresConnectionSettings(t *testing.T) {
	base := testdb.PostgresDSN(t)
	t.Run("defaults", func(t *testing.T) {
		s := openEmbeddedT(t, Config{Postgres: &PostgresConfig{DSN: testdb.PostgresSchema(t, base)}}, "")
		if s.Driver() != DriverPostgres {
			t.Errorf("Driver() = %q, want %q", s.Driver(), DriverPostgres)
		}
		if got := s.writer.Stats().MaxOpenConnections; got != DefaultPostgresMaxConns {
			t.Errorf("MaxOpenConnections = %d, want %d", got, DefaultPostgresMaxConns)
		}
		var app string
		if err := s.reader.QueryRowContext(t.Context(), `SELECT current_setting('application_name')`).Scan(&app); err != nil || app != "junction" {
			t.Errorf("application_name = %q, %v; want %q", app, err, "junction")
		}
	})
	t.Run("dsn and max_conns respected", func(t *testing.T) {
		dsn := testdb.WithParam(testdb.PostgresSchema(t, base), "application_name", "replica-7")
		s := openEmbeddedT(t, Config{Postgres: &PostgresConfig{DSN: dsn, MaxConns: 3}}, "")
		if got := s.writer.Stats().MaxOpenConnections; got != 3 {
			t.Errorf("MaxOpenConnections = %d, want 3", got)
		}
		var app string
		if err := s.reader.QueryRowContext(t.Context(), `SELECT current_setting('application_name')`).Scan(&app); err != nil || app != "replica-7" {
			t.Errorf("application_name = %q, %v; want the DSN's %q", app, err, "replica-7")
		}
	})
}

func TestPostgresKeyValueDSN(t *testing.T) {
	base := testdb.PostgresDSN(t)
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		t.Skip("JUNCTION_TEST_POSTGRES is already in key=value form, which every other test uses")
	}
	urlDSN := testdb.PostgresSchema(t, base)
	cfg, err := parsePostgresDSN(urlDSN)
	if err != nil {
		t.Fatal(err)
	}
	kv := "host=" + cfg.Host + " port=" + strconv.Itoa(int(cfg.Port)) + " user=" + cfg.User + " dbname=" + cfg.Database +
		" sslmode=disable search_path=" + cfg.RuntimeParams["search_path"]
	if cfg.Password != "" {
		kv += " password=" + cfg.Password
	}
	s := openEmbeddedT(t, Config{Postgres: &PostgresConfig{DSN: kv}}, "")
	if err := s.SetSetting(t.Context(), "k", "v"); err != nil {
		t.Fatalf("SetSetting over a key=value DSN: %v", err)
	}
}

func TestPostgresUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens there, the connection is refused at once.
	dsn := "postgres://junction:hunter2@127.0.0.1:1/junction?sslmode=disable&connect_timeout=5"
	s, err := Open(t.Context(), Config{Postgres: &PostgresConfig{DSN: dsn}}, "")
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of an unreachable server succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "store: postgres: connect to 127.0.0.1:1/junction") {
		t.Errorf("error = %q, want it to say where it tried to connect", msg)
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error leaks the password: %q", msg)
	}
}
