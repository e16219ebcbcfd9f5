package mcptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// rawStdio drives ServeStdio with hand-written JSON-RPC lines.
type rawStdio struct {
	toServer *io.PipeWriter
	lines    chan string
	stop     func() error
}

// mustServer is NewServer with opts; it fails t on error.
func mustServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	srv, err := NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// startRawStdio serves srv on pipes; the test writes lines with send and
// reads with recv. stop cancels ServeStdio and returns its result; it runs
// at the end of the test at the latest.
func startRawStdio(t *testing.T, srv *Server) *rawStdio {
	t.Helper()
	serverIn, toServer := io.Pipe()
	fromServer, serverOut := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeStdio(ctx, serverIn, serverOut) }()
	r := &rawStdio{toServer: toServer, lines: make(chan string, 64)}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(r.lines)
		scanner := bufio.NewScanner(fromServer)
		scanner.Buffer(nil, MaxStdioMessageSize)
		for scanner.Scan() {
			r.lines <- scanner.Text()
		}
	}()
	r.stop = sync.OnceValue(func() error {
		cancel()
		err := <-done
		_ = serverOut.Close()
		_ = fromServer.Close()
		<-readerDone
		return err
	})
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func (r *rawStdio) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(r.toServer, line+"\n"); err != nil {
		t.Fatalf("write to server: %v", err)
	}
}

// recv returns the next message the server wrote.
func (r *rawStdio) recv(t *testing.T) map[string]any {
	t.Helper()
	select {
	case line, ok := <-r.lines:
		if !ok {
			t.Fatal("server output ended")
		}
		var msg map[string]any
		if err := json.Unmarshal([]byte(line), &msg); err != nil {
			t.Fatalf("server wrote a line that is not JSON: %q", line)
		}
		return msg
	case <-time.After(testTimeout):
		t.Fatal("no message from the server")
		return nil
	}
}

const initializeLine = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func TestServeStdioRawProtocol(t *testing.T) {
	srv := mustServer(t)
	r := startRawStdio(t, srv)
	r.send(t, initializeLine)
	if msg := r.recv(t); msg["id"] != 1.0 || msg["result"] == nil {
		t.Fatalf("initialize answered %v", msg)
	}
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	r.send(t, `not json`)
	msg := r.recv(t)
	if e, _ := msg["error"].(map[string]any); msg["id"] != nil || e["code"] != float64(mcp.PARSE_ERROR) {
		t.Errorf("malformed line answered %v, want a parse error with a null id", msg)
	}

	// Blank lines are skipped; string ids come back as strings.
	r.send(t, "")
	r.send(t, "   ")
	r.send(t, `{"jsonrpc":"2.0","id":"call-1","method":"tools/call","params":{"name":"echo","arguments":{"message":"raw"}}}`)
	msg = r.recv(t)
	if msg["id"] != "call-1" {
		t.Fatalf("echo answered %v, want id call-1", msg)
	}
	content := msg["result"].(map[string]any)["content"].([]any)
	if text := content[0].(map[string]any)["text"]; text != "raw" {
		t.Errorf("echo text = %v, want raw", text)
	}

	// A message with a null id is a notification: no answer. The ping
	// after it proves the server is still reading.
	r.send(t, `{"jsonrpc":"2.0","id":null,"method":"notifications/whatever"}`)
	r.send(t, `{"jsonrpc":"2.0","id":7,"method":"ping"}`)
	if msg := r.recv(t); msg["id"] != 7.0 {
		t.Errorf("ping answered %v", msg)
	}
}

// TestServeStdioProgressPrecedesResponse checks that a handler's progress
// notifications are written before its response.
func TestServeStdioProgressPrecedesResponse(t *testing.T) {
	srv := mustServer(t)
	r := startRawStdio(t, srv)
	r.initialize(t)
	r.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":120,"progress_interval_ms":30},"_meta":{"progressToken":42}}}`)
	var progress []float64
	for {
		msg := r.recv(t)
		if msg["id"] == 2.0 {
			break
		}
		params := msg["params"].(map[string]any)
		if msg["method"] != "notifications/progress" || params["progressToken"] != 42.0 {
			t.Fatalf("unexpected message %v", msg)
		}
		progress = append(progress, params["progress"].(float64))
	}
	if len(progress) < 2 || progress[len(progress)-1] != 120 {
		t.Errorf("progress before the response = %v, want several ending at 120", progress)
	}
}

