package registry

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

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

func TestSealer(t *testing.T) {
	t.Parallel()
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

// TestOpenConfigSealedByOldCode: a server definition whose credentials
// were sealed by the registry's own sealer, before sealing moved to
// store/secret, still opens with the same key: every field is bound as
// before.
func TestOpenConfigSealedByOldCode(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32) // 00 01 … 1f, the key the values were sealed with
	for i := range key {
		key[i] = byte(i)
	}
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := ServerConfig{Name: "gh", Transport: TransportStreamableHTTP, URL: "https://x",
		Bearer:  "enc:v1:jKdKkeht1nglBtppRuo0vSxTMkV83po0hOwyNn85D48x",
		Headers: map[string]string{"X-Api-Key": "enc:v1:bWWZyh4mTQeSSZNp+g3RMVk38cNEBwa8+XO4ipz1"},
		Env:     map[string]string{"TOKEN": "enc:v1:+5xYzOT5/SSvSgOUs6uVCz34cJmkJzBnVGlB+3Jb"},
		Auth:    &AuthConfig{ClientSecret: "enc:v1:RbB7Bi4O41cgiSINhxJhzfbULKBqMHR8y6Cb5uD7"}}
	want := ServerConfig{Name: "gh", Transport: TransportStreamableHTTP, URL: "https://x", Bearer: "tok-b",
		Headers: map[string]string{"X-Api-Key": "hv"}, Env: map[string]string{"TOKEN": "ev"},
		Auth: &AuthConfig{ClientSecret: "cs"}}
	got, err := s.openConfig(sealed)
	if err != nil || !sameConfig(got, want) {
		t.Fatalf("opened %+v %v, want %+v", got, err, want)
	}
}

func TestLineLogger(t *testing.T) {
	t.Parallel()
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
