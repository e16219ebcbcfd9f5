package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry/mcptest"
)

// newRegistryWith is newRegistry with the caller session bounds set.
func newRegistryWith(t *testing.T, maxSessions int, idle time.Duration) *Registry {
	t.Helper()
	return startRegistry(t, Options{Store: newStore(t), HealthInterval: 100 * time.Millisecond,
		MaxCallerSessions: maxSessions, CallerSessionIdle: idle})
}

// rootsOf answers roots/list with one root.
func rootsOf(uri string) func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
		return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: uri}}}, nil
	}
}

// callerPIDs returns the process IDs of server's stdio caller sessions,
// by caller.
func callerPIDs(t *testing.T, r *Registry, name string) map[Caller]int {
	t.Helper()
	u, ok := r.lookup(name)
	if !ok {
		t.Fatal("no upstream")
	}
	u.callers.mu.Lock()
	defer u.callers.mu.Unlock()
	out := map[Caller]int{}
	for _, s := range u.callers.byKey {
		if s.conn != nil && s.conn.proc != nil {
			out[s.key] = s.conn.proc.cmd.Process.Pid
		}
	}
	return out
}

// waitGone waits for process pid to be reaped.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("process %d to end", pid), func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	})
}

// rootsCall calls mcptest's roots tool as caller, whose client lists root.
func rootsCall(t *testing.T, r *Registry, server string, caller Caller, root string) []string {
	t.Helper()
	raw, err := r.CallTool(context.Background(), server, mcptest.ToolRoots, nil, CallOptions{Caller: caller, OnRoots: rootsOf(root)})
	if err != nil {
		t.Fatalf("roots as %+v: %v", caller, err)
	}
	var res struct {
		IsError           bool                `json:"isError"`
		StructuredContent mcptest.RootsOutput `json:"structuredContent"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.IsError {
		t.Fatalf("roots as %+v: %s (%v)", caller, raw, err)
	}
	var uris []string
	for _, root := range res.StructuredContent.Roots {
		uris = append(uris, root.URI)
	}
	return uris
}

// TestCallerSessionsIsolateRoots: an upstream that keeps a client's roots
// per session (mcptest's roots tool, like server-everything) answers each
// caller with its own roots, in either order and again from its cache,
// because each caller has a session (here a process) of its own; a call
// without client features cannot get them.
func TestCallerSessionsIsolateRoots(t *testing.T) {
	bin := toolserver(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "local", Transport: TransportStdio, Command: bin, Args: []string{"--stdio", "--tools", "roots,echo"}})
	waitReady(t, r, "local")
	for i, order := range [][]string{{"a", "b"}, {"b", "a"}} {
		for round := range 2 {
			for _, who := range order {
				caller := Caller{Key: fmt.Sprintf("key:%s%d", who, i)}
				want := fmt.Sprintf("file:///%s%d", who, i)
				if got := rootsCall(t, r, "local", caller, want); !slices.Equal(got, []string{want}) {
					t.Errorf("order %v round %d: %s sees %q", order, round, who, got)
				}
			}
		}
	}
	// Without a hook the call runs on the shared session, where the
	// upstream's roots/list is refused.
	raw, err := r.CallTool(context.Background(), "local", mcptest.ToolRoots, nil, CallOptions{})
	if err == nil {
		text, isErr := resultText(t, raw)
		err = fmt.Errorf("result %q (isError %v)", text, isErr)
	}
	if !strings.Contains(err.Error(), "the client does not support roots") || strings.Contains(err.Error(), "file:///") {
		t.Errorf("a call without client features: %v", err)
	}
	if n := status(r, "local").CallerSessions; n != 4 {
		t.Errorf("%d caller sessions, want 4", n)
	}
}

// TestCallerSessionsPerCaller: calls without client features share the
// upstream's session; each caller (key and downstream session) gets a
// session of its own, kept across its calls whatever their hooks.
func TestCallerSessionsPerCaller(t *testing.T) {
	srv := server.NewMCPServer("who", "1", server.WithToolCapabilities(false))
	srv.AddTool(mcp.NewTool("whoami"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(server.ClientSessionFromContext(ctx).SessionID()), nil
	})
	url := mcptest.ServeStreamable(t, srv, server.WithStreamableHTTPProtocolVersions(mcp.LATEST_LEGACY_PROTOCOL_VERSION), server.WithStreamableHTTPLogger(quietSlog))
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "who", Transport: TransportStreamableHTTP, URL: url})
	waitReady(t, r, "who")
	sampling := func(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		return nil, errors.New("unused")
	}
	session := func(opts CallOptions) string {
		t.Helper()
		raw, err := r.CallTool(context.Background(), "who", "whoami", nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := resultText(t, raw)
		return text
	}
	a := Caller{Key: "key:a", Session: "s1"}
	shared := session(CallOptions{})
	for name, opts := range map[string]CallOptions{
		"another call without features": {Caller: a},
	} {
		if got := session(opts); got != shared {
			t.Errorf("%s: session %q, want the shared %q", name, got, shared)
		}
	}
	seen := map[string]string{shared: "shared"}
	for _, tc := range []struct {
		name string
		opts CallOptions
	}{
		{"a with roots", CallOptions{Caller: a, OnRoots: rootsOf("file:///a")}},
		{"a's other session", CallOptions{Caller: Caller{Key: "key:a", Session: "s2"}, OnSampling: sampling}},
		{"b, same session id", CallOptions{Caller: Caller{Key: "key:b", Session: "s1"}, OnRoots: rootsOf("file:///b")}},
		{"b stateless", CallOptions{Caller: Caller{Key: "key:b"}, OnRoots: rootsOf("file:///b")}},
		{"b stateless resuming", CallOptions{Caller: Caller{Key: "key:c"}, PassInputRequired: true}},
	} {
		got := session(tc.opts)
		if other, ok := seen[got]; ok {
			t.Errorf("%s: on the session of %s", tc.name, other)
		}
		seen[got] = tc.name
		if again := session(tc.opts); again != got {
			t.Errorf("%s: a second call ran on session %q, not %q", tc.name, again, got)
		}
	}
	if got := session(CallOptions{Caller: a, OnSampling: sampling}); seen[got] != "a with roots" {
		t.Errorf("a's call with other hooks ran on the session of %q", seen[got])
	}
}

// TestCallerSessionsBounded: at most MaxCallerSessions per server; the
// least recently used idle one is closed (its process ends) for a new
// caller; when all are busy a new caller fails at once; EndSession closes
// a downstream session's; losing the shared connection closes them all.
func TestCallerSessionsBounded(t *testing.T) {
	bin := toolserver(t)
	r := newRegistryWith(t, 2, time.Hour)
	mustCreate(t, r, ServerConfig{Name: "local", Transport: TransportStdio, Command: bin, Args: []string{"--stdio", "--tools", "roots,sleep"}})
	waitReady(t, r, "local")
	a, b, c, d := Caller{Key: "key:a"}, Caller{Key: "key:b", Session: "sb"}, Caller{Key: "key:c"}, Caller{Key: "key:d"}
	rootsCall(t, r, "local", a, "file:///a")
	pidA := callerPIDs(t, r, "local")[a]
	rootsCall(t, r, "local", b, "file:///b")
	if n := len(callerPIDs(t, r, "local")); n != 2 {
		t.Fatalf("%d caller sessions, want 2", n)
	}
	rootsCall(t, r, "local", c, "file:///c") // evicts a, the least recently used
	if n := status(r, "local").CallerSessions; n != 2 {
		t.Errorf("%d caller sessions after a third caller, want 2", n)
	}
	waitGone(t, pidA)
	if got := rootsCall(t, r, "local", b, "file:///b"); !slices.Equal(got, []string{"file:///b"}) {
		t.Errorf("b after the eviction of a: %q", got)
	}

	// Both sessions busy: a fourth caller is refused at once.
	var wg sync.WaitGroup
	for _, caller := range []Caller{b, c} {
		wg.Go(func() {
			_, err := r.CallTool(context.Background(), "local", mcptest.ToolSleep, json.RawMessage(`{"ms":1500}`), CallOptions{Caller: caller, OnRoots: rootsOf("x")})
			if err != nil {
				t.Errorf("sleep as %+v: %v", caller, err)
			}
		})
	}
	testkit.Eventually(t, 5*time.Second, "two busy sessions", func() bool {
		u, _ := r.lookup("local")
		u.callers.mu.Lock()
		defer u.callers.mu.Unlock()
		busy := 0
		for _, s := range u.callers.byKey {
			busy += s.busy
		}
		return busy == 2
	})
	start := time.Now()
	_, err := r.CallTool(context.Background(), "local", mcptest.ToolRoots, nil, CallOptions{Caller: d, OnRoots: rootsOf("file:///d")})
	if !errors.Is(err, ErrCallerSessionsBusy) || time.Since(start) > time.Second {
		t.Errorf("a caller beyond the bound while all are busy: %v after %s", err, time.Since(start))
	}
	wg.Wait()

	// The end of b's downstream session closes its upstream session.
	pids := callerPIDs(t, r, "local")
	r.EndSession("sb")
	if n := status(r, "local").CallerSessions; n != 1 {
		t.Errorf("%d caller sessions after EndSession, want 1", n)
	}
	waitGone(t, pids[b])
	if err := syscall.Kill(pids[c], 0); err != nil {
		t.Errorf("c's process after b's session ended: %v", err)
	}

	// The shared connection is lost: the caller sessions go with it.
	pids = callerPIDs(t, r, "local")
	if err := syscall.Kill(stdioPID(t, r, "local"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		waitGone(t, pid)
	}
	testkit.Eventually(t, 10*time.Second, "no caller sessions", func() bool { return status(r, "local").CallerSessions == 0 })
}

// TestCallerSessionsIdleAndClose: an unused caller session is closed after
// the idle timeout, and Close ends every caller session's process.
func TestCallerSessionsIdleAndClose(t *testing.T) {
	bin := toolserver(t)
	r := newRegistryWith(t, 4, 300*time.Millisecond)
	mustCreate(t, r, ServerConfig{Name: "local", Transport: TransportStdio, Command: bin, Args: []string{"--stdio", "--tools", "roots"}})
	waitReady(t, r, "local")
	rootsCall(t, r, "local", Caller{Key: "key:a"}, "file:///a")
	pids := callerPIDs(t, r, "local")
	if len(pids) != 1 {
		t.Fatalf("caller processes %v", pids)
	}
	waitGone(t, pids[Caller{Key: "key:a"}])
	testkit.Eventually(t, 5*time.Second, "the idle session to be closed", func() bool { return status(r, "local").CallerSessions == 0 })

	rootsCall(t, r, "local", Caller{Key: "key:b"}, "file:///b")
	pids = callerPIDs(t, r, "local")
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			t.Errorf("caller process %d still exists after Close", pid)
		}
	}
}

// TestCallerSessionRetiredWhileBusy: a caller session retired while a call
// uses it (its downstream session ended) lets the call finish, is not used
// by the caller's next call, and is closed when the call ends.
func TestCallerSessionRetiredWhileBusy(t *testing.T) {
	bin := toolserver(t)
	r := newRegistryWith(t, 4, time.Hour)
	mustCreate(t, r, ServerConfig{Name: "local", Transport: TransportStdio, Command: bin, Args: []string{"--stdio", "--tools", "roots,sleep"}})
	waitReady(t, r, "local")
	x := Caller{Key: "key:x", Session: "sx"}
	rootsCall(t, r, "local", x, "file:///x")
	old := callerPIDs(t, r, "local")[x]

	done := make(chan error, 1)
	go func() {
		_, err := r.CallTool(context.Background(), "local", mcptest.ToolSleep, json.RawMessage(`{"ms":800}`), CallOptions{Caller: x, OnRoots: rootsOf("file:///x")})
		done <- err
	}()
	testkit.Eventually(t, 5*time.Second, "the call to start", func() bool {
		u, _ := r.lookup("local")
		u.callers.mu.Lock()
		defer u.callers.mu.Unlock()
		s := u.callers.byKey[x]
		return s != nil && s.busy == 1
	})
	r.EndSession("sx")
	rootsCall(t, r, "local", x, "file:///x")
	if pid := callerPIDs(t, r, "local")[x]; pid == old || pid == 0 {
		t.Errorf("the next call ran on pid %d, the retired session's is %d", pid, old)
	}
	if n := status(r, "local").CallerSessions; n != 2 {
		t.Errorf("%d caller sessions while the retired one is busy, want 2", n)
	}
	if err := <-done; err != nil {
		t.Errorf("the call on the retired session: %v", err)
	}
	waitGone(t, old)
	testkit.Eventually(t, 5*time.Second, "one caller session", func() bool { return status(r, "local").CallerSessions == 1 })
}
