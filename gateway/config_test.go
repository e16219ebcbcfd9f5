package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParseConfigEmptyUsesDefaults(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "---\n"} {
		c, err := ParseConfig("junction.yaml", []byte(doc), envMap(nil))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c.Listen != DefaultListen || c.DataDir != DefaultDataDir || c.HTTP.MaxBodyBytes != DefaultMaxBodyBytes ||
			c.HTTP.ShutdownTimeout != DefaultShutdownTimeout || c.HTTP.ReadHeaderTimeout != DefaultReadHeaderTimeout {
			t.Fatalf("%q: defaults not applied: %+v", doc, c)
		}
	}
}

func TestParseConfigValues(t *testing.T) {
	doc := `
listen: 127.0.0.1:9999
data_dir: /tmp/j
admin_key: ${ADMIN}
log: { format: pretty, level: debug }
http:
  max_body_bytes: 1MiB
  read_header_timeout: 3s
  shutdown_timeout: ${SHUTDOWN:-45s}
store:
  postgres: { dsn: "postgres://u@h/db" }
`
	c, err := ParseConfig("x.yaml", []byte(doc), envMap(map[string]string{"ADMIN": "a-very-long-admin-key"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.DataDir != "/tmp/j" || c.AdminKey != "a-very-long-admin-key" {
		t.Errorf("scalars: %+v", c)
	}
	if c.Log.Format != "pretty" || c.Log.Level != "debug" {
		t.Errorf("log: %+v", c.Log)
	}
	if c.HTTP.MaxBodyBytes != 1<<20 || c.HTTP.ReadHeaderTimeout != 3*time.Second || c.HTTP.ShutdownTimeout != 45*time.Second {
		t.Errorf("http: %+v", c.HTTP)
	}
	if c.Store.Postgres == nil || c.Store.Postgres.DSN != "postgres://u@h/db" || c.Store.SQLite != nil {
		t.Errorf("store: %+v", c.Store)
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{"HOST": "127.0.0.2", "EMPTY": "", "PORT": "7000"})
	cases := []struct {
		in, want string
	}{
		{"${HOST}:80", "127.0.0.2:80"},
		{"${UNSET:-127.0.0.3}:80", "127.0.0.3:80"},
		{"${EMPTY:-127.0.0.4}:80", "127.0.0.4:80"},
		{"${HOST:-ignored}:${PORT}", "127.0.0.2:7000"},
		{"127.0.0.1:${PORT:-1}", "127.0.0.1:7000"},
		{"'127.0.0.1:80$$'", "127.0.0.1:80$"},
		{"127.0.0.1:8$0", "127.0.0.1:8$0"},
	}
	for _, tc := range cases {
		c := &Config{}
		if problems, _ := decodeYAML([]byte("listen: "+tc.in), c, env); len(problems) > 0 {
			t.Errorf("%s: %v", tc.in, problems)
			continue
		}
		if c.Listen != tc.want {
			t.Errorf("%s: got %q, want %q", tc.in, c.Listen, tc.want)
		}
	}
}

// An expanded plain scalar is typed by its expansion: a number from the
// environment decodes into a numeric field.
func TestEnvExpansionTypedValues(t *testing.T) {
	c, err := ParseConfig("x", []byte("http: { max_body_bytes: \"${LIMIT}\", idle_timeout: \"${IDLE}\" }\nlisten: ${HOST}:${PORT}\nstore: { sqlite: { max_readers: \"${READERS}\" } }\n"),
		envMap(map[string]string{"LIMIT": "2048", "IDLE": "90s", "HOST": "127.0.0.1", "PORT": "7000", "READERS": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.MaxBodyBytes != 2048 || c.HTTP.IdleTimeout != 90*time.Second || c.Listen != "127.0.0.1:7000" ||
		c.Store.SQLite == nil || c.Store.SQLite.MaxReaders != 7 {
		t.Fatalf("got %+v", c.HTTP)
	}
}

// Every problem is reported at once, each with its YAML path.
func TestParseConfigReportsEveryProblemWithItsPath(t *testing.T) {
	doc := `
listen: nonsense
lisen: 127.0.0.1:1
log: { format: xml, level: loud }
http:
  max_body_bytes: lots
  idle_timeout: forever
  extra: 1
store:
  sqlite: { path: /tmp/x.db }
  postgres: { dsn: "" }
admin_key: ${BAD-NAME}
`
	_, err := ParseConfig("bad.yaml", []byte(doc), envMap(nil))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	want := []string{
		"lisen: unknown key",
		"http.max_body_bytes:",
		"http.idle_timeout:",
		"http.extra: unknown key",
		"admin_key: invalid environment reference",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if !strings.Contains(msg, "bad.yaml") || !strings.Contains(msg, "(line 3)") {
		t.Errorf("errors should name the file and lines:\n%s", msg)
	}
	// Validation problems are reported in the same pass, each with its path.
	for _, w := range []string{"listen:", "log.format:", "log.level:", "store"} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	if len(ce.Problems) < 9 {
		t.Errorf("want at least 9 problems, got %d:\n%s", len(ce.Problems), msg)
	}
}

func TestParseConfigRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"listen: [1, 2",
		"- a\n- b\n",
		"http: 5",
		"listen: ${UNTERMINATED",
		"listen: a\nlisten: b\n",
	} {
		if _, err := ParseConfig("x", []byte(doc), envMap(nil)); err == nil {
			t.Errorf("%q: want an error", doc)
		}
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want not-exist, got %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	cases := map[string]ByteSize{"0": 0, "1024": 1024, "1KiB": 1024, "10MiB": 10 << 20, "2 GiB": 2 << 30, "5KB": 5000, "7B": 7}
	for in, want := range cases {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: got %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "10XB", "99999999999999999999"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("%q: want an error", in)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:1\nhttp: { max_body_bytes: 1MiB }\n"))
	f.Add([]byte("store: { postgres: { dsn: ${X:-y} } }"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := ParseConfig("fuzz", doc, envMap(map[string]string{"X": "1"}))
		if err == nil && c == nil {
			t.Fatal("nil config without an error")
		}
	})
}

// TestExampleConfigIsValid keeps examples/config/junction.yaml loadable.
func TestExampleConfigIsValid(t *testing.T) {
	t.Parallel()
	if _, err := LoadConfig("../examples/config/junction.yaml", func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
}
