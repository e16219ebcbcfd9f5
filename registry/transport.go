package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"
)

// mcp-go's typed results re-encode what they decode, which loses fields and
// changes bytes. The registry keeps the upstream's JSON instead: every
// transport is wrapped so that a request whose context carries a rawSlot
// gets the response's result bytes, exactly as the upstream sent them, while
// the mcp-go client still does everything else (protocol metadata, headers,
// cancellation).

// rawSlotKey is the context key of a *rawSlot.
type rawSlotKey struct{}

// rawSlot receives the raw result of the requests sent with its context.
type rawSlot struct {
	mu  sync.Mutex
	raw json.RawMessage
}

func withRawSlot(ctx context.Context) (context.Context, *rawSlot) {
	slot := &rawSlot{}
	return context.WithValue(ctx, rawSlotKey{}, slot), slot
}

func (s *rawSlot) get() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw
}

// rawTransport wraps a non-HTTP transport (stdio).
type rawTransport struct {
	inner transport.Interface
}

var (
	_ transport.BidirectionalInterface = (*rawTransport)(nil)
	_ transport.HTTPConnection         = (*rawHTTPTransport)(nil)
)

func (t *rawTransport) Start(ctx context.Context) error { return t.inner.Start(ctx) }

// resumeKey is the context key of the *resumeOnce of a tools/call that
// resumes an upstream's input_required exchange.
type resumeKey struct{}

// resumeOnce carries the answers and requestState for the first tools/call
// sent with its context (mcp-go's client starts every call without them).
type resumeOnce struct {
	mu     sync.Mutex
	params mcp.MultiRoundTripParams
	used   bool
}

// apply adds the answers to the first tools/call request only.
func (r *resumeOnce) apply(req *transport.JSONRPCRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.used || req.Method != string(mcp.MethodToolsCall) {
		return nil
	}
	r.used = true
	raw, err := json.Marshal(req.Params)
	if err != nil {
		return err
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil {
		return fmt.Errorf("tools/call params are not an object: %w", err)
	}
	if params["inputResponses"], err = json.Marshal(r.params.InputResponses); err != nil {
		return err
	}
	if params["requestState"], err = json.Marshal(r.params.RequestState); err != nil {
		return err
	}
	req.Params = params
	return nil
}

func (t *rawTransport) SendRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	if r, ok := ctx.Value(resumeKey{}).(*resumeOnce); ok {
		if err := r.apply(&req); err != nil {
			return nil, fmt.Errorf("resume input_required exchange: %w", err)
		}
	}
	resp, err := t.inner.SendRequest(ctx, req)
	if err == nil && resp != nil && resp.Error == nil {
		if slot, ok := ctx.Value(rawSlotKey{}).(*rawSlot); ok {
			slot.mu.Lock()
			slot.raw = bytes.Clone(resp.Result)
			slot.mu.Unlock()
		}
	}
	return resp, err
}

func (t *rawTransport) SendNotification(ctx context.Context, n mcp.JSONRPCNotification) error {
	return t.inner.SendNotification(ctx, n)
}

func (t *rawTransport) SetNotificationHandler(h func(mcp.JSONRPCNotification)) {
	t.inner.SetNotificationHandler(h)
}

func (t *rawTransport) SetRequestHandler(h transport.RequestHandler) {
	if b, ok := t.inner.(transport.BidirectionalInterface); ok {
		b.SetRequestHandler(relayErrors(h))
	}
}

func (t *rawTransport) Close() error         { return t.inner.Close() }
func (t *rawTransport) GetSessionId() string { return t.inner.GetSessionId() }

// rawHTTPTransport wraps an HTTP transport (SSE or streamable HTTP) and
// passes on the optional capabilities mcp-go looks for on HTTP transports.
type rawHTTPTransport struct {
	rawTransport
}

func (t *rawHTTPTransport) SetProtocolVersion(v string) {
	if h, ok := t.inner.(transport.HTTPConnection); ok {
		h.SetProtocolVersion(v)
	}
}

// RequiresLegacyProtocol passes on the streamable HTTP transport's answer.
func (t *rawHTTPTransport) RequiresLegacyProtocol() bool {
	l, ok := t.inner.(interface{ RequiresLegacyProtocol() bool })
	return ok && l.RequiresLegacyProtocol()
}

// SetConnectionLostHandler passes the handler to the SSE transport.
func (t *rawHTTPTransport) SetConnectionLostHandler(h func(error)) {
	if s, ok := t.inner.(interface{ SetConnectionLostHandler(func(error)) }); ok {
		s.SetConnectionLostHandler(h)
	}
}

// quietSlog drops mcp-go's own logging; the registry logs what matters.
var quietSlog = slog.New(slog.DiscardHandler)

