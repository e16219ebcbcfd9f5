// Command mockprovider runs the llmtest mock LLM provider as a standalone server, as an
// upstream for local development, demos and load tests:
//
//	go run ./examples/mockprovider --listen 127.0.0.1:9001 --latency 200ms --jitter 50ms
//
// It serves the OpenAI API (/v1/chat/completions, /v1/embeddings, /v1/models) and the
// Anthropic Messages API (/v1/messages); any non-empty API key is accepted. The flags
// set the default behaviour; see package llmtest for what each knob does. It refuses
// to listen on a non-loopback address unless --allow-remote is given, and shuts down
// gracefully on SIGINT or SIGTERM.
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

	"github.com/junctionhq/junction/llm/llmtest"
)

// shutdownTimeout bounds how long in-flight requests may finish after a signal.
const shutdownTimeout = 5 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses args, serves until a signal, and returns the exit code: 0 after a clean
// shutdown, 1 on a runtime error, 2 on bad flags.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("mockprovider", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen      = fs.String("listen", "127.0.0.1:9001", "address to listen on (host:port)")
		allowRemote = fs.Bool("allow-remote", false, "allow a non-loopback listen address")
		models      = fs.String("models", "", "comma-separated model ids; when set, other models get 404 (default: accept any)")
		seed        = fs.Uint64("seed", llmtest.DefaultSeed, "seed of the jitter and failure draws")
		logRequests = fs.Bool("log-requests", false, "log one line per request (slows down load tests)")
		b           llmtest.Behavior
	)
	fs.DurationVar(&b.Latency, "latency", 0, "delay before each response")
	fs.DurationVar(&b.Jitter, "jitter", 0, "uniform ± jitter added to --latency")
	fs.DurationVar(&b.TimeToFirstChunk, "ttfc", 0, "delay before the first event of a stream")
	fs.DurationVar(&b.ChunkDelay, "chunk-delay", 0, "delay between stream events")
	fs.Float64Var(&b.FailPercent, "fail-percent", 0, "percentage of requests answered with --fail-status")
	fs.IntVar(&b.FailStatus, "fail-status", 500, "status of injected failures (500, 503, 529, ...)")
	fs.IntVar(&b.ReplyTokens, "reply-tokens", 0, "reply with this many filler tokens (0: echo the last user message)")
	fs.StringVar(&b.Reply, "reply", "", "fixed reply text (ignored when --reply-tokens is set)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mockprovider: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := b.Validate(); err != nil {
		fmt.Fprintf(stderr, "mockprovider: invalid behaviour flags:\n%v\n", err)
		return 2
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	opts := []llmtest.Option{llmtest.WithSeed(*seed)}
	if ids := splitList(*models); len(ids) > 0 {
		opts = append(opts, llmtest.WithModels(ids...))
	}
	if *allowRemote {
		opts = append(opts, llmtest.WithAllowRemote())
	}
	if *logRequests {
		opts = append(opts, llmtest.WithLogger(logger))
	}

	srv, err := llmtest.Listen(*listen, opts...)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	if err := srv.SetDefault(b); err != nil { // validated above; kept for safety
		srv.Close()
		logger.Error("cannot set behaviour", "err", err)
		return 1
	}
	logger.Info("mock provider listening",
		"url", srv.URL, "openai_base_url", srv.URL+"/v1", "anthropic_base_url", srv.URL,
		"latency", b.Latency, "jitter", b.Jitter, "ttfc", b.TimeToFirstChunk, "chunk_delay", b.ChunkDelay,
		"fail_percent", b.FailPercent, "reply_tokens", b.ReplyTokens)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	stop() // a second signal kills the process the default way

	logger.Info("shutting down", "timeout", shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("shutdown cut requests still in progress", "err", err)
	}
	stats := srv.Stats()
	logger.Info("stopped", "requests", stats.Requests, "by_status", fmt.Sprint(stats.ByStatus))
	return 0
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
