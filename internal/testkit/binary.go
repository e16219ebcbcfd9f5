package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Binary is a main package of the module, built on first use into a
// temporary directory and shared by every test of the test binary.
// Declare it at package level and call Remove from TestMain.
type Binary struct {
	pkg   string // module-relative, e.g. "./examples/toolserver"
	build func() (string, error)
	mu    sync.Mutex // guards dir
	dir   string
}

// NewBinary returns the binary of pkg, a module-relative package path such
// as "./examples/toolserver"; nothing is built until Path is called.
func NewBinary(pkg string) *Binary {
	b := &Binary{pkg: pkg}
	b.build = sync.OnceValues(b.compile)
	return b
}

// Path builds the binary if it is not built yet and returns its path; it
// fails the test if the build fails.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	bin, err := b.build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Remove deletes the built binary, if any.
func (b *Binary) Remove() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// compile runs go build from the module root into a new temporary directory.
func (b *Binary) compile() (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	dir, err := os.MkdirTemp("", "junction-test-bin-")
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.dir = dir
	b.mu.Unlock()
	bin := filepath.Join(dir, filepath.Base(b.pkg))
	build := exec.Command("go", "build", "-o", bin, b.pkg)
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
	}
	return bin, nil
}
