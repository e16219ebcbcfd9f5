package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/junctionhq/junction/bench/harness"
)

// defaultBody is the request sent when --body is not given: a small, non-stream
// OpenAI chat completion.
//
//go:embed chat.json
var defaultBody []byte

// defaultConcurrency is used when neither --rate nor --concurrency is given.
const defaultConcurrency = 10

// defaultJunctionConfig is the gateway's config when --junction-config is not
// given, relative to the repository root so that it does not depend on the
// working directory.
const defaultJunctionConfig = "bench/junction.yaml"

// config is everything the command line decides.
type config struct {
	options  harness.Options
	out      string // JSON report path; empty means none
	markdown bool   // print the table as Markdown
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseFlags turns argv (argv[0] is the program) into a validated config.
func parseFlags(argv []string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; -h prints usage below

	var (
		targets      = fs.String("targets", "direct,baseline,junction", "comma-separated targets, run in this order: direct, baseline, junction")
		rate         = fs.Int("rate", 0, "constant-rate mode: requests per second (exclusive with --concurrency)")
		concurrency  = fs.Int("concurrency", 0, fmt.Sprintf("fixed-concurrency mode: `workers`, each sending its next request when the previous one finishes (default %d when --rate is not set)", defaultConcurrency))
		maxWorkers   = fs.Int("max-workers", 0, "constant-rate mode: cap on requests in flight (default 1000)")
		duration     = fs.Duration("duration", 10*time.Second, "measured run `length` per target")
		warmup       = fs.Duration("warmup", time.Second, "unmeasured warmup per target at the same load; 0 to skip")
		timeout      = fs.Duration("timeout", 10*time.Second, "per-request timeout (send to last byte)")
		bodyFile     = fs.String("body", "", "JSON request body `file` (default: a small built-in chat completion)")
		stream       = fs.Bool("stream", false, "set \"stream\": true in the body; latency is then time to the last SSE byte")
		path         = fs.String("path", harness.ChatCompletionsPath, "request path on every target")
		apiKey       = fs.String("key", "jk-bench-load-generator-key-0001", "API key sent as \"Authorization: Bearer <key>\"")
		mockLatency  = fs.Duration("mock-latency", 0, "mock provider latency (passed as --latency)")
		mockBin      = fs.String("mock-bin", "", "prebuilt mock provider binary (default: build ./examples/mockprovider)")
		baselineBin  = fs.String("baseline-bin", "", "prebuilt baseline proxy binary (default: build bench/baseline)")
		baselineIdle = fs.Int("baseline-idle-conns", 0, "baseline proxy MaxIdleConnsPerHost (default: max(concurrency, max workers, 1024))")
		junctionCfg  = fs.String("junction-config", "", "junction config `file`, passed as serve --config (default: bench/junction.yaml in the repository)")
		junctionBin  = fs.String("junction-bin", "", "prebuilt junction binary (default: build ./cmd/junction)")
		repo         = fs.String("repo", "", "root `dir` of the Junction repository (default: found from the working directory)")
		sample       = fs.Duration("sample-interval", 100*time.Millisecond, "RSS sampling `interval`")
		startTimeout = fs.Duration("start-timeout", 30*time.Second, "how long each process may take to answer HTTP")
		name         = fs.String("name", "", "run name in the report (default: derived from the load, e.g. c50-latency0s)")
		out          = fs.String("out", "", "write the JSON report to this `file`, e.g. results/c50.json")
		format       = fs.String("format", "text", "table format on stdout: text or markdown")
		keepWorkDir  = fs.Bool("keep-workdir", false, "keep the temporary dir with binaries and process logs")
		mockArgs     listFlag
		junctionArgs listFlag
	)
	fs.Var(&mockArgs, "mock-arg", "extra `flag` for the mock provider, repeatable (e.g. --mock-arg=--jitter=2ms)")
	fs.Var(&junctionArgs, "junction-arg", "extra `flag` for junction serve, repeatable")

	if err := fs.Parse(argv[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fmt.Fprintln(os.Stderr, "usage: cd bench && go run . [flags]   (see bench/README.md)")
			fs.PrintDefaults()
		}
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	var errs []error
	if *rate == 0 && *concurrency == 0 {
		*concurrency = defaultConcurrency
	}
	if *format != "text" && *format != "markdown" {
		errs = append(errs, fmt.Errorf("--format %q: want text or markdown", *format))
	}
	body := defaultBody
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--body: %w", err))
		}
		body = b
	}
	if len(body) > 0 {
		b, err := harness.SetStream(body, *stream)
		if err != nil {
			errs = append(errs, fmt.Errorf("--body: %w", err))
		}
		body = b
	}
	repoDir := *repo
	if repoDir == "" {
		dir, err := findModuleRoot()
		if err != nil {
			errs = append(errs, err)
		}
		repoDir = dir
	}
	configPath := *junctionCfg
	if configPath == "" && repoDir != "" {
		configPath = filepath.Join(repoDir, defaultJunctionConfig)
	}

	load := harness.Load{
		Rate:        *rate,
		Concurrency: *concurrency,
		MaxWorkers:  *maxWorkers,
		Duration:    *duration,
		Warmup:      *warmup,
		Timeout:     *timeout,
	}
	if *name == "" {
		*name = defaultName(load, *mockLatency, *stream)
	}
	flags := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	flags["key"] = "(redacted)"

	command := append([]string{filepath.Base(argv[0])}, redactKey(argv[1:])...)
	cfg := config{
		out:      *out,
		markdown: *format == "markdown",
		options: harness.Options{
			Name:    *name,
			RepoDir: repoDir,
			Targets: splitList(*targets),
			Load:    load,
			Request: harness.Request{Path: *path, Body: body, APIKey: *apiKey, Stream: *stream},
			Mock:    harness.MockOptions{Latency: *mockLatency, Args: mockArgs, Bin: *mockBin},
			Baseline: harness.BaselineOptions{
				MaxIdleConnsPerHost: *baselineIdle,
				Bin:                 *baselineBin,
			},
			Junction:       harness.JunctionOptions{ConfigPath: configPath, Args: junctionArgs, Bin: *junctionBin},
			SampleInterval: *sample,
			StartTimeout:   *startTimeout,
			KeepWorkDir:    *keepWorkDir,
			Command:        command,
			Flags:          flags,
		},
	}
	if err := cfg.options.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// defaultName derives a run name from the load, e.g. "c50-latency0s" or
// "r500-latency20ms-stream".
func defaultName(load harness.Load, mockLatency time.Duration, stream bool) string {
	var name string
	if load.Concurrency > 0 {
		name = fmt.Sprintf("c%d", load.Concurrency)
	} else {
		name = fmt.Sprintf("r%d", load.Rate)
	}
	name += "-latency" + mockLatency.String()
	if stream {
		name += "-stream"
	}
	return name
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// redactKey returns args with the value of --key replaced, so reports never
// carry a real key.
func redactKey(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		switch {
		case a == "-key" || a == "--key":
			if i+1 < len(out) {
				out[i+1] = "(redacted)"
			}
		case strings.HasPrefix(a, "-key=") || strings.HasPrefix(a, "--key="):
			out[i] = a[:strings.Index(a, "=")+1] + "(redacted)"
		}
	}
	return out
}

// findModuleRoot walks up from the working directory to the go.mod of the
// Junction gateway module, the repository root. It passes over bench's own
// go.mod (module github.com/junctionhq/junction/bench).
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/junctionhq/junction\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the Junction module: run from the repository or pass --repo")
		}
		dir = parent
	}
}
