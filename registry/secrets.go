package registry

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretKeyEnv is the environment variable that holds the key encrypting
// upstream credentials at rest.
const SecretKeyEnv = "JUNCTION_SECRET_KEY"

// SecretKeySize is the size of the key: AES-256.
const SecretKeySize = 32

// secretKeyFile is the name of the generated key file in the data directory.
const secretKeyFile = "secret.key"

// sealedPrefix starts every encrypted value in a stored spec.
const sealedPrefix = "enc:v1:"

// LoadSecretKey returns the key that encrypts upstream credentials in the
// store. env is the value of JUNCTION_SECRET_KEY: when not empty it wins and
// must be the base64 (standard or URL, padded or not) or hex encoding of 32
// bytes. Otherwise the key is read from <dataDir>/secret.key, which is
// generated (32 random bytes, hex, mode 0600) if it does not exist. Every
// replica sharing a database must use the same key.
func LoadSecretKey(dataDir string, env string) ([]byte, error) {
	if env = strings.TrimSpace(env); env != "" {
		key, err := decodeKey(env)
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", SecretKeyEnv, err)
		}
		return key, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("registry: no %s and no data directory to keep a generated key in", SecretKeyEnv)
	}
	path := filepath.Join(dataDir, secretKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := decodeKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("registry: read secret key: %w", err)
	}
	key := make([]byte, SecretKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("registry: generate secret key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: create data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process generated it first: use theirs.
		return LoadSecretKey(dataDir, "")
	}
	if err != nil {
		return nil, fmt.Errorf("registry: write secret key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("registry: write secret key: %w", werr)
	}
	return key, nil
}

// SecretKeySource says where LoadSecretKey(dataDir, env) takes the key from:
// the environment variable, or the key file's path. Error messages name it.
func SecretKeySource(dataDir, env string) string {
	if strings.TrimSpace(env) != "" {
		return SecretKeyEnv
	}
	return filepath.Join(dataDir, secretKeyFile)
}

// SecretKeyCheckSetting is the store setting holding the secret key's check
// value: the hex HMAC-SHA256 of secretKeyCheckLabel under the key. It tells
// whether a replica has the key the store's credentials were sealed with,
// and reveals nothing of the key itself.
const SecretKeyCheckSetting = "secret_key_check"

// secretKeyCheckLabel is the message of the check value. It cannot collide
// with a DeriveKey purpose ("junction/derive/...").
const secretKeyCheckLabel = "junction secret key check v1"

// CheckStore is the part of the store the secret key check needs.
type CheckStore interface {
	SetSettingIfAbsent(ctx context.Context, key, value string) (stored string, created bool, err error)
}

// SecretKeyMismatchError refuses a secret key that is not the one the store's
// credentials were encrypted with: another replica sharing the database
// generated or was given a different key, or the key was replaced.
type SecretKeyMismatchError struct {
	// Source is where this process read its key: SecretKeyEnv or a file path.
	Source string
}

func (e *SecretKeyMismatchError) Error() string {
	return fmt.Sprintf("the secret key (read from %s) is not the key this database's stored credentials are encrypted "+
		"with, so providers and servers added through the API could not be decrypted. Every replica sharing a database "+
		"must use the same key: set %s on every replica to the key the others use (the contents of the first replica's "+
		"%s, say) and start again. If that key is lost, the stored credentials cannot be recovered: delete the %q "+
		"setting and enter them again", e.Source, SecretKeyEnv, filepath.Join("<data-dir>", secretKeyFile), SecretKeyCheckSetting)
}

// CheckSecretKey makes sure key is the secret key of the store st. The first
// process to check records the key's check value; every later one, on any
// replica, must match it or gets a *SecretKeyMismatchError naming source.
// Replicas starting together are safe: the value is inserted only if absent
// and the stored value is what every caller compares with.
func CheckSecretKey(ctx context.Context, st CheckStore, key []byte, source string) error {
	check := secretKeyCheck(key)
	stored, _, err := st.SetSettingIfAbsent(ctx, SecretKeyCheckSetting, check)
	if err != nil {
		return fmt.Errorf("registry: record the secret key check: %w", err)
	}
	if !hmac.Equal([]byte(stored), []byte(check)) {
		return fmt.Errorf("registry: %w", &SecretKeyMismatchError{Source: source})
	}
	return nil
}

// secretKeyCheck is key's check value.
func secretKeyCheck(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secretKeyCheckLabel))
	return hex.EncodeToString(m.Sum(nil))
}

