package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/llmtest"
)

const (
	hupAliceKey = "jk-hup-alice-0123456789abcdefgh"
	hupBobKey   = "jk-hup-bob-0123456789abcdefghij"
	hupCarolKey = "jk-hup-carol-0123456789abcdefgh"
)

// hupConfig is the configuration file of the SIGHUP test with the given
// keys (name → secret, in order) and extra text appended.
func hupConfig(addr, dataDir, mockURL, extra string, keys ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\ndata_dir: %s\nadmin_key: %s\n", addr, dataDir, testAdminKey)
	fmt.Fprintf(&b, "providers:\n  - name: mock\n    base_url: %s/v1\n    keys: [{value: sk-main}]\n", mockURL)
	b.WriteString("models:\n  - name: fast\n    targets: [{model: mock/gpt-4o-mini}]\n")
	b.WriteString("keys:\n")
	for i := 0; i+1 < len(keys); i += 2 {
		fmt.Fprintf(&b, "  - {name: %s, value: %s}\n", keys[i], keys[i+1])
	}
	b.WriteString(extra)
	return b.String()
}

// hupWaitUntil polls cond for up to 15 s.
func hupWaitUntil(t *testing.T, what string, logs *testkit.SyncBuffer, cond func() bool) {
	t.Helper()
	testkit.EventuallyNoError(t, 15*time.Second, what, func() error {
		if !cond() {
			return fmt.Errorf("the gateway's log:\n%s", logs.String())
		}
		return nil
	})
}

// TestSIGHUPReloadsTheConfiguration runs the real binary from a
// configuration file and sends it SIGHUP, as an operator would: the edited
// file is applied (a key added, one removed) while a stream that started
// before keeps going to its end; a bad file is refused with every problem
// logged and the process keeps serving the configuration in force, also
// when SIGHUPs arrive while a reload runs; `junction reload` does the same
// through the admin API; SIGINT still stops it cleanly.
func TestSIGHUPReloadsTheConfiguration(t *testing.T) {
	dir, bin := binaryTest(t)
	mock := llmtest.NewServer(llmtest.WithSeed(3))
	t.Cleanup(mock.Close)
	if err := mock.SetBehavior("sk-main", llmtest.Behavior{ReplyTokens: 60, ChunkDelay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	addr, dataDir, path := freeAddr(t), filepath.Join(dir, "data"), filepath.Join(dir, "junction.yaml")
	base := "http://" + addr
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(hupConfig(addr, dataDir, mock.URL, "", "alice", hupAliceKey))

	cmd, logs, exited := startServeProcess(t, bin, path)
	alive := func() {
		t.Helper()
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the gateway exited (%v); its log:\n%s", err, logs.String())
		default:
		}
	}
	hupWaitUntil(t, "the gateway to be ready", logs, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if got := callerStatus(t, base, hupAliceKey); got != http.StatusOK {
		t.Fatalf("alice at start: %d", got)
	}

	// A stream starts; the file changes; SIGHUP.
	stream := testkit.OpenChatStream(t, base, hupAliceKey, "fast")
	write(hupConfig(addr, dataDir, mock.URL, "", "bob", hupBobKey))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	hupWaitUntil(t, "bob's key after SIGHUP", logs, func() bool { return callerStatus(t, base, hupBobKey) == http.StatusOK })
	if mock.InFlight() == 0 {
		t.Fatal("the stream ended before the reload was applied; it proves nothing")
	}
	if got := callerStatus(t, base, hupAliceKey); got != http.StatusUnauthorized {
		t.Errorf("alice after her key left the file: %d", got)
	}
	if events := testkit.ReadSSEData(stream); len(events) < 20 || events[len(events)-1] != "[DONE]" {
		t.Errorf("the stream in flight during SIGHUP: %d events, ending %q", len(events), events[max(0, len(events)-1):])
	}
	alive()
	if !strings.Contains(logs.String(), `keys: added \"bob\"; removed \"alice\"`) {
		t.Errorf("the reload's changes are not logged:\n%s", logs.String())
	}

	// A bad file, and SIGHUPs while that reload runs: refused, logged
	// problem by problem, and the gateway keeps serving.
	write(hupConfig(addr, dataDir, mock.URL, "surprise: 1\nhttp: {idle_timeout: soon}\n", "bob", hupBobKey))
	before := len(logs.String())
	for range 3 {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hupWaitUntil(t, "the refused reload to be logged", logs, func() bool {
		return strings.Contains(logs.String(), "configuration reload refused")
	})
	for _, want := range []string{"surprise: unknown key", "http.idle_timeout"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the problem %q is not logged:\n%s", want, logs.String())
		}
	}
	// The SIGHUPs sent while the first reload ran may have queued one
	// more: wait until every reload begun has been refused.
	hupWaitUntil(t, "every SIGHUP's reload to be refused", logs, func() bool {
		l := logs.String()[before:]
		return strings.Count(l, "SIGHUP: reloading the configuration") == strings.Count(l, "configuration reload refused")
	})
	alive()
	if got := callerStatus(t, base, hupBobKey); got != http.StatusOK {
		t.Errorf("bob after a refused reload: %d", got)
	}

	// junction reload: the problems of the bad file, then a good file.
	env := map[string]string{"JUNCTION_ADMIN_KEY": testAdminKey}
	r := cliEnv(t, env, "reload", "--url", base)
	if r.code != exitFailed || !strings.Contains(r.stderr, "surprise: unknown key") || !strings.Contains(r.stderr, "http.idle_timeout") {
		t.Errorf("junction reload of a bad file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	write(hupConfig(addr, dataDir, mock.URL, "", "bob", hupBobKey, "carol", hupCarolKey))
	r = cliEnv(t, env, "reload", "--url", base)
	if r.code != exitOK || !strings.Contains(r.stdout, `keys: added "carol"`) {
		t.Errorf("junction reload: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := callerStatus(t, base, hupCarolKey); got != http.StatusOK {
		t.Errorf("carol after junction reload: %d", got)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil || !strings.Contains(logs.String(), "shutdown complete") {
			t.Errorf("exit after SIGINT: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGINT\n%s", logs.String())
	}
}

// startServeProcess runs the junction binary on the configuration file path
// with JSON logs into logs. exited receives the process's exit (put it back
// after reading it); the process is killed when the test ends.
func startServeProcess(t *testing.T, bin, path string) (cmd *exec.Cmd, logs *testkit.SyncBuffer, exited chan error) {
	t.Helper()
	logs = &testkit.SyncBuffer{}
	cmd = exec.Command(bin, "--config", path, "--log-format", "json")
	cmd.Env = append(os.Environ(), "JUNCTION_ADMIN_KEY=")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return cmd, logs, exited
}
