package policy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// AdminKeyPrefix starts every generated admin key, so a leaked one is easy
// to recognise in a secret scanner.
const AdminKeyPrefix = "jadm-"

// adminKeySetting is the store setting holding the hex SHA-256 of a
// generated admin key. The key itself is never stored.
const adminKeySetting = "admin_key_sha256"

// SettingsStore is the part of the store the admin key needs.
type SettingsStore interface {
	Setting(ctx context.Context, key string) (value string, ok bool, err error)
	SetSettingIfAbsent(ctx context.Context, key, value string) (stored string, created bool, err error)
}

// AdminAuth verifies the admin key. It holds only the key's hash.
type AdminAuth struct {
	hash [sha256.Size]byte
}

// NewAdminAuth returns an AdminAuth accepting exactly key.
func NewAdminAuth(key string) *AdminAuth {
	return &AdminAuth{hash: sha256.Sum256([]byte(key))}
}

// Verify reports whether presented is the admin key, in time independent of
// where the two differ.
func (a *AdminAuth) Verify(presented string) bool {
	h := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(h[:], a.hash[:]) == 1
}

// LoadAdminKey returns the admin key verifier. A configured key wins. With
// none, it uses the hash a previous start stored; on the very first start it
// generates a key, stores its hash and returns the key as generated, for the
// caller to show the operator once. Several replicas starting together agree
// on one key: only the one whose hash was stored returns it.
func LoadAdminKey(ctx context.Context, st SettingsStore, configured string) (auth *AdminAuth, generated string, err error) {
	if configured != "" {
		return NewAdminAuth(configured), "", nil
	}
	if stored, ok, err := st.Setting(ctx, adminKeySetting); err != nil {
		return nil, "", fmt.Errorf("policy: read admin key hash: %w", err)
	} else if ok {
		a, err := adminAuthFromHex(stored)
		return a, "", err
	}
	key, err := NewAdminKey()
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256([]byte(key))
	stored, created, err := st.SetSettingIfAbsent(ctx, adminKeySetting, hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, "", fmt.Errorf("policy: store admin key hash: %w", err)
	}
	if !created { // another replica got there first; its key is the key
		a, err := adminAuthFromHex(stored)
		return a, "", err
	}
	return &AdminAuth{hash: sum}, key, nil
}

// NewAdminKey returns a fresh random admin key: the prefix and 32 random
// bytes in URL-safe base64.
func NewAdminKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("policy: generate admin key: %w", err)
	}
	return AdminKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

var errCorruptAdminHash = errors.New("policy: stored admin key hash is corrupt; delete the admin_key_sha256 setting or set JUNCTION_ADMIN_KEY")

func adminAuthFromHex(s string) (*AdminAuth, error) {
	var a AdminAuth
	if len(s) != hex.EncodedLen(sha256.Size) {
		return nil, errCorruptAdminHash
	}
	if _, err := hex.Decode(a.hash[:], []byte(s)); err != nil {
		return nil, errCorruptAdminHash
	}
	return &a, nil
}
