// Command bench is Junction's load harness. It builds and starts the mock
// provider, then drives each target in turn with the same request and load:
// "direct" (the mock itself, the physical limit), "baseline" (a bare reverse
// proxy in front of the mock) and "junction" (the gateway in front of the
// mock), and prints a table with ratios against direct.
//
//	cd bench && go run . --targets direct,baseline --concurrency 50 --duration 15s --out results/c50.json
//
// See bench/README.md for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/junctionhq/junction/bench/harness"
)

func main() {
	os.Exit(run(os.Args))
}

// run returns the process exit code: 0 when the run completed (failed
// targets are reported, not fatal), 1 when it could not run, 2 on bad flags,
// 130 when interrupted.
func run(argv []string) int {
	cfg, err := parseFlags(argv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	report, err := harness.Run(ctx, cfg.options, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if err := report.WriteTable(os.Stdout, cfg.markdown); err != nil {
		fmt.Fprintln(os.Stderr, "bench: print table:", err)
		return 1
	}
	if cfg.out != "" {
		if err := report.WriteJSON(cfg.out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "bench: wrote", cfg.out)
	}
	if ctx.Err() != nil {
		return 130
	}
	return 0
}
