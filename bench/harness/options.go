package harness

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Target names Run knows how to set up.
const (
	BaselineTarget = "baseline"
	JunctionTarget = "junction"
)

// KnownTargets lists the targets Run can set up, in their usual order.
var KnownTargets = []string{DirectTarget, BaselineTarget, JunctionTarget}

// Options configures a whole run of the benchmark command.
type Options struct {
	// Name labels the run in its report, e.g. "c50-latency0".
	Name string

	// RepoDir is the root of the Junction repository (the gateway
	// module's directory); binaries are built in it, and the baseline in its
	// bench module.
	RepoDir string

	// Targets are the targets to run, in order; see KnownTargets.
	Targets []string

	Load    Load
	Request Request

	Mock     MockOptions
	Baseline BaselineOptions
	Junction JunctionOptions

	// SampleInterval is how often RSS is sampled. Zero means 100ms.
	SampleInterval time.Duration

	// StartTimeout bounds each child's start, until it answers HTTP. Zero
	// means 30s.
	StartTimeout time.Duration

	// BuildTimeout bounds each `go build`. Zero means 5m.
	BuildTimeout time.Duration

	// KeepWorkDir keeps the temporary directory (binaries, child logs,
	// junction's data dir) instead of removing it at the end.
	KeepWorkDir bool

	// Command and Flags are recorded in the report as given, so a result
	// says exactly how it was produced.
	Command []string
	Flags   map[string]string
}

// MockOptions configures the mock provider (examples/mockprovider).
type MockOptions struct {
	// Latency is passed as --latency: how long the mock waits before
	// answering.
	Latency time.Duration

	// Args are extra flags passed to the mock as they are, after --listen
	// and --latency.
	Args []string

	// Bin is a prebuilt mock binary; empty means build ./examples/mockprovider.
	Bin string
}

// BaselineOptions configures the bare reverse proxy (bench/baseline).
type BaselineOptions struct {
	// MaxIdleConnsPerHost is passed to the proxy as it is; zero means the
	// largest of the concurrency, the max workers and the proxy's default
	// (1024), so the proxy never has to open a connection per request.
	MaxIdleConnsPerHost int

	// Bin is a prebuilt baseline binary; empty means build bench/baseline
	// (in the bench module).
	Bin string
}

// JunctionOptions configures the gateway (cmd/junction).
type JunctionOptions struct {
	// ConfigPath is the YAML config passed as --config. The harness also
	// exports JUNCTION_BENCH_UPSTREAM_URL (the mock's /v1 base URL) and
	// JUNCTION_BENCH_API_KEY (the request's API key) for the file to use
	// through ${VAR} expansion.
	ConfigPath string

	// Args are extra flags passed after serve's own.
	Args []string

	// Bin is a prebuilt junction binary; empty means build ./cmd/junction.
	Bin string
}

func (o *Options) defaults() {
	if o.SampleInterval <= 0 {
		o.SampleInterval = 100 * time.Millisecond
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.BuildTimeout <= 0 {
		o.BuildTimeout = 5 * time.Minute
	}
}

// Validate returns every problem with o at once.
func (o Options) Validate() error {
	var errs []error
	if o.RepoDir == "" {
		errs = append(errs, errors.New("repo dir is empty"))
	}
	if len(o.Targets) == 0 {
		errs = append(errs, fmt.Errorf("no targets; choose from %s", strings.Join(KnownTargets, ",")))
	}
	seen := map[string]bool{}
	for _, t := range o.Targets {
		if !slices.Contains(KnownTargets, t) {
			errs = append(errs, fmt.Errorf("unknown target %q; choose from %s", t, strings.Join(KnownTargets, ",")))
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("target %q given twice", t))
		}
		seen[t] = true
	}
	if seen[JunctionTarget] && o.Junction.ConfigPath == "" {
		errs = append(errs, errors.New("junction target needs a config file"))
	}
	if err := o.Load.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := o.Request.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Mock.Latency < 0 {
		errs = append(errs, fmt.Errorf("mock latency %s is negative", o.Mock.Latency))
	}
	if o.Baseline.MaxIdleConnsPerHost < 0 {
		errs = append(errs, errors.New("baseline max idle conns per host is negative"))
	}
	if o.SampleInterval < 0 || o.SampleInterval > time.Minute {
		errs = append(errs, fmt.Errorf("sample interval %s is outside [0, 1m]", o.SampleInterval))
	}
	return errors.Join(errs...)
}