// TestServeStdioSessionsAreIndependent runs two stdio sessions on one server
// and checks that one session's progress never reaches the other, while a
// catalog change reaches both.
func TestServeStdioSessionsAreIndependent(t *testing.T) {
	srv := mustServer(t)
	a, b := startRawStdio(t, srv), startRawStdio(t, srv)
	for _, r := range []*rawStdio{a, b} {
		r.initialize(t)
		r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	}
	a.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":60,"progress_interval_ms":10},"_meta":{"progressToken":"a"}}}`)
	for msg := a.recv(t); msg["id"] != 2.0; msg = a.recv(t) {
	}
	if err := srv.AddTools(EchoTool("shared")); err != nil {
		t.Fatal(err)
	}
	// b's first message must be the list_changed: none of a's progress.
	if msg := b.recv(t); msg["method"] != mcp.MethodNotificationToolsListChanged {
		t.Errorf("session b received %v, want only the list_changed notification", msg)
	}
	for msg := a.recv(t); msg["method"] != mcp.MethodNotificationToolsListChanged; msg = a.recv(t) {
		if msg["method"] != "notifications/progress" {
			t.Fatalf("session a received %v", msg)
		}
	}
}

func TestServeStdioStopsWhenContextEnds(t *testing.T) {
	srv := mustServer(t)
	r := startRawStdio(t, srv)
	r.initialize(t)
	r.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":60000,"progress_interval_ms":10},"_meta":{"progressToken":"p"}}}`)
	if msg := r.recv(t); msg["method"] != "notifications/progress" {
		t.Fatalf("got %v, want progress from the running sleep", msg)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("ServeStdio after cancel = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("ServeStdio did not return after its context ended")
	}
	if st := srv.Stats(); st.InFlight != 0 || st.Cancelled != 1 {
		t.Errorf("stats after cancel = %+v, want the sleep cancelled and nothing in flight", st)
	}
	// ServeStdio closed its input (a pipe reader) to end its pending read.
	if _, err := io.WriteString(r.toServer, "{}\n"); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write after ServeStdio returned: %v, want io.ErrClosedPipe", err)
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestServeStdioStopsOnWriteError(t *testing.T) {
	srv := mustServer(t)
	serverIn, toServer := io.Pipe()
	defer toServer.Close()
	done := make(chan error, 1)
	go func() { done <- srv.ServeStdio(t.Context(), serverIn, failingWriter{}) }()
	if _, err := io.WriteString(toServer, initializeLine+"\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("ServeStdio = %v, want the write error", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("ServeStdio kept running after a write error")
	}
}

func TestServeStdioReadError(t *testing.T) {
	srv := mustServer(t)
	in := io.MultiReader(strings.NewReader(initializeLine+"\n"), iotestErrReader{})
	var out strings.Builder
	err := srv.ServeStdio(t.Context(), in, &out)
	if err == nil || !strings.Contains(err.Error(), "read: pipe exploded") {
		t.Errorf("ServeStdio = %v, want the read error", err)
	}
}

// iotestErrReader fails every read.
type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("pipe exploded") }

func TestServeStdioEOFWithoutInput(t *testing.T) {
	srv := mustServer(t)
	var out strings.Builder
	if err := srv.ServeStdio(t.Context(), strings.NewReader(""), &out); err != nil {
		t.Errorf("ServeStdio on empty input = %v, want nil", err)
	}
	if out.Len() != 0 {
		t.Errorf("output = %q, want nothing", out.String())
	}
}

func TestPackageServeStdio(t *testing.T) {
	if err := ServeStdio(t.Context(), strings.NewReader(""), io.Discard, WithTools("nope")); err == nil {
		t.Error("ServeStdio with bad options: want an error")
	}
	var out strings.Builder
	in := strings.NewReader(initializeLine + "\n" + `{"jsonrpc":"2.0","id":2,"method":"tools/list"}` + "\n")
	if err := ServeStdio(t.Context(), in, &out, WithName("pkg"), WithTools(ToolEcho)); err != nil {
		t.Fatalf("ServeStdio: %v", err)
	}
	if got := out.String(); !strings.Contains(got, `"name":"pkg"`) || !strings.Contains(got, `"name":"echo"`) {
		t.Errorf("output = %s, want serverInfo pkg and the echo tool", got)
	}
}

// initialize sends the initialize request and reads its answer.
func (r *rawStdio) initialize(t *testing.T) {
	t.Helper()
	r.send(t, initializeLine)
	r.recv(t)
}
