package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a child gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// child is one process the harness started. It runs in its own process group
// so that stopping it also stops anything it spawned, and it is sent SIGKILL
// by the kernel if the harness dies first (Pdeathsig).
type child struct {
	name string
	cmd  *exec.Cmd
	log  *os.File // the child's stdout and stderr

	done    chan struct{} // closed when the process has been reaped
	waitErr error         // the Wait result; read only after done is closed
	once    sync.Once     // guards stopping
}

// startChild starts bin with args, its output going to logPath, in dir, with
// env added to the harness's environment.
func startChild(name, bin string, args []string, dir, logPath string, env []string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: create log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	c := &child{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM to the child's process group, waits up to stopGrace, then
// sends SIGKILL and waits for the child to be reaped. It is idempotent.
func (c *child) stop() {
	c.once.Do(func() {
		pgid := c.cmd.Process.Pid // Setpgid: the group id is the child's pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(stopGrace):
		}
		// Whatever the leader did, take the whole group down: a grandchild
		// may still hold a port.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
		c.log.Close()
	})
}

// exited reports whether the child has already exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// logTail returns the last lines of the child's output, for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.log.Name())
	if err != nil {
		return ""
	}
	return tail(b, 15)
}

// tail returns the last n lines of b, trimmed.
func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	for i, lines := len(b)-1, 0; i >= 0; i-- {
		if b[i] == '\n' {
			if lines++; lines == n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// waitReady polls url with GET until the server answers with any HTTP status,
// the child exits, or timeout passes. Any answer proves the process is
// listening and speaking HTTP; whether it answers the benchmark request
// correctly is the preflight's question.
func waitReady(ctx context.Context, c *child, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Second}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s: readiness request: %w", c.name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			return nil
		}
		lastErr = err
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", c.name, c.waitErr, c.logTail())
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready after %s (last error: %v); its output:\n%s", c.name, timeout, lastErr, c.logTail())
			}
			return fmt.Errorf("%s: waiting for readiness: %w", c.name, ctx.Err())
		case <-tick.C:
		}
	}
}

// freeLoopbackAddr asks the kernel for a free TCP port on 127.0.0.1 and
// returns "127.0.0.1:<port>". The port is released before the caller's child
// binds it, so another process could take it in between; on a benchmark
// machine that is unlikely, and the child would then fail to listen and exit,
// which waitReady reports with the child's output.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port)), nil
}

// goBuild builds the package pkg of the repository in repoDir into out, in
// pkg's own module, bounded by timeout.
func goBuild(ctx context.Context, repoDir string, pkg goPackage, out string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg.path)
	cmd.Dir = pkg.dir(repoDir)
	output, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, tail(output, 30))
	}
	return nil
}