// httpParts builds the HTTP client and headers for an HTTP upstream. Only
// the server's own configured headers and bearer, or the tokens of its
// OAuth configuration (tokens), are sent.
func httpParts(cfg ServerConfig, tokens *tokenSource) (*http.Client, map[string]string) {
	headers := make(map[string]string, len(cfg.Headers)+1)
	for k, v := range cfg.Headers {
		headers[k] = v
	}
	if cfg.Bearer != "" {
		headers["Authorization"] = "Bearer " + cfg.Bearer
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 0
	hc := &http.Client{Transport: tr}
	if tokens != nil {
		hc.Transport = &oauthTransport{src: tokens, next: tr}
	}
	return hc, headers
}

// stdioProcess is a stdio upstream's child process. The registry starts and
// reaps it itself (mcp-go only gets its pipes), so that it runs in its own
// process group, its exit is noticed at once, and the whole group is killed
// on close.
type stdioProcess struct {
	cmd    *exec.Cmd
	stdout *os.File // our read end
	stdin  *os.File // our write end
	// exited is closed once the process has been reaped; err is then its
	// exit error.
	exited chan struct{}
	err    error
}

// startProcess starts cfg's command with its stdio on fresh pipes and its
// stderr copied, line by line, to log.
func startProcess(cfg ServerConfig, log zerolog.Logger) (*stdioProcess, error) {
	cmd := exec.Command(cfg.Command, cfg.Args...)
	cmd.Dir = cfg.Cwd
	cmd.Env = stdioEnv(cfg, os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = &lineLogger{log: log}
	// Grandchildren may keep stderr open; do not wait for them forever.
	cmd.WaitDelay = 2 * time.Second

	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = inR.Close()
		_ = inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			_ = f.Close()
		}
		return nil, fmt.Errorf("start %s: %w", cfg.Command, err)
	}
	// The child holds its ends now.
	_ = inR.Close()
	_ = outW.Close()
	p := &stdioProcess{cmd: cmd, stdout: outR, stdin: inW, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// safeEnvNames are the variables of Junction's own environment that every
// stdio server gets, when set: what a program needs to find its tools, home,
// user, terminal, locale, time zone and temporary directory, and nothing
// that configures Junction or holds a credential. The model is the official
// MCP SDKs' default environment for stdio servers (HOME, LOGNAME, PATH,
// SHELL, TERM, USER on unix), with LANG, LC_*, TZ and TMPDIR added.
var safeEnvNames = map[string]bool{
	"HOME": true, "LANG": true, "LOGNAME": true, "PATH": true, "SHELL": true,
	"TERM": true, "TMPDIR": true, "TZ": true, "USER": true,
}

// safeEnvPrefix is the prefix of the locale categories (LC_ALL, LC_CTYPE,
// ...), which are safe too.
const safeEnvPrefix = "LC_"

// stdioEnv is the environment of cfg's command, built from environ
// (Junction's own, as os.Environ returns it): the safe variables and those
// named in cfg.EnvPassthrough, then cfg.Env on top. JUNCTION_* variables
// never pass (validation refuses them in EnvPassthrough; this is the second
// lock), nor do values that are exported shell functions ("() {...}"), as
// in the SDKs. The result is sorted, one entry per name.
func stdioEnv(cfg ServerConfig, environ []string) []string {
	pass := make(map[string]bool, len(cfg.EnvPassthrough))
	for _, name := range cfg.EnvPassthrough {
		pass[name] = true
	}
	vars := make(map[string]string, len(safeEnvNames)+len(cfg.Env))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.HasPrefix(strings.ToUpper(k), "JUNCTION_") || strings.HasPrefix(v, "()") {
			continue
		}
		if safeEnvNames[k] || strings.HasPrefix(k, safeEnvPrefix) || pass[k] {
			vars[k] = v
		}
	}
	for k, v := range cfg.Env {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// transport returns the mcp-go transport speaking over the process's pipes.
func (p *stdioProcess) transport() transport.Interface {
	t := transport.NewIO(p.stdout, p.stdin, nil)
	return t
}

// stop ends the process group: it closes stdin (a well-behaved server exits
// at EOF), waits up to grace, then sends SIGKILL to the whole group and
// waits for the reaper. It is safe to call more than once.
func (p *stdioProcess) stop(grace time.Duration) {
	_ = p.stdin.Close()
	t := time.NewTimer(grace)
	select {
	case <-p.exited:
		t.Stop()
	case <-t.C:
	}
	// Kill the group even after the leader exited: children it started may
	// still be running.
	if pid := p.cmd.Process.Pid; pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	<-p.exited
	// Unblock mcp-go's reader, whatever still holds the pipe.
	_ = p.stdout.Close()
}

// exitError describes how the process ended.
func (p *stdioProcess) exitError() error {
	if p.err == nil {
		return errors.New("process exited")
	}
	return fmt.Errorf("process exited: %w", p.err)
}

// lineLogger writes a child's stderr to the log, one entry per line.
type lineLogger struct {
	log zerolog.Logger
	// mu guards buf (exec copies stderr from a single goroutine, but be safe).
	mu  sync.Mutex
	buf []byte
}

// maxStderrLine bounds one logged stderr line.
const maxStderrLine = 4096

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) > maxStderrLine {
				l.emit(l.buf[:maxStderrLine])
				l.buf = l.buf[maxStderrLine:]
				continue
			}
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) == 0 {
		l.buf = nil
	}
	return len(p), nil
}

func (l *lineLogger) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return
	}
	if len(line) > maxStderrLine {
		line = line[:maxStderrLine]
	}
	l.log.Info().Str("stderr", string(line)).Msg("registry: upstream stderr")
}

var _ io.Writer = (*lineLogger)(nil)
