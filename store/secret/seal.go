package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SealedPrefix starts every sealed value: "enc:v1:" then the unpadded
// standard base64 of the GCM nonce followed by the ciphertext and tag.
const SealedPrefix = "enc:v1:"

// ErrOpen is what Open returns for any value it cannot decrypt; it never
// carries the value.
var ErrOpen = errors.New("cannot decrypt a stored secret (was the secret key changed? set " + EnvVar +
	" to the key it was stored with)")

// Sealer encrypts and decrypts values with AES-256-GCM. Each value is
// bound (as additional data) to the sealer's domain, its owner and its
// field, so a sealed value cannot be moved to another owner or field, nor
// from one kind of resource to another.
type Sealer struct {
	aead   cipher.AEAD
	domain string
}

// NewSealer returns a Sealer under key (KeySize bytes) for values of
// domain, which names the kind of resource that owns them (for example
// "junction.registry.server").
func NewSealer(key []byte, domain string) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: key: %w", err)
	}
	return &Sealer{aead: aead, domain: domain}, nil
}

// Seal encrypts plain, the value of owner's field, with a random nonce.
func (s *Sealer) Seal(owner, field, plain string) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("secret: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), s.aad(owner, field))
	return SealedPrefix + base64.RawStdEncoding.EncodeToString(out)
}

// Open decrypts a value Seal made for the same owner and field, or returns
// ErrOpen.
func (s *Sealer) Open(owner, field, sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, SealedPrefix)
	if !ok {
		return "", ErrOpen
	}
	b, err := base64.RawStdEncoding.DecodeString(rest)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n {
		return "", ErrOpen
	}
	plain, err := s.aead.Open(nil, b[:n], b[n:], s.aad(owner, field))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}

func (s *Sealer) aad(owner, field string) []byte {
	return []byte(s.domain + ":" + owner + ":" + field)
}
