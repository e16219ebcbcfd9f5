package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mattn/go-isatty"

	"github.com/junctionhq/junction/gateway"
	"github.com/junctionhq/junction/telemetry"
)

// serve runs the gateway until SIGINT or SIGTERM. Precedence for each
// setting: flag, then environment variable, then config file, then default.
func serve(ctx context.Context, args []string, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	fs := flag.NewFlagSet("junction serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath = fs.String("config", "", "YAML configuration file (env JUNCTION_CONFIG); optional")
		listen     = fs.String("listen", "", "address to listen on (env JUNCTION_LISTEN; default "+gateway.DefaultListen+")")
		dataDir    = fs.String("data-dir", "", "directory for the SQLite database and secrets (env JUNCTION_DATA_DIR; default "+gateway.DefaultDataDir+")")
		logFormat  = fs.String("log-format", "", "log format: json or pretty (default pretty on a terminal, json otherwise)")
		logLevel   = fs.String("log-level", "", "log level: trace, debug, info, warn, error (default info)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "junction serve: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}

	path := firstNonEmpty(*configPath, env(lookupEnv, "JUNCTION_CONFIG"))
	cfg, err := gateway.LoadConfig(path, lookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "junction: %v\n", err)
		return exitUsage
	}
	cfg.Listen = firstNonEmpty(*listen, env(lookupEnv, "JUNCTION_LISTEN"), cfg.Listen)
	cfg.DataDir = firstNonEmpty(*dataDir, env(lookupEnv, "JUNCTION_DATA_DIR"), cfg.DataDir)
	cfg.AdminKey = firstNonEmpty(env(lookupEnv, "JUNCTION_ADMIN_KEY"), cfg.AdminKey)
	cfg.Log.Format = firstNonEmpty(*logFormat, env(lookupEnv, "JUNCTION_LOG_FORMAT"), cfg.Log.Format)
	cfg.Log.Level = firstNonEmpty(*logLevel, env(lookupEnv, "JUNCTION_LOG_LEVEL"), cfg.Log.Level)
	if err := cfg.Check(); err != nil {
		fmt.Fprintf(stderr, "junction: %v\n", err)
		return exitUsage
	}

	logger, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "junction: %v\n", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	gw, err := gateway.New(ctx, *cfg, gateway.Options{Logger: logger, Version: version(), Terminal: terminal(stderr)})
	if err != nil {
		logger.Error().Err(err).Msg("start-up failed")
		return exitFailed
	}
	if err := gw.Run(ctx); err != nil {
		logger.Error().Err(err).Msg("gateway stopped with an error")
		return exitFailed
	}
	return exitOK
}

// terminal returns w when it is an interactive terminal and nil otherwise,
// so that a generated admin key is shown only to a person: with stderr sent
// to a file, a pipe or a log collector, the gateway writes the key to a
// private file in the data directory instead.
func terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	return w
}

func env(lookup func(string) (string, bool), name string) string {
	v, _ := lookup(name)
	return v
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
