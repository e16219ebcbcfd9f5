package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/store"
)

// TestSecondSignalCutsTheDrainShort runs the real binary with a stream
// that would run for minutes and a 60 s shutdown timeout: the first
// SIGTERM starts the graceful drain (the process waits for the stream);
// the second cuts it short, and the process exits within seconds with the
// cut stream settled and recorded.
func TestSecondSignalCutsTheDrainShort(t *testing.T) {
	dir, bin := binaryTest(t)
	mock := llmtest.NewServer()
	t.Cleanup(mock.Close)
	if err := mock.SetBehavior("sk-main", llmtest.Behavior{ReplyTokens: 5000, ChunkDelay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	addr, dataDir, path := freeAddr(t), filepath.Join(dir, "data"), filepath.Join(dir, "junction.yaml")
	doc := hupConfig(addr, dataDir, mock.URL, "http:\n  shutdown_timeout: 60s\n", "alice", hupAliceKey)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, logs, exited := startServeProcess(t, bin, path)
	hupWaitUntil(t, "the gateway to be ready", logs, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	stream := testkit.OpenChatStream(t, "http://"+addr, hupAliceKey, "fast")
	go testkit.ReadSSEData(stream) // the client keeps reading until the gateway cuts it

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	hupWaitUntil(t, "the drain to start", logs, func() bool { return strings.Contains(logs.String(), "draining in-flight requests") })
	select {
	case err := <-exited:
		t.Fatalf("the first SIGTERM did not wait for the stream: exit %v\n%s", err, logs.String())
	case <-time.After(500 * time.Millisecond):
	}

	second := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		t.Logf("exited %v after the second SIGTERM", time.Since(second).Round(time.Millisecond))
		if err != nil {
			t.Errorf("exit after the second SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15s of the second SIGTERM (shutdown_timeout is 60s)\n%s", logs.String())
	}
	for _, want := range []string{"second signal", "drain cut short", "shutdown complete"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}

	// The cut stream was settled and recorded as cancelled, with the tokens
	// it produced.
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{}, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.QueryUsage(ctx, store.UsageQuery{Kind: "llm"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Requests != 1 || rows[0].Errors != 1 || rows[0].CompletionTokens == 0 {
		t.Errorf("usage after the cut: %+v, want the stream, not ok, with its tokens", rows)
	}
}

// TestServeExitsWhenTheAddressIsTaken: a listen error ends serve with a
// failure exit code; it used to hang for ever, waiting for a signal.
func TestServeExitsWhenTheAddressIsTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := func(k string) (string, bool) {
		if k == "JUNCTION_ADMIN_KEY" {
			return testAdminKey, true
		}
		return "", false
	}
	var out, errOut testkit.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"serve", "--listen", ln.Addr().String(), "--data-dir", t.TempDir(), "--log-format", "json"}, &out, &errOut, env)
	}()
	select {
	case code := <-done:
		if code != exitFailed || !strings.Contains(errOut.String(), "address already in use") {
			t.Errorf("exit %d:\n%s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not return after its listen error:\n%s", errOut.String())
	}
}