// decodeKey decodes a hex or base64 key of SecretKeySize bytes.
func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == SecretKeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == SecretKeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not the hex or base64 encoding of %d bytes", SecretKeySize)
}

// sealer encrypts and decrypts credential values with AES-256-GCM. Each
// value is bound (as additional data) to its server and field, so a sealed
// value cannot be moved to another server or field.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("registry: secret key must be %d bytes, got %d", SecretKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("registry: secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("registry: secret key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(server, field, plain string) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("registry: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), aad(server, field))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out)
}

// errDecrypt is what open returns for any value it cannot decrypt; it never
// carries the value.
var errDecrypt = errors.New("cannot decrypt a stored credential (was the secret key changed? set " + SecretKeyEnv + " to the key the server was registered with)")

func (s *sealer) open(server, field, sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errDecrypt
	}
	b, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errDecrypt
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], aad(server, field))
	if err != nil {
		return "", errDecrypt
	}
	return string(plain), nil
}

func aad(server, field string) []byte {
	return []byte("junction.registry.server:" + server + ":" + field)
}

// sealConfig returns c with its credentials (bearer, header values, env
// values and the OAuth client secret) encrypted, for the store.
func (s *sealer) sealConfig(c ServerConfig) ServerConfig {
	out := c
	if c.Bearer != "" {
		out.Bearer = s.seal(c.Name, "bearer", c.Bearer)
	}
	out.Headers = sealMap(c.Headers, func(k, v string) string { return s.seal(c.Name, "headers."+k, v) })
	out.Env = sealMap(c.Env, func(k, v string) string { return s.seal(c.Name, "env."+k, v) })
	if c.Auth != nil {
		a := *c.Auth
		if a.ClientSecret != "" {
			a.ClientSecret = s.seal(c.Name, "auth.client_secret", a.ClientSecret)
		}
		out.Auth = &a
	}
	return out
}

// openConfig reverses sealConfig.
func (s *sealer) openConfig(c ServerConfig) (ServerConfig, error) {
	out := c
	var err error
	if c.Bearer != "" {
		if out.Bearer, err = s.open(c.Name, "bearer", c.Bearer); err != nil {
			return ServerConfig{}, err
		}
	}
	var firstErr error
	open := func(prefix string) func(k, v string) string {
		return func(k, v string) string {
			plain, err := s.open(c.Name, prefix+k, v)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			return plain
		}
	}
	out.Headers = sealMap(c.Headers, open("headers."))
	out.Env = sealMap(c.Env, open("env."))
	if c.Auth != nil {
		a := *c.Auth
		if a.ClientSecret != "" {
			a.ClientSecret = open("auth.")("client_secret", a.ClientSecret)
		}
		out.Auth = &a
	}
	if firstErr != nil {
		return ServerConfig{}, firstErr
	}
	return out, nil
}

func sealMap(m map[string]string, f func(k, v string) string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = f(k, v)
	}
	return out
}

// DeriveKey returns a 32-byte key for purpose, derived from the secret key
// (HMAC-SHA256 of the purpose under it), so that other parts of the gateway
// can protect what they hand out (for example the hub's MAC'd request
// states) with a key that every replica shares and that is not the
// encryption key itself.
func (r *Registry) DeriveKey(purpose string) []byte {
	m := hmac.New(sha256.New, r.secret)
	m.Write([]byte("junction/derive/" + purpose))
	return m.Sum(nil)
}
