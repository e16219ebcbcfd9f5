package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// oldKey is the fixed key the test vectors of the code before this package
// (registry/secrets.go and gateway/adminproviders.go) were made with.
var oldKey = mustHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestLoadSecretKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	for _, env := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)} {
		got, err := Load("", env)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("env %q: %x %v", env, got, err)
		}
	}
	if _, err := Load("", "too-short"); err == nil {
		t.Error("short key accepted")
	}
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := Load(dir, "")
	if err != nil || len(k1) != KeySize {
		t.Fatal(k1, err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	k2, err := Load(dir, "")
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("reloaded key differs: %v", err)
	}
}

func TestSecretKeySource(t *testing.T) {
	if got := Source("/srv/junction", ""); got != "/srv/junction/secret.key" {
		t.Errorf("file source: %q", got)
	}
	if got := Source("/srv/junction", "abc"); got != EnvVar {
		t.Errorf("env source: %q", got)
	}
}

// TestDerivedKeysMatchOldCode: keys derived from the secret key are those
// Registry.DeriveKey gave before, so the provider secrets sealed under one
// and the MCP request states MAC'd under another still open.
func TestDerivedKeysMatchOldCode(t *testing.T) {
	for purpose, want := range map[string]string{
		"llm-provider-secrets": "8191d77f7a80cfbb9dec0455a82a323ffeb3211df864354c63661cb3036861a3",
		"mcp-request-state":    "8838166eaf89299578999ac7b62aaf936aa779e2979e16eccb1ba5c6b32dd3ec",
	} {
		if got := hex.EncodeToString(Derive(oldKey, purpose)); got != want {
			t.Errorf("Derive(%q) = %s, want %s", purpose, got, want)
		}
	}
}
