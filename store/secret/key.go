// Package secret owns the process's secret key: it loads it from the
// environment or the data directory (generating it there on first start),
// checks it against the store so that replicas sharing a database use one
// key, derives keys from it for other purposes, and seals values with it
// (AES-256-GCM) for the store.
//
// It knows nothing of what it seals: callers say which values are secret
// and bind each one to its owner and field. It must not import the rest of
// Junction; the store is reached through [CheckStore].
package secret

import (
	"context"
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

// EnvVar is the environment variable that holds the secret key.
const EnvVar = "JUNCTION_SECRET_KEY"

// KeySize is the size of the key: AES-256.
const KeySize = 32

// keyFile is the name of the generated key file in the data directory.
const keyFile = "secret.key"

// Load returns the process's secret key. env is the value of
// JUNCTION_SECRET_KEY: when not empty it wins and must be the base64
// (standard or URL, padded or not) or hex encoding of 32 bytes. Otherwise
// the key is read from <dataDir>/secret.key, which is generated (32 random
// bytes, hex, mode 0600) if it does not exist. Every replica sharing a
// database must use the same key.
func Load(dataDir string, env string) ([]byte, error) {
	if env = strings.TrimSpace(env); env != "" {
		key, err := decodeKey(env)
		if err != nil {
			return nil, fmt.Errorf("secret: %s: %w", EnvVar, err)
		}
		return key, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("secret: no %s and no data directory to keep a generated key in", EnvVar)
	}
	path := filepath.Join(dataDir, keyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := decodeKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("secret: %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("secret: read secret key: %w", err)
	}
	return generate(dataDir, path)
}

// generate writes a new random key to path, or returns the key another
// process wrote there first.
func generate(dataDir, path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret: generate secret key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("secret: create data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process generated it first: use theirs.
		return Load(dataDir, "")
	}
	if err != nil {
		return nil, fmt.Errorf("secret: write secret key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("secret: write secret key: %w", werr)
	}
	return key, nil
}

// Source says where Load(dataDir, env) takes the key from: the environment
// variable, or the key file's path. Error messages name it.
func Source(dataDir, env string) string {
	if strings.TrimSpace(env) != "" {
		return EnvVar
	}
	return filepath.Join(dataDir, keyFile)
}

// LoadChecked loads the secret key (see [Load]) and checks it against the
// store st (see [Check]) before anything else is written: a replica with
// another key would silently drop every secret stored through the API, so
// it must refuse to start instead.
func LoadChecked(ctx context.Context, st CheckStore, dataDir, env string) ([]byte, error) {
	key, err := Load(dataDir, env)
	if err != nil {
		return nil, err
	}
	if err := Check(ctx, st, key, Source(dataDir, env)); err != nil {
		return nil, err
	}
	return key, nil
}

// Derive returns a 32-byte key for purpose, derived from key (HMAC-SHA256
// of the purpose under it), so that other parts of the gateway can protect
// what they store or hand out with a key that every replica shares and
// that is not the secret key itself.
func Derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("junction/derive/" + purpose))
	return m.Sum(nil)
}

// decodeKey decodes a hex or base64 key of KeySize bytes.
func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not the hex or base64 encoding of %d bytes", KeySize)
}
