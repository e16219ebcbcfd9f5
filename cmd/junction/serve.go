package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/gateway"
	"github.com/junctionhq/junction/telemetry"
)

// serve runs the gateway until SIGINT or SIGTERM, reloading the
// configuration on SIGHUP. Precedence for each setting: flag, then
// environment variable, then config file, then default.
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
	load := func() (*gateway.Config, error) {
		return loadConfig(path, lookupEnv, *listen, *dataDir, *logFormat, *logLevel)
	}
	// SIGHUP reloads the configuration. It is caught from here on, so that
	// its default action (terminating the process) never applies, not even
	// during start-up or while a reload runs; one that arrives meanwhile
	// waits in the channel.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "junction: %v\n", err)
		return exitUsage
	}
	logger, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "junction: %v\n", err)
		return exitUsage
	}

	// The first SIGINT or SIGTERM starts the graceful drain; a second one
	// cuts it short.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var running atomic.Pointer[gateway.Gateway]
	quit := make(chan os.Signal, 2)
	signal.Notify(quit, os.Interrupt, syscall.SIGTERM)
	served := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Go(func() { stopOnSignals(quit, stop, &running, served, logger) })
	defer func() {
		stop() // Run may return without a signal (the address is taken)
		close(served)
		watchers.Wait()
		signal.Stop(quit)
	}()

	gw, err := gateway.New(ctx, *cfg, gateway.Options{Logger: logger, Version: version(), Terminal: terminal(stderr), LoadConfig: load})
	if err != nil {
		logger.Error().Err(err).Msg("start-up failed")
		return exitFailed
	}
	running.Store(gw)
	watchers.Go(func() { reloadOnHangup(ctx, gw, hup, logger) })
	err = gw.Run(ctx)
	if err != nil {
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

// loadConfig reads the configuration file (none when path is empty) and
// applies the overrides. Precedence for each setting: flag, then
// environment variable, then config file, then default. serve uses it at
// start and for every reload, so a reload sees the same overrides.
func loadConfig(path string, lookupEnv func(string) (string, bool), listen, dataDir, logFormat, logLevel string) (*gateway.Config, error) {
	cfg, err := gateway.LoadConfig(path, lookupEnv)
	if err != nil {
		return nil, err
	}
	cfg.Listen = firstNonEmpty(listen, env(lookupEnv, "JUNCTION_LISTEN"), cfg.Listen)
	cfg.DataDir = firstNonEmpty(dataDir, env(lookupEnv, "JUNCTION_DATA_DIR"), cfg.DataDir)
	cfg.AdminKey = firstNonEmpty(env(lookupEnv, "JUNCTION_ADMIN_KEY"), cfg.AdminKey)
	cfg.Log.Format = firstNonEmpty(logFormat, env(lookupEnv, "JUNCTION_LOG_FORMAT"), cfg.Log.Format)
	cfg.Log.Level = firstNonEmpty(logLevel, env(lookupEnv, "JUNCTION_LOG_LEVEL"), cfg.Log.Level)
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// stopOnSignals turns signals from quit into a shutdown until served is
// closed: the first ends the gateway's run (stop), which drains in-flight
// requests for up to the shutdown timeout; the second cuts that drain short
// (Gateway.CutDrain: cut streams are still settled and recorded) so that
// the process exits promptly. After the second, quit is no longer
// listened to, and a third signal terminates the process at once.
func stopOnSignals(quit chan os.Signal, stop context.CancelFunc, running *atomic.Pointer[gateway.Gateway], served <-chan struct{}, log zerolog.Logger) {
	for n := 1; n <= 2; n++ {
		var sig os.Signal
		select {
		case <-served:
			return
		case sig = <-quit:
		}
		if n == 1 {
			log.Info().Str("signal", sig.String()).Msg("shutting down; a second signal cuts the drain short")
			stop()
			continue
		}
		log.Warn().Str("signal", sig.String()).Msg("second signal: cutting the drain short; a third one kills the process")
		signal.Stop(quit)
		if gw := running.Load(); gw != nil {
			gw.CutDrain()
		}
	}
}

// reloadOnHangup reloads the configuration on every SIGHUP until ctx is
// done, logging what changed or every problem that kept the configuration
// in force as it was.
func reloadOnHangup(ctx context.Context, gw *gateway.Gateway, hup <-chan os.Signal, log zerolog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		log.Info().Msg("SIGHUP: reloading the configuration")
		report, err := gw.Reload(ctx)
		var ce *gateway.ConfigError
		switch {
		case errors.As(err, &ce):
			for _, p := range ce.Problems {
				log.Error().Str("problem", p).Msg("configuration reload: problem")
			}
			log.Error().Int("problems", len(ce.Problems)).Msg("configuration reload refused; the configuration in force is unchanged")
		case err != nil:
			log.Error().Err(err).Msg("configuration reload failed")
		default:
			for _, s := range report.NeedsRestart {
				log.Warn().Str("setting", s).Msg("configuration reload: this setting changed and takes effect only after a restart")
			}
			log.Info().Strs("changed", report.Changed).Strs("needs_restart", report.NeedsRestart).Msg("configuration reloaded")
		}
	}
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
