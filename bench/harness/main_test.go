package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/junctionhq/junction/bench/internal/proxy"
)

// fakeEnv makes the test binary act as one of the processes Run starts,
// chosen from its arguments, so that Run can be tested with real child
// processes without building the real binaries.
const fakeEnv = "JUNCTION_BENCH_HARNESS_FAKE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		if err := serveFake(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveFake serves as the mock ("--listen A --latency D"), the baseline
// ("--listen A --upstream U ...") or junction ("serve --listen A ...", with
// /healthz but no LLM endpoint), until SIGTERM.
func serveFake(args []string) error {
	role := "mock"
	if len(args) > 0 && args[0] == "serve" {
		role, args = "junction", args[1:]
	}
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	listen := fs.String("listen", "", "")
	upstream := fs.String("upstream", "", "")
	fs.Duration("latency", 0, "")
	fs.Int("max-idle-conns-per-host", 0, "")
	fs.String("data-dir", "", "")
	config := fs.String("config", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var handler http.Handler = &fakeProvider{}
	switch {
	case role == "junction":
		if _, err := os.Stat(*config); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if !strings.HasSuffix(os.Getenv("JUNCTION_BENCH_UPSTREAM_URL"), "/v1") {
			return errors.New("JUNCTION_BENCH_UPSTREAM_URL not set")
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
		handler = mux
	case *upstream != "":
		p, err := proxy.New(*upstream, proxy.Options{})
		if err != nil {
			return err
		}
		handler = p
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// TestRunWithProcesses runs the whole command path, Run, with real child
// processes (this test binary standing in for the mock, the baseline proxy
// and junction), and checks results, probes and that every child is gone
// afterwards.
func TestRunWithProcesses(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeEnv, "1")
	// A race-enabled child would otherwise sleep 1s at exit (the race
	// detector's default atexit_sleep_ms), tripling this test's time.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	config := filepath.Join(t.TempDir(), "junction.yaml")
	if err := os.WriteFile(config, []byte("# empty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Name:           "test",
		RepoDir:        t.TempDir(), // never built from: every binary is given
		Targets:        []string{DirectTarget, BaselineTarget, JunctionTarget},
		Load:           Load{Concurrency: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Timeout: 5 * time.Second},
		Request:        testRequest(t, false),
		Mock:           MockOptions{Bin: self, Latency: time.Millisecond, Args: []string{}},
		Baseline:       BaselineOptions{Bin: self},
		Junction:       JunctionOptions{Bin: self, ConfigPath: config},
		SampleInterval: 20 * time.Millisecond,
		StartTimeout:   10 * time.Second,
	}
	var progress strings.Builder
	report, err := Run(context.Background(), opts, &progress)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	if len(report.Results) != 3 {
		t.Fatalf("%d results, want 3", len(report.Results))
	}
	direct, baseline, junction := report.Results[0], report.Results[1], report.Results[2]
	for _, res := range []TargetResult{direct, baseline} {
		if !res.OK || res.Summary.Successes == 0 || res.Summary.Failures != 0 {
			t.Fatalf("%s = %+v (failure %q)\nprogress:\n%s", res.Target, res.Summary, res.Failure, progress.String())
		}
		checkLatency(t, res.Target, res.Summary.Latency)
		if res.Process == nil || res.Process.PID == 0 || res.Process.PeakRSSBytes == 0 || !res.Process.PeakRSSReset {
			t.Errorf("%s: process stats %+v", res.Target, res.Process)
		}
		if res.VsDirect == nil {
			t.Errorf("%s: no comparison", res.Target)
		}
	}
	if direct.Process.Role != "mock" || direct.Upstream != nil {
		t.Errorf("direct measures %+v with upstream %+v, want the mock alone", direct.Process, direct.Upstream)
	}
	if baseline.Process.Role != BaselineTarget || baseline.Upstream == nil || baseline.Upstream.PID != direct.Process.PID {
		t.Errorf("baseline measures %+v with upstream %+v, want the proxy in front of the mock", baseline.Process, baseline.Upstream)
	}
	if junction.OK || !strings.Contains(junction.Failure, "returned 404 — the LLM endpoint is not built yet") {
		t.Errorf("junction = %+v, want a 404 preflight failure with the hint", junction)
	}
	if report.Mock.Latency != "1ms" || report.Machine.Cores == 0 {
		t.Errorf("report settings: mock %+v machine %+v", report.Mock, report.Machine)
	}

	// Every child was stopped and reaped when Run returned.
	for _, pid := range []int{direct.Process.PID, baseline.Process.PID} {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d still exists after Run (kill 0: %v)", pid, err)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	_, err := Run(context.Background(), Options{Targets: []string{"nginx"}}, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"repo dir", `unknown target "nginx"`, "rate or a positive concurrency", "request body is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRunFailsWithoutMock(t *testing.T) {
	opts := Options{
		RepoDir: t.TempDir(),
		Targets: []string{DirectTarget},
		Load:    Load{Concurrency: 1, Duration: time.Second, Timeout: time.Second},
		Request: testRequest(t, false),
		Mock:    MockOptions{Bin: filepath.Join(t.TempDir(), "missing-mock")},
	}
	_, err := Run(context.Background(), opts, nil)
	if err == nil || !strings.Contains(err.Error(), "mock") {
		t.Fatalf("Run = %v, want a mock start error", err)
	}
}
