package secret

import (
	"errors"
	"strings"
	"testing"
)

// TestSealerBindsOwnerFieldAndDomain: a sealed value opens only for the
// owner, field and domain it was sealed for, and never shows the value.
func TestSealerBindsOwnerFieldAndDomain(t *testing.T) {
	s, err := NewSealer(oldKey, "junction.test")
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("a", "bearer", "tok-value")
	if strings.Contains(sealed, "tok-value") || !strings.HasPrefix(sealed, SealedPrefix) {
		t.Fatalf("sealed: %q", sealed)
	}
	if again := s.Seal("a", "bearer", "tok-value"); again == sealed {
		t.Error("two seals of one value are equal (nonce reused)")
	}
	if got, err := s.Open("a", "bearer", sealed); err != nil || got != "tok-value" {
		t.Fatalf("open: %q %v", got, err)
	}
	other, err := NewSealer(oldKey, "junction.other")
	if err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() (string, error){
		"another owner":  func() (string, error) { return s.Open("b", "bearer", sealed) },
		"another field":  func() (string, error) { return s.Open("a", "headers.X", sealed) },
		"another domain": func() (string, error) { return other.Open("a", "bearer", sealed) },
		"no prefix":      func() (string, error) { return s.Open("a", "bearer", strings.TrimPrefix(sealed, SealedPrefix)) },
		"not base64":     func() (string, error) { return s.Open("a", "bearer", SealedPrefix+"!!") },
		"too short":      func() (string, error) { return s.Open("a", "bearer", SealedPrefix+"AAAA") },
		"in the clear":   func() (string, error) { return s.Open("a", "bearer", "tok-value") },
	} {
		if got, err := open(); !errors.Is(err, ErrOpen) || got != "" {
			t.Errorf("%s: %q %v, want ErrOpen", name, got, err)
		}
	}
	if _, err := NewSealer([]byte("short"), "junction.test"); err == nil {
		t.Error("short key accepted")
	}
}

// TestOpenValuesSealedByOldCode: values sealed before this package existed
// (by registry/secrets.go for a server, by gateway/adminproviders.go for a
// provider under its derived key) still open: the wire format is
// unchanged.
func TestOpenValuesSealedByOldCode(t *testing.T) {
	for _, c := range []struct {
		name, domain, owner, field, sealed, want string
		key                                      []byte
	}{
		{name: "registry server", key: oldKey, domain: "junction.registry.server", owner: "github", field: "headers.Authorization",
			sealed: "enc:v1:BSVC1/uasWPh6496cLCvA1loTHL0ap1MYWFQ6fWoK5PpE3OQp0DJ3iiNrm0dDWnaoja5bW1M", want: "Bearer ghp-old-code-secret"},
		{name: "llm provider", key: Derive(oldKey, "llm-provider-secrets"), domain: "junction.llm.provider", owner: "openai",
			field: "keys.0.main", sealed: "enc:v1:SHAWvVsKeGI4wpac/MrMVVIxprsJdgU40GBLOeQ0K1e1UzrW9A4ctoO6gmlTfZoqrncqaQ",
			want: "sk-old-code-provider-key"},
	} {
		s, err := NewSealer(c.key, c.domain)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Open(c.owner, c.field, c.sealed); err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		}
	}
}
