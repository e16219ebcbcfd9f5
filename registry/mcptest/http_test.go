package mcptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/internal/testkit"
)

func TestCheckListenAddr(t *testing.T) {
	tests := []struct {
		addr        string
		allowRemote bool
		wantErr     error // nil, ErrNotLoopback, or errAny for a malformed address
	}{
		{"127.0.0.1:0", false, nil},
		{"127.0.0.2:9002", false, nil},
		{"localhost:9002", false, nil},
		{"LOCALHOST:1", false, nil},
		{"[::1]:0", false, nil},
		{"0.0.0.0:9002", false, ErrNotLoopback},
		{":9002", false, ErrNotLoopback},
		{"[::]:9002", false, ErrNotLoopback},
		{"192.168.1.10:80", false, ErrNotLoopback},
		{"example.com:80", false, ErrNotLoopback},
		{"0.0.0.0:9002", true, nil},
		{":9002", true, nil},
		{"127.0.0.1", false, errAny},
		{"", true, errAny},
	}
	for _, tt := range tests {
		err := checkListenAddr(tt.addr, tt.allowRemote)
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("checkListenAddr(%q, %v) = %v, want nil", tt.addr, tt.allowRemote, err)
		case tt.wantErr == errAny && err == nil:
			t.Errorf("checkListenAddr(%q, %v) = nil, want an error", tt.addr, tt.allowRemote)
		case tt.wantErr == ErrNotLoopback && !errors.Is(err, ErrNotLoopback):
			t.Errorf("checkListenAddr(%q, %v) = %v, want ErrNotLoopback", tt.addr, tt.allowRemote, err)
		}
	}
}

// errAny marks test cases that expect some error.
var errAny = errors.New("any error")

func TestStartHTTPRefusesRemoteAddresses(t *testing.T) {
	srv := mustServer(t)
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		if h, err := srv.StartHTTP(HTTPConfig{Addr: addr}); !errors.Is(err, ErrNotLoopback) {
			if h != nil {
				_ = h.Close()
			}
			t.Errorf("StartHTTP(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	h, err := srv.StartHTTP(HTTPConfig{Addr: "localhost:0"})
	if err != nil {
		t.Fatalf("StartHTTP(localhost:0): %v", err)
	}
	if ip := h.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Errorf("listening on %v, want loopback", ip)
	}
	if !strings.HasPrefix(h.URL, "http://") || !strings.HasSuffix(h.URL, StreamablePath) || !strings.HasSuffix(h.SSEURL, SSEPath) {
		t.Errorf("URL %q, SSEURL %q", h.URL, h.SSEURL)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// callSleepAsync starts a sleep call and returns the channel its outcome
// arrives on, after the handler has started.
func callSleepAsync(t *testing.T, c *client.Client, rec *recorder, ms int) <-chan error {
	t.Helper()
	token := "shutdown-" + t.Name()
	done := make(chan error, 1)
	go func() {
		res, err := c.CallTool(context.Background(), mcp.CallToolRequest{Params: mcp.CallToolParams{
			Name:      ToolSleep,
			Arguments: map[string]any{"ms": ms, "progress_interval_ms": 10},
			Meta:      &mcp.Meta{ProgressToken: token},
		}})
		if err == nil && res.IsError {
			err = errors.New("sleep returned a tool error")
		}
		done <- err
	}()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if _, err := rec.waitFor(ctx, 1, isProgressFor(token)); err != nil {
		t.Fatalf("sleep did not start: %v", err)
	}
	return done
}

// connectedPair starts a server and two clients: a legacy one holding the
// standalone GET stream open and a modern one.
func connectedPair(t *testing.T) (*HTTPServer, *client.Client, *recorder) {
	t.Helper()
	srv := mustServer(t)
	h, err := srv.StartHTTP(HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	legacy := connectStreamable(h.URL, eraLegacy)(t, newRecorder())
	initialize(t, legacy, target{era: eraLegacy, wantName: DefaultName})
	rec := newRecorder()
	modern := connectStreamable(h.URL, eraModern)(t, rec)
	initialize(t, modern, target{era: eraModern, wantName: DefaultName})
	return h, modern, rec
}

// TestHTTPShutdownIsGraceful checks that Shutdown lets a call in flight
// finish, is not held up by the open GET stream, and refuses new work.
func TestHTTPShutdownIsGraceful(t *testing.T) {
	h, c, rec := connectedPair(t)
	call := callSleepAsync(t, c, rec, 300)

	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-call; err != nil {
		t.Errorf("call in flight during a graceful shutdown: %v", err)
	}
	select {
	case <-h.Done():
	default:
		t.Error("Done is open after Shutdown")
	}
	if st := h.Server.Stats(); st.InFlight != 0 || st.Cancelled != 0 {
		t.Errorf("stats = %+v, want the sleep finished normally", st)
	}
	if _, err := http.Get(h.URL); err == nil {
		t.Error("server still accepts connections after Shutdown")
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close after Shutdown = %v, want nil", err)
	}
}

// TestHTTPShutdownDeadline checks that when the grace period ends, calls in
// flight are cancelled and Shutdown reports the deadline.
func TestHTTPShutdownDeadline(t *testing.T) {
	h, c, rec := connectedPair(t)
	call := callSleepAsync(t, c, rec, 60_000)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	// Shutdown returned after every handler, so the sleep is over.
	if st := h.Server.Stats(); st.InFlight != 0 || st.Cancelled != 1 {
		t.Errorf("stats = %+v, want the sleep cancelled", st)
	}
	if err := <-call; err == nil {
		t.Error("the cut-short call succeeded")
	}
	if err := h.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Shutdown = %v, want the first result", err)
	}
}

func TestHTTPCloseCancelsCalls(t *testing.T) {
	h, c, rec := connectedPair(t)
	call := callSleepAsync(t, c, rec, 60_000)
	if err := h.Close(); err != nil {
		t.Errorf("Close = %v, want nil", err)
	}
	if err := <-call; err == nil {
		t.Error("call in flight survived Close")
	}
	if st := h.Server.Stats(); st.InFlight != 0 || st.Cancelled != 1 {
		t.Errorf("stats = %+v, want the sleep cancelled", st)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestHTTPLeavesNoGoroutines runs sessions of every kind against a server,
// closes everything, and checks that the goroutine count returns to where
// it was.
func TestHTTPLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("sessions", func(t *testing.T) {
		h, modern, rec := connectedPair(t)
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		defer cancel()
		stop, err := modern.ListenAsync(ctx, mcp.SubscriptionFilter{ToolsListChanged: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if _, err := rec.waitFor(ctx, 1, isMethod(mcp.MethodNotificationSubscriptionsAcknowledged)); err != nil {
			t.Fatal(err)
		}
		sse := connectSSE(h.SSEURL)(t, newRecorder())
		initialize(t, sse, target{era: eraLegacy, wantName: DefaultName})
		mustCall(t, ctx, sse, ToolEcho, map[string]any{"message": "x"})
		_ = callSleepAsync(t, modern, rec, 60_000) // cut short by the cleanup
	})
	// Goroutines end asynchronously after their connections close, so
	// poll; there is no event to wait for.
	defer func() {
		if t.Failed() {
			buf := make([]byte, 1<<20)
			t.Logf("the goroutines left:\n%s", buf[:runtime.Stack(buf, true)])
		}
	}()
	testkit.EventuallyNoError(t, testTimeout, "the connections' goroutines to end", func() error {
		if after := runtime.NumGoroutine(); after > before {
			return fmt.Errorf("%d goroutines before, %d after", before, after)
		}
		return nil
	})
}
