package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

// junctionBuild is the junction binary, built once for the tests that run it.
var junctionBuild = testkit.NewBinary("./cmd/junction")

func TestMain(m *testing.M) { testkit.Main(m, junctionBuild.Remove) }

func noEnv(string) (string, bool) { return "", false }

// binaryTest marks a test that runs the junction binary: parallel, skipped
// with -short. It returns a temp dir for the test and the binary.
func binaryTest(t *testing.T) (dir, bin string) {
	t.Helper()
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	return t.TempDir(), junctionBuild.Path(t)
}

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errOut, noEnv); code != exitOK || !strings.HasPrefix(out.String(), "junction ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errOut, noEnv); code != exitUsage || !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"serve", "--no-such-flag"}, &out, &errOut, noEnv); code != exitUsage {
		t.Fatalf("bad flag: %d", code)
	}
}

func TestBadConfigListsEveryProblemAndExitsNonZero(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "junction.yaml")
	doc := "listen: nowhere\nlog: { format: xml }\nhttp: { max_body_bytes: huge }\nsurprise: true\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--config", path}, &out, &errOut, noEnv)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"4 problems", "listen:", "log.format:", "http.max_body_bytes:", "surprise: unknown key"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestFlagsOverrideEnvOverrideConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "junction.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:1\nlog:\n  level: ${LVL:-warn}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An invalid flag value proves the flag won over env and file.
	env := func(k string) (string, bool) {
		m := map[string]string{"JUNCTION_CONFIG": path, "JUNCTION_LISTEN": "127.0.0.1:2", "LVL": "debug"}
		v, ok := m[k]
		return v, ok
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--listen", "flag-wins", "--log-level", "shout"}, &out, &errOut, env)
	if code != exitUsage || !strings.Contains(errOut.String(), `"flag-wins"`) || !strings.Contains(errOut.String(), `"shout"`) {
		t.Fatalf("exit %d:\n%s", code, errOut.String())
	}
}

// TestServeStartsAndStopsOnSIGINT runs the real binary with no config, as a
// user would, and stops it with Ctrl-C.
func TestServeStartsAndStopsOnSIGINT(t *testing.T) {
	dir, bin := binaryTest(t)
	addr := freeAddr(t)
	var stderr testkit.SyncBuffer // read while the process writes it
	cmd := exec.Command(bin, "--listen", addr, "--log-format", "json")
	cmd.Dir = dir // the default ./data lands in the temp dir
	cmd.Env = append(os.Environ(), "JUNCTION_ADMIN_KEY=")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	base := "http://" + addr
	testkit.EventuallyNoError(t, 20*time.Second, "the gateway to be ready", func() error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return fmt.Errorf("%w\n%s", err, stderr.String())
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %d\n%s", resp.StatusCode, stderr.String())
		}
		return nil
	})
	for _, p := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(base + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "junction.db")); err != nil {
		t.Fatalf("SQLite database not created under ./data: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGINT\n%s", stderr.String())
	}
	logs := stderr.String()
	if !strings.Contains(logs, "shutdown complete") {
		t.Fatalf("expected a clean shutdown:\n%s", logs)
	}
	// stderr is not a terminal here: the generated admin key must not be
	// written to it (it is the JSON log stream) but to a private file whose
	// path is logged.
	keyFile := filepath.Join("data", "admin.key")
	if strings.Contains(logs, "jadm-") || !strings.Contains(logs, keyFile) {
		t.Fatalf("the generated admin key reached the log, or its file is not named:\n%s", logs)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin key file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, keyFile)); !strings.HasPrefix(string(b), "jadm-") {
		t.Fatalf("admin key file holds %q", b)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr())
}
