package policy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// KeyPrefix starts every virtual key, so a leaked one is easy to recognise.
const KeyPrefix = "jk-"

// keySecretBytes is the randomness in a generated virtual key.
const keySecretBytes = 32

// Key is a virtual key as the admin API shows it. The secret is never part of
// it: only its SHA-256 is stored, and it is shown once, at creation.
type Key struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Team owns the key: its budget and limits apply too, its grants are inherited.
	Team string `json:"team,omitempty"`
	// Customer tags usage with an end user or customer of the caller.
	Customer string `json:"customer,omitempty"`
	// Roles are Casbin roles (without the "role:" prefix) the key holds in its team's domain.
	Roles []string `json:"roles"`
	// Models and Tools are patterns the key may use and call directly:
	// shorthand for allow policies on the key. Default ["*"].
	Models []string `json:"models"`
	Tools  []string `json:"tools"`
	Budget *Budget  `json:"budget,omitempty"`
	Limits Limits   `json:"limits,omitzero"`
	// ExpiresAt, when set, is the instant after which the key is refused.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Enabled   bool       `json:"enabled"`
	// Metadata is free-form, for the operator.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Hint is the start of the secret, to tell keys apart in listings.
	Hint string `json:"hint"`
	// Source is "file" for keys declared in the configuration (read-only
	// through the API) or "api".
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// keySpec is the stored form of a key: Key plus the hash of its secret.
type keySpec struct {
	Key
	Hash string `json:"hash"` // hex SHA-256 of the secret
}

// Subject is the key's Casbin subject.
func (k *Key) Subject() string { return "key:" + k.Name }

// NewKeySecret returns a fresh virtual key: the prefix and 32 random bytes in
// URL-safe base64.
func NewKeySecret() (string, error) {
	var b [keySecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("policy: generate key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// hashSecret is the stored digest of a key secret.
func hashSecret(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

func hashHex(secret string) string {
	h := hashSecret(secret)
	return hex.EncodeToString(h[:])
}

// secretHint is the part of a secret shown in listings: the prefix and four
// characters, never enough to guess the rest.
func secretHint(secret string) string {
	const n = len(KeyPrefix) + 4
	if len(secret) <= n+8 {
		return "…"
	}
	return secret[:n] + "…"
}

// newID returns a random identifier with a readable prefix.
func newID(prefix string) string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// fileKeyID is the stable id of a key declared in the configuration file.
func fileKeyID(name string) string {
	h := sha256.Sum256([]byte("junction-file-key:" + name))
	return "key_f" + hex.EncodeToString(h[:8])
}

// nameRE is what key, team and role names look like: safe in Casbin policy
// lines, URLs and log lines.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$`)

func checkName(path, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s: %q must be 1-128 characters of letters, digits and _ . @ -, starting with a letter or digit", path, name)
	}
	return nil
}

// Team groups keys under a shared budget, shared limits and shared grants. It
// is also the key's Casbin domain.
type Team struct {
	Name      string            `json:"name"`
	Budget    *Budget           `json:"budget,omitempty"`
	Limits    Limits            `json:"limits,omitzero"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Source    string            `json:"source"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Subject is the team's Casbin subject.
func (t *Team) Subject() string { return "team:" + t.Name }
