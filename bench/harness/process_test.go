package harness

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestChildStopKillsProcessGroup(t *testing.T) {
	// The shell starts a grandchild and waits; stopping the child must take
	// the grandchild down with it.
	c := startShell(t, "sh", "sleep 60 & wait")
	pgid := c.pid()
	if err := syscall.Kill(-pgid, 0); err != nil {
		t.Fatalf("process group %d not running: %v", pgid, err)
	}
	c.stop()
	c.stop() // idempotent
	if !c.exited() {
		t.Fatal("child still running after stop")
	}
	// The grandchild was SIGKILLed but is reaped by init, not by us: poll
	// (bounded) until the kernel forgets the group. A loop, not
	// testkit.EventuallyNoError: bench may not import the gateway's
	// internal packages (deps_test.go).
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has members 5s after stop (kill 0: %v)", pgid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startShell starts a child named name running the shell script script,
// stopped when the test ends.
func startShell(t *testing.T, name, script string) *child {
	t.Helper()
	dir := t.TempDir()
	c, err := startChild(name, "/bin/sh", []string{"-c", script}, dir, filepath.Join(dir, name+".log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

// deadURL is a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/"
}

func TestWaitReadyReportsEarlyExit(t *testing.T) {
	c := startShell(t, "mock", "echo 'flag provided but not defined: -latency' >&2; exit 2")
	err := waitReady(context.Background(), c, deadURL(t), 10*time.Second)
	if err == nil {
		t.Fatal("waitReady() = nil for a child that exited")
	}
	for _, want := range []string{"mock exited before it was ready", "flag provided but not defined: -latency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	c := startShell(t, "silent", "echo starting; sleep 60")
	err := waitReady(context.Background(), c, deadURL(t), 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not ready after 200ms") || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("waitReady() = %v, want a timeout with the child's output", err)
	}
}

func TestWaitReadySucceedsOnAnyHTTPAnswer(t *testing.T) {
	c := startShell(t, "idle", "sleep 60")
	srv := startServer(t, http.NotFoundHandler()) // a 404 still proves it serves HTTP
	if err := waitReady(context.Background(), c, srv.URL+"/", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestStartChildEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "env.log")
	c, err := startChild("env", "/bin/sh", []string{"-c", `echo "$JUNCTION_BENCH_X $(pwd)"`}, dir, logPath, []string{"JUNCTION_BENCH_X=42"})
	if err != nil {
		t.Fatal(err)
	}
	<-c.done
	c.stop()
	if got, want := c.logTail(), "42 "+dir; got != want {
		t.Errorf("child output %q, want %q", got, want)
	}
}

func TestStartChildMissingBinary(t *testing.T) {
	dir := t.TempDir()
	if _, err := startChild("nope", filepath.Join(dir, "missing"), nil, dir, filepath.Join(dir, "nope.log"), nil); err == nil {
		t.Fatal("want an error for a missing binary")
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"only", 1, "only"},
		{"\n\n", 3, ""},
	}
	for _, tt := range tests {
		if got := tail([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("tail(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestFreeLoopbackAddr(t *testing.T) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Errorf("addr = %q, want 127.0.0.1 with a real port", addr)
	}
}

// TestBuiltPackagesResolveInTheirModules checks that every package Run builds
// is a main package when go runs in the directory goBuild gives it, in this
// repository: bench is a module of its own, so its baseline proxy cannot be
// built from the gateway module's directory, nor the gateway from bench's.
func TestBuiltPackagesResolveInTheirModules(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []goPackage{mockPackage, baselinePackage, junctionPackage} {
		cmd := exec.Command("go", "list", "-f", "{{.Name}}", pkg.path)
		cmd.Dir = pkg.dir(repo)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "main" {
			t.Errorf("%s: go list in %s = %q, %v; want a main package", pkg, cmd.Dir, out, err)
		}
	}
}
