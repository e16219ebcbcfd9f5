package gateway

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"
)

// AdminKeyFile is the file in the data directory that receives a generated
// admin key when no terminal is attached to show it on.
const AdminKeyFile = "admin.key"

// deliverAdminKey hands a freshly generated admin key to the operator, once:
// on the terminal when there is one, otherwise in <dataDir>/admin.key (mode
// 0600), whose path, never the key, is logged. The key never goes to the
// log stream, which collectors ship elsewhere.
func deliverAdminKey(terminal io.Writer, dataDir, key string, log zerolog.Logger) error {
	if terminal != nil {
		printAdminKey(terminal, key)
		return nil
	}
	path, err := writeAdminKeyFile(dataDir, key)
	if err != nil {
		return fmt.Errorf("save the generated admin key: %w; set JUNCTION_ADMIN_KEY (or admin_key) to a key of your own instead", err)
	}
	log.Warn().Str("path", path).
		Msg("generated an admin key and wrote it to this file (mode 0600); save it, for example as JUNCTION_ADMIN_KEY, then delete the file")
	return nil
}

// printAdminKey shows a generated admin key on an interactive terminal.
func printAdminKey(w io.Writer, key string) {
	fmt.Fprintf(w, "\n"+
		"  Junction generated an admin key. It is shown only this once; only its hash is stored.\n"+
		"  Save it now (for example as JUNCTION_ADMIN_KEY):\n\n"+
		"      %s\n\n", key)
}

// writeAdminKeyFile writes key to <dir>/admin.key with mode 0600 and returns
// the path. The key is written to a new private file (O_EXCL, 0600) that is
// then renamed over any older admin.key, so the file is never readable by
// others, not even for a moment, and a symlink planted at the path is
// replaced, not followed.
func writeAdminKeyFile(dir, key string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, AdminKeyFile)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	f, err := os.CreateTemp(dir, "."+AdminKeyFile+"-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, werr := f.WriteString(key + "\n")
	if werr == nil {
		werr = f.Chmod(0o600)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return "", werr
	}
	return path, nil
}
