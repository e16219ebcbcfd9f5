package registry

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"read_*", "read_file", true},
		{"read_*", "write_file", false},
		{"*_file", "read_file", true},
		{"r*d*e", "read_file", true},
		{"r*x*e", "read_file", false},
		{"echo", "echo", true},
		{"echo", "echo2", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
	}
	for _, tt := range tests {
		if got := matchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v", tt.pattern, tt.name, got)
		}
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", 65)
	bad := "bad prefix"
	errs := ServerConfig{Name: long, Transport: TransportStreamableHTTP, URL: "mailto:x", Command: "ls",
		Bearer: "t", Headers: map[string]string{"Authorization": "x", "bad header": "y"}, Timeout: -1,
		IncludeTools: []string{""}, Prefix: &bad}.Validate("servers[3]")
	want := []string{"servers[3].name", "servers[3].url", "servers[3].command", "servers[3].headers", "servers[3].bearer",
		"servers[3].timeout", "servers[3].include_tools[0]", "servers[3].prefix"}
	text := ""
	for _, e := range errs {
		text += e.Error() + "\n"
	}
	for _, w := range want {
		if !strings.Contains(text, w+":") {
			t.Errorf("missing %s in:\n%s", w, text)
		}
	}
	if errs := (ServerConfig{Name: "ok", Transport: TransportStdio, Command: "x"}).Validate(""); len(errs) != 0 {
		t.Errorf("valid stdio config: %v", errs)
	}
	if errs := (ServerConfig{Name: "ok"}).Validate(""); len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "transport:") {
		t.Errorf("missing transport: %v", errs)
	}
}

func TestLoadSecretKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	for _, env := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)} {
		got, err := LoadSecretKey("", env)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("env %q: %x %v", env, got, err)
		}
	}
	if _, err := LoadSecretKey("", "too-short"); err == nil {
		t.Error("short key accepted")
	}
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadSecretKey(dir, "")
	if err != nil || len(k1) != SecretKeySize {
		t.Fatal(k1, err)
	}
	fi, err := os.Stat(filepath.Join(dir, secretKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	k2, err := LoadSecretKey(dir, "")
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("reloaded key differs: %v", err)
	}
}

func TestSealer(t *testing.T) {
	s, err := newSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig{Name: "a", Transport: TransportStreamableHTTP, URL: "http://x", Bearer: "tok",
		Headers: map[string]string{"X-K": "v"}}
	sealed := s.sealConfig(cfg)
	if sealed.Bearer == "tok" || sealed.Headers["X-K"] == "v" || cfg.Headers["X-K"] != "v" {
		t.Fatalf("sealed: %+v (input %+v)", sealed, cfg)
	}
	opened, err := s.openConfig(sealed)
	if err != nil || !sameConfig(opened, cfg) {
		t.Errorf("opened %+v %v", opened, err)
	}
	// A value sealed for one server does not open for another.
	sealed.Name = "b"
	if _, err := s.openConfig(sealed); err == nil {
		t.Error("a sealed value moved to another server opened")
	}
	if _, err := newSealer([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}

func TestLineLogger(t *testing.T) {
	var buf bytes.Buffer
	l := &lineLogger{log: zerolog.New(&buf).With().Str("server", "s").Logger()}
	_, _ = l.Write([]byte("first li"))
	_, _ = l.Write([]byte("ne\nsecond\r\n\npartial"))
	out := buf.String()
	if !strings.Contains(out, `"stderr":"first line"`) || !strings.Contains(out, `"stderr":"second"`) ||
		strings.Contains(out, "partial") || !strings.Contains(out, `"server":"s"`) || strings.Count(out, "\n") != 2 {
		t.Errorf("log:\n%s", out)
	}
}
