// Command baseline is the benchmark's bare reverse proxy: a
// net/http/httputil.ReverseProxy with a tuned transport, run as its own
// process in front of the mock provider so the harness can compare Junction
// with the cheapest possible extra hop.
//
//	baseline --listen 127.0.0.1:8081 --upstream http://127.0.0.1:8080
//
// Both addresses must be on the loopback interface. It stops cleanly on
// SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/junctionhq/junction/bench/internal/loopback"
	"github.com/junctionhq/junction/bench/internal/proxy"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8081", "loopback `address` to listen on")
	upstream := fs.String("upstream", "", "loopback `URL` of the mock provider (required), e.g. http://127.0.0.1:8080")
	idle := fs.Int("max-idle-conns-per-host", proxy.DefaultMaxIdleConnsPerHost,
		"idle keep-alive connections kept to the upstream; at least the benchmark's concurrency")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *upstream == "" {
		return errors.New("--upstream is required")
	}
	if err := loopback.CheckAddr(*listen); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}

	logger := log.New(os.Stderr, "baseline: ", log.LstdFlags)
	handler, err := proxy.New(*upstream, proxy.Options{MaxIdleConnsPerHost: *idle, ErrorLog: logger})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Printf("listening on %s, forwarding to %s", ln.Addr(), *upstream)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
