// Command toolserver runs an example upstream MCP tool server (the servers of
// package registry/mcptest), for trying Junction out and for end-to-end tests.
//
//	toolserver --stdio [flags]                          MCP over stdin and stdout
//	toolserver --listen 127.0.0.1:9002 [flags]          streamable HTTP at /mcp, legacy SSE at /sse
//
// Logs go to stderr only, so stdout stays a clean JSON-RPC stream in --stdio
// mode. Non-loopback listen addresses are refused unless --allow-remote is
// given. SIGINT and SIGTERM shut the server down gracefully.
//
// The command only parses flags and maps the outcome to an exit code; the
// server itself lives in registry/mcptest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/junctionhq/junction/registry/mcptest"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the server failed at run time
	exitUsage  = 2 // bad command line
)

func main() {
	// A stdio client may close its ends of our stdout and stderr before we
	// have exited; writes must then fail rather than kill the process with
	// SIGPIPE, so that shutdown stays orderly.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// flags is the parsed command line.
type flags struct {
	stdio           bool
	listen          string
	allowRemote     bool
	options         []mcptest.Option
	shutdownTimeout time.Duration
	logLevel        slog.Level
}

// run is main without the process: it serves until ctx ends or the input
// (in --stdio mode) reaches EOF, and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "toolserver: %v\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: f.logLevel}))
	srv, err := mcptest.NewServer(append(f.options, mcptest.WithLogger(logger))...)
	if err != nil {
		fmt.Fprintf(stderr, "toolserver: %v\n", err)
		return exitUsage
	}

	if f.stdio {
		logger.Info("serving MCP over stdio", "name", srv.Name(), "tools", len(srv.ToolNames()))
		if err := srv.ServeStdio(ctx, stdin, stdout); err != nil {
			logger.Error("stdio server failed", "err", err)
			return exitFailed
		}
		logger.Info("stdio server stopped")
		return exitOK
	}

	h, err := srv.StartHTTP(mcptest.HTTPConfig{Addr: f.listen, AllowRemote: f.allowRemote})
	if errors.Is(err, mcptest.ErrNotLoopback) {
		fmt.Fprintf(stderr, "toolserver: %v; pass --allow-remote to listen on it\n", err)
		return exitUsage
	}
	if err != nil {
		logger.Error("cannot listen", "err", err)
		return exitFailed
	}
	logger.Info("serving MCP over HTTP", "name", srv.Name(), "tools", len(srv.ToolNames()),
		"mcp_url", h.URL, "sse_url", h.SSEURL)
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", f.shutdownTimeout)
	case <-h.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	if err := h.Shutdown(shutdownCtx); err != nil {
		logger.Error("http server stopped with an error", "err", err)
		return exitFailed
	}
	logger.Info("http server stopped")
	return exitOK
}

// parseFlags parses the command line into flags and mcptest options.
func parseFlags(args []string, stderr io.Writer) (flags, error) {
	fs := flag.NewFlagSet("toolserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		f         flags
		name      = fs.String("name", mcptest.DefaultName, "server name reported to clients")
		version   = fs.String("server-version", mcptest.DefaultVersion, "server version reported to clients")
		prefix    = fs.String("prefix", "", "prefix for the names of the built-in and generated tools")
		tools     = fs.String("tools", "", "comma-separated built-in tools to serve (default: "+strings.Join(mcptest.CoreTools(), ",")+")")
		generated = fs.Int("generated-tools", 0, "number of extra generated echo tools (gen_00001, ...)")
		control   = fs.Bool("control-tools", false, "serve control_add_tool and control_remove_tool, which change the catalog at run time")
		pageSize  = fs.Int("page-size", 0, "items per page of list results (0: no pagination)")
		verbose   = fs.Bool("verbose", false, "log at debug level")
	)
	fs.BoolVar(&f.stdio, "stdio", false, "serve MCP over stdin and stdout")
	fs.StringVar(&f.listen, "listen", "", "serve MCP over HTTP on this host:port (streamable HTTP at /mcp, SSE at /sse)")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a --listen address that is not loopback")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long a graceful HTTP shutdown waits for requests in flight")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage:\n  toolserver --stdio [flags]\n  toolserver --listen HOST:PORT [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flags{}, err
	}
	if fs.NArg() > 0 {
		return flags{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.stdio == (f.listen != "") {
		return flags{}, errors.New("give exactly one of --stdio and --listen")
	}
	if f.shutdownTimeout <= 0 {
		return flags{}, fmt.Errorf("--shutdown-timeout %s must be positive", f.shutdownTimeout)
	}
	if *verbose {
		f.logLevel = slog.LevelDebug
	}

	f.options = []mcptest.Option{
		mcptest.WithName(*name),
		mcptest.WithVersion(*version),
		mcptest.WithToolPrefix(*prefix),
		mcptest.WithGeneratedTools(*generated),
		mcptest.WithPageSize(*pageSize),
	}
	if *tools != "" {
		var names []string
		for name := range strings.SplitSeq(*tools, ",") {
			if name = strings.TrimSpace(name); name != "" {
				names = append(names, name)
			}
		}
		f.options = append(f.options, mcptest.WithTools(names...))
	}
	if *control {
		f.options = append(f.options, mcptest.WithControlTools())
	}
	return f, nil
}
