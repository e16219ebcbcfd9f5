package mcptest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
)

// These tests build examples/toolserver and run the same client checks
// against the binary, over stdio and over HTTP.

// toolserverBuild is examples/toolserver, built once per test run.
var toolserverBuild = testkit.NewBinary("./examples/toolserver")

func TestMain(m *testing.M) { testkit.Main(m, toolserverBuild.Remove) }

// binaryTools is what the binary serves when started with --control-tools.
func binaryTools() []string {
	return slices.Sorted(slices.Values(append(CoreTools(), ToolControlAddTool, ToolControlRemoveTool)))
}

func TestConformanceBinaryStdio(t *testing.T) {
	bin := toolserverBuild.Path(t)
	for _, e := range []era{eraModern, eraLegacy} {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			runConformance(t, target{
				era:       e,
				connect:   connectBinaryStdio(bin, e),
				wantName:  "stdio-bin",
				wantTools: binaryTools(),
			})
		})
	}
}

// connectBinaryStdio launches the binary in --stdio mode through mcp-go's
// stdio transport. When the test ends the client closes the child's stdin;
// the child must then exit with status 0 by itself, and is killed if not.
func connectBinaryStdio(bin string, e era) func(*testing.T, *recorder) *client.Client {
	return func(t *testing.T, rec *recorder) *client.Client {
		t.Helper()
		// The transport runs the child under this context: cancelling it
		// kills the child, which the cleanup does last, whatever happened.
		ctx, kill := context.WithCancel(context.Background())
		var (
			mu  sync.Mutex
			cmd *exec.Cmd
		)
		stderr := &testkit.SyncBuffer{}
		tr := transport.NewStdioWithOptions(bin, nil,
			[]string{"--stdio", "--control-tools", "--name", "stdio-bin"},
			transport.WithCommandFunc(func(ctx context.Context, command string, env, args []string) (*exec.Cmd, error) {
				c := exec.CommandContext(ctx, command, args...)
				c.Env = append(os.Environ(), env...)
				c.WaitDelay = 5 * time.Second
				mu.Lock()
				cmd = c
				mu.Unlock()
				return c, nil
			}),
			transport.WithCommandStderrWriter(stderr),
			transport.WithCommandLogger(quietLogger),
		)
		c := client.NewClient(tr, e.clientOptions()...)
		c.OnNotification(rec.add)
		if err := c.Start(ctx); err != nil {
			kill()
			t.Fatalf("start toolserver: %v", err)
		}
		t.Cleanup(func() {
			defer kill()
			if err := c.Close(); err != nil {
				t.Errorf("close stdio client: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			// The client closes its end of stderr before the child exits,
			// so the exit status is the only evidence of a clean stop.
			if state := cmd.ProcessState; state == nil || state.ExitCode() != 0 {
				t.Errorf("toolserver did not exit cleanly at EOF: %v\nstderr:\n%s", state, stderr)
			}
		})
		return c
	}
}

func TestConformanceBinaryHTTP(t *testing.T) {
	bin := toolserverBuild.Path(t)
	tests := []struct {
		name string
		era  era
		sse  bool
	}{
		{"streamable http modern", eraModern, false},
		{"streamable http legacy", eraLegacy, false},
		{"sse legacy", eraLegacy, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One child per case: list_changed changes the catalog.
			mcpURL, sseURL := startBinaryHTTP(t, bin, "http-bin")
			connect := connectStreamable(mcpURL, tt.era)
			if tt.sse {
				connect = connectSSE(sseURL)
			}
			runConformance(t, target{
				era:       tt.era,
				connect:   connect,
				wantName:  "http-bin",
				wantTools: binaryTools(),
			})
		})
	}
}

// listeningLine matches the log line the binary writes once it listens.
var listeningLine = regexp.MustCompile(`mcp_url=(\S+) sse_url=(\S+)`)

// startBinaryHTTP launches the binary with --listen on a free loopback port
// and returns its endpoints once it has logged that it listens. When the
// test ends it sends SIGTERM and expects a graceful exit with status 0; the
// child is killed if it does not exit in time.
func startBinaryHTTP(t *testing.T, bin, name string) (mcpURL, sseURL string) {
	t.Helper()
	addr := freeLoopbackAddr(t)
	ctx, kill := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--listen", addr, "--control-tools", "--name", name)
	cmd.WaitDelay = 5 * time.Second
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		kill()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		kill()
		t.Fatalf("start toolserver: %v", err)
	}

	// The scanner copies the child's stderr until the child exits.
	stderr := &testkit.SyncBuffer{}
	urls := make(chan []string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		scanner := bufio.NewScanner(stderrPipe)
		for scanner.Scan() {
			fmt.Fprintln(stderr, scanner.Text())
			if m := listeningLine.FindStringSubmatch(scanner.Text()); m != nil {
				select {
				case urls <- m[1:]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderrPipe)
	}()

	t.Cleanup(func() {
		defer kill()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("signal toolserver: %v", err)
		}
		select {
		case <-scanned:
		case <-time.After(testTimeout):
			t.Errorf("toolserver did not exit after SIGTERM; killing it\nstderr:\n%s", stderr)
			kill()
			<-scanned
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("toolserver exit: %v\nstderr:\n%s", err, stderr)
		}
		if !strings.Contains(stderr.String(), "http server stopped") {
			t.Errorf("toolserver did not log a graceful stop:\n%s", stderr)
		}
	})

	select {
	case m := <-urls:
		if want := "http://" + addr + StreamablePath; m[0] != want {
			t.Fatalf("toolserver serves %s, want %s", m[0], want)
		}
		return m[0], m[1]
	case <-scanned:
		t.Fatalf("toolserver exited before listening:\n%s", stderr)
	case <-time.After(testTimeout):
		t.Fatalf("toolserver did not start listening:\n%s", stderr)
	}
	return "", ""
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
