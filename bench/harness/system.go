package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/junctionhq/junction/bench/internal/proxy"
)

// goPackage is a main package the harness builds from the repository.
type goPackage struct {
	// moduleDir is the directory of the package's module, relative to the
	// repository root: "." for the gateway module, "bench" for this one.
	moduleDir string
	// path is the package's path relative to moduleDir, e.g. "./cmd/junction".
	path string
}

// dir returns the directory go build runs in for p, in the repository at
// repoDir.
func (p goPackage) dir(repoDir string) string { return filepath.Join(repoDir, p.moduleDir) }

// String returns p's directory relative to the repository root, e.g.
// "bench/baseline".
func (p goPackage) String() string { return filepath.Join(p.moduleDir, p.path) }

// Packages built from the repository for a run. The baseline proxy lives in
// the bench module, so it is built there; the mock and junction are built in
// the gateway module.
var (
	mockPackage     = goPackage{moduleDir: ".", path: "./examples/mockprovider"}
	baselinePackage = goPackage{moduleDir: "bench", path: "./baseline"}
	junctionPackage = goPackage{moduleDir: ".", path: "./cmd/junction"}
)

// Run is the benchmark command: it builds the binaries the targets need
// (once), starts the mock provider, runs each target in turn against it with
// RunTargets, stops every process it started, and returns the report.
//
// A target that cannot be built, started or preflighted is recorded as failed
// and the run goes on; Run itself fails only when nothing can be measured (bad
// options, no mock). Cancelling ctx (e.g. on SIGINT) stops the run; children
// are stopped either way.
func Run(ctx context.Context, opts Options, progress io.Writer) (*Report, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	if progress == nil {
		progress = io.Discard
	}
	report := newReport(opts)

	workDir, err := os.MkdirTemp("", "junction-bench-")
	if err != nil {
		return nil, fmt.Errorf("harness: work dir: %w", err)
	}
	if opts.KeepWorkDir {
		progressf(progress, "keeping work dir %s", workDir)
	} else {
		defer os.RemoveAll(workDir)
	}

	sys := &system{opts: opts, workDir: workDir, progress: progress, bins: map[string]built{}}
	defer sys.stopAll()

	// Build everything first, once: a build failure shows up before any
	// load, and compilers do not compete with a measurement.
	mockBin, err := sys.binary(ctx, "mock", opts.Mock.Bin, mockPackage)
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	for _, name := range opts.Targets {
		switch name {
		case BaselineTarget:
			bin, err := sys.binary(ctx, name, opts.Baseline.Bin, baselinePackage)
			sys.bins[name] = built{bin, err}
		case JunctionTarget:
			bin, err := sys.binary(ctx, name, opts.Junction.Bin, junctionPackage)
			sys.bins[name] = built{bin, err}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}

	mockURL, mockPID, err := sys.startMock(ctx, mockBin)
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}

	targets := make([]Target, 0, len(opts.Targets))
	for _, name := range opts.Targets {
		targets = append(targets, sys.target(name, mockURL, mockPID))
	}
	plan := Plan{
		Request:        opts.Request,
		Load:           opts.Load,
		SampleInterval: opts.SampleInterval,
		Progress:       progress,
	}
	results, err := RunTargets(ctx, targets, plan)
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	report.Results = results
	return report, nil
}

// system holds the processes of one run. It is used by Run's goroutine only.
type system struct {
	opts     Options
	workDir  string
	progress io.Writer
	children []*child         // every child started, stopped by stopAll
	bins     map[string]built // target name → its binary, built before the run
}

// built is the outcome of building one target's binary.
type built struct {
	path string
	err  error
}

