package mcptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Paths served by StartHTTP.
const (
	// StreamablePath is the streamable HTTP endpoint.
	StreamablePath = "/mcp"
	// SSEPath is the legacy (2024-11-05) SSE endpoint.
	SSEPath = "/sse"
	// SSEMessagePath is where legacy SSE clients post their messages; the
	// SSE stream's endpoint event points there.
	SSEMessagePath = "/message"
)

// DefaultHTTPAddr is where StartHTTP listens when HTTPConfig.Addr is empty:
// a free loopback port.
const DefaultHTTPAddr = "127.0.0.1:0"

// ErrNotLoopback is returned (wrapped) by StartHTTP for a listen address that
// is not loopback when HTTPConfig.AllowRemote is false.
var ErrNotLoopback = errors.New("listen address is not loopback")

// HTTPConfig configures Server.StartHTTP. The zero value listens on a free
// loopback port.
type HTTPConfig struct {
	// Addr is the host:port to listen on. Empty means DefaultHTTPAddr.
	Addr string
	// AllowRemote permits an Addr whose host is not a loopback IP or
	// "localhost" (including an empty host, which means every interface).
	AllowRemote bool
}

// HTTPServer is a Server listening on HTTP, serving streamable HTTP at
// StreamablePath and legacy SSE at SSEPath and SSEMessagePath. Stop it with
// Close or Shutdown.
type HTTPServer struct {
	// URL is the streamable HTTP endpoint, like
	// "http://127.0.0.1:41234/mcp".
	URL string
	// SSEURL is the legacy SSE endpoint, like "http://127.0.0.1:41234/sse".
	SSEURL string
	// Server is the MCP server being served; use it to add or remove tools
	// and to read call statistics.
	Server *Server

	listener   net.Listener
	httpServer *http.Server
	streamable *server.StreamableHTTPServer
	sse        *server.SSEServer
	// cancelBase cancels the base context of every request, which ends
	// long-lived streams and tool calls still running.
	cancelBase context.CancelFunc
	// serveDone is closed when Serve has returned; serveErr is its result
	// and is written before serveDone is closed.
	serveDone chan struct{}
	serveErr  error

	// mu guards closing and the Add side of handlers: once closing is set,
	// no handler starts, so handlers.Wait cannot race with handlers.Add.
	mu       sync.Mutex
	closing  bool
	handlers sync.WaitGroup

	stopOnce sync.Once
	stopErr  error
}

// StartHTTP starts serving s on cfg.Addr in the background and returns once
// the listener is open.
func (s *Server) StartHTTP(cfg HTTPConfig) (*HTTPServer, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultHTTPAddr
	}
	if err := checkListenAddr(addr, cfg.AllowRemote); err != nil {
		return nil, fmt.Errorf("mcptest: start http: %w", err)
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mcptest: start http: %w", err)
	}

	baseCtx, cancelBase := context.WithCancel(context.Background())
	h := &HTTPServer{
		Server:     s,
		listener:   listener,
		cancelBase: cancelBase,
		serveDone:  make(chan struct{}),
		streamable: server.NewStreamableHTTPServer(s.mcp,
			server.WithEndpointPath(StreamablePath),
			server.WithStreamableHTTPLogger(s.logger),
		),
		sse: server.NewSSEServer(s.mcp,
			server.WithSSEEndpoint(SSEPath),
			server.WithMessageEndpoint(SSEMessagePath),
		),
	}
	base := "http://" + listener.Addr().String()
	h.URL = base + StreamablePath
	h.SSEURL = base + SSEPath

	mux := http.NewServeMux()
	mux.Handle(StreamablePath, h.streamable)
	mux.Handle(SSEPath, h.sse)
	mux.Handle(SSEMessagePath, h.sse)
	h.httpServer = &http.Server{
		Handler:           h.track(mux),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	go func() {
		defer close(h.serveDone)
		if err := h.httpServer.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			h.serveErr = err
		}
	}()
	return h, nil
}

// StartHTTP builds a Server with opts and serves it on a free loopback port
// until the test ends, like httptest.NewServer. It fails the test on error.
func StartHTTP(t testing.TB, opts ...Option) *HTTPServer {
	t.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		t.Fatalf("mcptest: %v", err)
	}
	h, err := s.StartHTTP(HTTPConfig{})
	if err != nil {
		t.Fatalf("mcptest: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("mcptest: close http server: %v", err)
		}
	})
	return h
}

// Addr returns the address the server listens on.
func (h *HTTPServer) Addr() net.Addr { return h.listener.Addr() }

// Done returns a channel closed when the server has stopped serving, after
// Shutdown or Close or because accepting connections failed; Shutdown or
// Close then report the failure.
func (h *HTTPServer) Done() <-chan struct{} { return h.serveDone }

// Shutdown stops the server gracefully: it stops accepting connections,
// ends the long-lived notification streams, and waits for requests in
// flight until ctx ends; then it cancels whatever is left. It returns after
// every handler has returned. The error is ctx's error if the wait was cut
// short, or a serving error. Calls after the first return the first result.
func (h *HTTPServer) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() { h.stopErr = h.stop(ctx) })
	return h.stopErr
}

// Close stops the server at once: requests in flight are cancelled, and
// Close returns after every handler has returned.
func (h *HTTPServer) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (h *HTTPServer) stop(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()

	// Streams (standalone GET and legacy SSE) never end by themselves.
	h.streamable.CloseSessions(ctx)
	h.sse.CloseSessions()

	var errs []error
	if err := h.httpServer.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("mcptest: http shutdown: %w", err))
	}
	// Whatever is still running is cut short, and the connections closed.
	h.cancelBase()
	if err := h.httpServer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("mcptest: http close: %w", err))
	}
	h.handlers.Wait()
	<-h.serveDone
	if h.serveErr != nil {
		errs = append(errs, fmt.Errorf("mcptest: http serve: %w", h.serveErr))
	}
	return errors.Join(errs...)
}

// track counts running handlers so that stop can wait for them, and turns
// away requests once stopping has begun.
func (h *HTTPServer) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		if h.closing {
			h.mu.Unlock()
			http.Error(w, "mcptest: server is shutting down", http.StatusServiceUnavailable)
			return
		}
		h.handlers.Add(1)
		h.mu.Unlock()
		defer h.handlers.Done()
		next.ServeHTTP(w, r)
	})
}

// checkListenAddr validates addr and, unless allowRemote, requires its host
// to be a loopback IP or "localhost".
func checkListenAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if allowRemote || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("%q: %w (allow remote listening explicitly to use it)", addr, ErrNotLoopback)
}

// isLoopbackHost reports whether host names the loopback interface. Other
// host names are not resolved: they count as remote.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ServeStreamable serves srv, any mcp-go server, over streamable HTTP with
// opts on an httptest server until the test ends, and returns its URL.
// Tests use it for upstreams with behaviour of their own.
func ServeStreamable(t testing.TB, srv *server.MCPServer, opts ...server.StreamableHTTPOption) string {
	t.Helper()
	h := server.NewStreamableHTTPServer(srv, opts...)
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		ts.Close()
	})
	return ts.URL
}
