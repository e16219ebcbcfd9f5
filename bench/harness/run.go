package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// Target is one system the load is pointed at, such as "direct" (the mock
// itself), "baseline" (a bare reverse proxy) or "junction".
type Target struct {
	// Name identifies the target in progress lines and results.
	Name string

	// Setup brings the target up (starting a process if it needs one) and
	// says where to send requests. It is called just before the target's
	// turn; the Endpoint's Close is called right after it.
	Setup func(ctx context.Context) (*Endpoint, error)

	// NotFoundHint is appended to a preflight that gets a 404, to say why the
	// route may be missing.
	NotFoundHint string
}

// Endpoint is a target that is up.
type Endpoint struct {
	// BaseURL is the loopback URL the request path is appended to.
	BaseURL string

	// UnderTest is the process whose memory and CPU are reported for this
	// target; a PID of 0 means it cannot be measured.
	UnderTest Process

	// Upstream is the mock behind the process under test, measured too when
	// its PID is not 0 (zero for "direct", where the mock is under test).
	Upstream Process

	// Close stops what Setup started. Nil means nothing to stop.
	Close func()
}

// Process names a process to measure.
type Process struct {
	Role string
	PID  int
}

// Plan is what every target of a run gets: the same request and the same
// load.
type Plan struct {
	Request Request
	Load    Load

	// SampleInterval is how often RSS is sampled during a run. Zero means
	// 100ms.
	SampleInterval time.Duration

	// MaxLatencySamples bounds the latencies kept per run; zero means
	// DefaultMaxLatencySamples.
	MaxLatencySamples int

	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// TargetResult is the outcome of one target's turn.
type TargetResult struct {
	Target string `json:"target"`
	// OK is false when the target could not be set up, failed its
	// preflight, or was interrupted; Failure then says why.
	OK      bool   `json:"ok"`
	Failure string `json:"failure,omitempty"`
	BaseURL string `json:"base_url,omitempty"`

	Summary  *Summary      `json:"summary,omitempty"`
	Process  *ProcessStats `json:"process,omitempty"`
	Upstream *ProcessStats `json:"upstream,omitempty"`

	// LoadGenerator is the harness's own CPU use during the run: it shares
	// the machine's cores with the processes under test.
	LoadGenerator *ProcessStats `json:"load_generator,omitempty"`

	// MachineCPU is how busy the whole machine was during the run, to tell
	// a clean measurement from one disturbed by other work.
	MachineCPU *MachineCPU `json:"machine_cpu,omitempty"`

	// VsDirect compares this target with the "direct" target of the same
	// run; absent when there was no successful direct run.
	VsDirect *Comparison `json:"vs_direct,omitempty"`
}

// RunTargets gives each target its turn, one after the other: setup,
// preflight, optional warmup, then the measured load with its processes
// probed. A target that fails is recorded and the run goes on with the next;
// cancelling ctx stops the run and marks the remaining targets as not run.
// Results come back in the order of targets, with comparisons against
// "direct" filled in.
func RunTargets(ctx context.Context, targets []Target, plan Plan) ([]TargetResult, error) {
	if err := plan.Load.Validate(); err != nil {
		return nil, fmt.Errorf("harness: load: %w", err)
	}
	if err := plan.Request.Validate(); err != nil {
		return nil, fmt.Errorf("harness: request: %w", err)
	}
	if plan.SampleInterval <= 0 {
		plan.SampleInterval = 100 * time.Millisecond
	}
	if plan.Progress == nil {
		plan.Progress = io.Discard
	}
	results := make([]TargetResult, 0, len(targets))
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			results = append(results, TargetResult{Target: t.Name, Failure: "not run: " + err.Error()})
			continue
		}
		res := runTarget(ctx, t, plan)
		if res.OK {
			progressf(plan.Progress, "%s: %d requests, %.0f req/s, p50 %s, p99 %s, %d failures",
				t.Name, res.Summary.Requests, res.Summary.Throughput,
				formatMicros(res.Summary.Latency.P50Micros), formatMicros(res.Summary.Latency.P99Micros), res.Summary.Failures)
		} else {
			progressf(plan.Progress, "%s: FAILED: %s", t.Name, res.Failure)
		}
		results = append(results, res)
	}
	Compare(results)
	return results, nil
}

func runTarget(ctx context.Context, t Target, plan Plan) TargetResult {
	res := TargetResult{Target: t.Name}
	progressf(plan.Progress, "%s: starting", t.Name)
	ep, err := t.Setup(ctx)
	if err != nil {
		res.Failure = fmt.Sprintf("setup: %v", err)
		return res
	}
	if ep.Close != nil {
		defer ep.Close()
	}
	res.BaseURL = ep.BaseURL

	progressf(plan.Progress, "%s: preflight POST %s%s", t.Name, ep.BaseURL, plan.Request.Path)
	if err := Preflight(ctx, t.Name, ep.BaseURL, plan.Request, plan.Load.Timeout, t.NotFoundHint); err != nil {
		res.Failure = fmt.Sprintf("preflight: %v", err)
		return res
	}

	if plan.Load.Warmup > 0 {
		progressf(plan.Progress, "%s: warming up for %s", t.Name, plan.Load.Warmup)
		if _, err := attack(ctx, ep.BaseURL, plan.Request, plan.Load, plan.Load.Warmup, plan.MaxLatencySamples); err != nil {
			res.Failure = fmt.Sprintf("warmup: %v", err)
			return res
		}
	}

	progressf(plan.Progress, "%s: measuring at %s", t.Name, plan.Load)
	underTest := startProbe(ep.UnderTest.Role, ep.UnderTest.PID, plan.SampleInterval)
	upstream := startProbe(ep.Upstream.Role, ep.Upstream.PID, plan.SampleInterval)
	self := startProbe("load generator", os.Getpid(), plan.SampleInterval)
	machine := startMachineProbe()

	summary, err := attack(ctx, ep.BaseURL, plan.Request, plan.Load, plan.Load.Duration, plan.MaxLatencySamples)

	selfStats := self.finish()
	res.LoadGenerator = &selfStats
	if ep.UnderTest.PID != 0 {
		st := underTest.finish()
		res.Process = &st
	} else {
		underTest.finish()
	}
	if ep.Upstream.PID != 0 {
		st := upstream.finish()
		res.Upstream = &st
	} else {
		upstream.finish()
	}
	res.Summary = &summary
	measured := selfStats.CPUCores
	for _, p := range []*ProcessStats{res.Process, res.Upstream} {
		if p != nil && p.PID != os.Getpid() { // an in-process target is already in selfStats
			measured += p.CPUCores
		}
	}
	res.MachineCPU = machine.finish(runtime.NumCPU(), measured)
	if err != nil {
		res.Failure = fmt.Sprintf("interrupted: %v", err)
		return res
	}
	res.OK = true
	return res
}

func progressf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "bench: "+format+"\n", args...)
}
