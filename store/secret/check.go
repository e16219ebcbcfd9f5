package secret

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
)

// CheckSetting is the store setting holding the secret key's check value:
// the hex HMAC-SHA256 of checkLabel under the key. It tells whether a
// replica has the key the store's secrets were sealed with, and reveals
// nothing of the key itself.
const CheckSetting = "secret_key_check"

// checkLabel is the message of the check value. It cannot collide with a
// Derive purpose ("junction/derive/...").
const checkLabel = "junction secret key check v1"

// CheckStore is the part of the store the secret key check needs.
type CheckStore interface {
	SetSettingIfAbsent(ctx context.Context, key, value string) (stored string, created bool, err error)
}

// MismatchError refuses a secret key that is not the one the store's
// secrets were encrypted with: another replica sharing the database
// generated or was given a different key, or the key was replaced.
type MismatchError struct {
	// Source is where this process read its key: EnvVar or a file path.
	Source string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the secret key (read from %s) is not the key this database's stored credentials are encrypted "+
		"with, so providers and servers added through the API could not be decrypted. Every replica sharing a database "+
		"must use the same key: set %s on every replica to the key the others use (the contents of the first replica's "+
		"%s, say) and start again. If that key is lost, the stored credentials cannot be recovered: delete the %q "+
		"setting and enter them again", e.Source, EnvVar, filepath.Join("<data-dir>", keyFile), CheckSetting)
}

// Check makes sure key is the secret key of the store st. The first
// process to check records the key's check value; every later one, on any
// replica, must match it or gets a *MismatchError naming source. Replicas
// starting together are safe: the value is inserted only if absent and the
// stored value is what every caller compares with.
func Check(ctx context.Context, st CheckStore, key []byte, source string) error {
	check := checkValue(key)
	stored, _, err := st.SetSettingIfAbsent(ctx, CheckSetting, check)
	if err != nil {
		return fmt.Errorf("secret: record the secret key check: %w", err)
	}
	if !hmac.Equal([]byte(stored), []byte(check)) {
		return fmt.Errorf("secret: %w", &MismatchError{Source: source})
	}
	return nil
}

// checkValue is key's check value.
func checkValue(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(checkLabel))
	return hex.EncodeToString(m.Sum(nil))
}
