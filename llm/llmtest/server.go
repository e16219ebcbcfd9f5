package llmtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Server is a Mock served over HTTP/1.1 on a TCP listener it owns. The embedded
// Mock's methods (SetDefault, SetBehavior, Stats, Requests, ...) configure and observe
// it.
type Server struct {
	*Mock

	// URL is the base URL, "http://127.0.0.1:<port>", without a trailing slash. OpenAI
	// clients take URL+"/v1" as their base URL; Anthropic clients take URL.
	URL string
	// Addr is the address the server listens on.
	Addr string

	httpServer *http.Server
	served     chan struct{} // closed when the serving goroutine has returned
	closeOnce  sync.Once
}

// NewServer starts a mock on 127.0.0.1 with a kernel-chosen port, like
// httptest.NewServer, and panics if it cannot listen (a broken test environment, not
// bad input). Close it when done, typically with t.Cleanup(srv.Close).
func NewServer(opts ...Option) *Server {
	s, err := Listen("127.0.0.1:0", opts...)
	if err != nil {
		panic(fmt.Sprintf("llmtest: NewServer: %v", err))
	}
	return s
}

// StartServer is NewServer for a test: the server is closed when t and its
// subtests end.
func StartServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// Listen starts a mock listening on addr ("host:port"). It refuses non-loopback
// addresses, including an empty host (all interfaces), unless WithAllowRemote is
// given.
func Listen(addr string, opts ...Option) (*Server, error) {
	m := New(opts...)
	if !m.cfg.allowRemote {
		if err := CheckLoopback(addr); err != nil {
			m.Close()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("llmtest: listen %s: %w", addr, err)
	}
	s := &Server{
		Mock: m,
		URL:  "http://" + ln.Addr().String(),
		Addr: ln.Addr().String(),
		httpServer: &http.Server{
			Handler:           m,
			ReadHeaderTimeout: 10 * time.Second,
		},
		served: make(chan struct{}),
	}
	if m.cfg.logger != nil {
		s.httpServer.ErrorLog = slog.NewLogLogger(m.cfg.logger.Handler(), slog.LevelWarn)
	}
	go func() {
		defer close(s.served)
		// Serve returns http.ErrServerClosed after Close or Shutdown; any other error
		// means the listener broke, and requests fail visibly to the client.
		_ = s.httpServer.Serve(ln)
	}()
	return s, nil
}

// CheckLoopback returns an error unless addr's host is a loopback IP or "localhost".
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("llmtest: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if host == "" {
		host = "all interfaces"
	}
	return fmt.Errorf("llmtest: listen address %q is not loopback (%s); pass WithAllowRemote (mockprovider: --allow-remote) to allow it", addr, host)
}

// Close stops the server at once: hanging and delayed requests are cut, open
// connections closed, and Close returns when every handler and the serving goroutine
// have returned. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.Mock.shutdown()
		_ = s.httpServer.Close() // only reports the listener's close error; nothing to recover
		<-s.served
		s.Mock.Close()
	})
}

// Shutdown stops accepting connections and waits for requests in progress to finish,
// until ctx ends; then it closes the server as Close does, cutting what is left
// (hanging requests never finish by themselves). It returns ctx's error if it had to
// cut requests.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.httpServer.Shutdown(ctx)
	s.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("llmtest: shutdown: %w", err)
	}
	return nil
}