// binary returns prebuilt if set, or builds pkg into the work dir.
func (s *system) binary(ctx context.Context, name, prebuilt string, pkg goPackage) (string, error) {
	if prebuilt != "" {
		abs, err := filepath.Abs(prebuilt)
		if err != nil {
			return "", fmt.Errorf("%s binary: %w", name, err)
		}
		return abs, nil
	}
	out := filepath.Join(s.workDir, name)
	progressf(s.progress, "building %s", pkg)
	if err := goBuild(ctx, s.opts.RepoDir, pkg, out, s.opts.BuildTimeout); err != nil {
		progressf(s.progress, "building %s failed", pkg)
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	return out, nil
}

// start launches a child on a fresh loopback port and waits until it answers
// HTTP on readyPath. args receives the chosen address.
func (s *system) start(ctx context.Context, name, bin string, args func(addr string) []string, env []string, readyPath string) (*child, string, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	c, err := startChild(name, bin, args(addr), s.workDir, filepath.Join(s.workDir, name+".log"), env)
	if err != nil {
		return nil, "", err
	}
	s.children = append(s.children, c)
	baseURL := "http://" + addr
	if err := waitReady(ctx, c, baseURL+readyPath, s.opts.StartTimeout); err != nil {
		c.stop()
		return nil, "", err
	}
	progressf(s.progress, "%s is up at %s (pid %d)", name, baseURL, c.pid())
	return c, baseURL, nil
}

func (s *system) startMock(ctx context.Context, bin string) (baseURL string, pid int, err error) {
	args := func(addr string) []string {
		return append([]string{"--listen", addr, "--latency", s.opts.Mock.Latency.String()}, s.opts.Mock.Args...)
	}
	c, baseURL, err := s.start(ctx, "mock", bin, args, nil, "/")
	if err != nil {
		return "", 0, err
	}
	return baseURL, c.pid(), nil
}

// target returns the Target for name. A target whose binary failed to build
// fails alone, at its Setup.
func (s *system) target(name, mockURL string, mockPID int) Target {
	mock := Process{Role: "mock", PID: mockPID}
	switch name {
	case DirectTarget:
		return Target{Name: name, Setup: func(context.Context) (*Endpoint, error) {
			return &Endpoint{BaseURL: mockURL, UnderTest: mock}, nil
		}}
	case BaselineTarget:
		return Target{Name: name, Setup: func(ctx context.Context) (*Endpoint, error) {
			bin, err := s.bins[name].path, s.bins[name].err
			if err != nil {
				return nil, err
			}
			idle := s.opts.Baseline.MaxIdleConnsPerHost
			if idle == 0 {
				idle = max(s.opts.Load.Concurrency, s.opts.Load.maxWorkers(), proxy.DefaultMaxIdleConnsPerHost)
			}
			args := func(addr string) []string {
				return []string{"--listen", addr, "--upstream", mockURL, "--max-idle-conns-per-host", strconv.Itoa(idle)}
			}
			c, baseURL, err := s.start(ctx, name, bin, args, nil, "/")
			if err != nil {
				return nil, err
			}
			return &Endpoint{BaseURL: baseURL, UnderTest: Process{Role: name, PID: c.pid()}, Upstream: mock, Close: c.stop}, nil
		}}
	case JunctionTarget:
		return Target{
			Name:         name,
			NotFoundHint: "the LLM endpoint is not built yet",
			Setup: func(ctx context.Context) (*Endpoint, error) {
				return s.setupJunction(ctx, mockURL, mock)
			},
		}
	default:
		// Unreachable after Validate; fail the target rather than the run.
		return Target{Name: name, Setup: func(context.Context) (*Endpoint, error) {
			return nil, fmt.Errorf("unknown target %q", name)
		}}
	}
}

func (s *system) setupJunction(ctx context.Context, mockURL string, mock Process) (*Endpoint, error) {
	bin, err := s.bins[JunctionTarget].path, s.bins[JunctionTarget].err
	if err != nil {
		return nil, err
	}
	config, err := filepath.Abs(s.opts.Junction.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("config path: %w", err)
	}
	if _, err := os.Stat(config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dataDir := filepath.Join(s.workDir, "junction-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	args := func(addr string) []string {
		return append([]string{"serve", "--listen", addr, "--data-dir", dataDir, "--config", config}, s.opts.Junction.Args...)
	}
	env := []string{
		"JUNCTION_BENCH_UPSTREAM_URL=" + mockURL + "/v1",
		"JUNCTION_BENCH_API_KEY=" + s.opts.Request.APIKey,
	}
	c, baseURL, err := s.start(ctx, JunctionTarget, bin, args, env, "/healthz")
	if err != nil {
		return nil, err
	}
	return &Endpoint{BaseURL: baseURL, UnderTest: Process{Role: JunctionTarget, PID: c.pid()}, Upstream: mock, Close: c.stop}, nil
}

// stopAll stops every child still running.
func (s *system) stopAll() {
	for i := len(s.children) - 1; i >= 0; i-- {
		s.children[i].stop()
	}
}
