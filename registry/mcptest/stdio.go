package mcptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

const (
	// MaxStdioMessageSize bounds one incoming JSON-RPC line on stdio; a
	// longer line ends ServeStdio with a read error.
	MaxStdioMessageSize = 32 << 20
	// stdioNotificationQueue is how many notifications may wait for the
	// writer before further ones are dropped (progress is best effort).
	stdioNotificationQueue = 256
)

// ServeStdio builds a Server with opts and serves it on in and out until in
// reaches EOF or ctx ends; see Server.ServeStdio.
func ServeStdio(ctx context.Context, in io.Reader, out io.Writer, opts ...Option) error {
	s, err := NewServer(opts...)
	if err != nil {
		return err
	}
	return s.ServeStdio(ctx, in, out)
}

// ServeStdio serves s over newline-delimited JSON-RPC, the MCP stdio
// transport: it reads messages from in and writes responses and
// notifications to out, one JSON object per line.
//
// Unlike mcp-go's stdio server, which keeps its session in a package-level
// variable, every ServeStdio call has its own session, so any number may run
// at once in one process (for example over io.Pipe pairs in tests).
//
// Requests are served concurrently; notifications (including
// notifications/cancelled) are handled in arrival order. A handler's
// notifications are written before its response.
//
// ServeStdio returns nil when in reaches EOF (which is how an MCP client
// asks a stdio server to shut down) or when ctx ends; either way it first
// cancels the requests in flight and waits for their handlers to return. If
// out fails before in reaches EOF, ServeStdio stops and returns the write
// error; after EOF, write errors are expected (the client is gone) and
// ignored. A read error from in is returned.
//
// ServeStdio never closes out. When it returns while a read from in is still
// blocked, it closes in if in is an io.Closer (and waits for the read to
// end); otherwise that read ends when in next yields data or EOF. A write
// blocked on out (a peer that neither reads nor closes) blocks ServeStdio.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	session := newStdioSession("stdio-" + strconv.FormatInt(s.stdioSessions.Add(1), 10))
	if err := s.mcp.RegisterSession(ctx, session); err != nil {
		return fmt.Errorf("mcptest: stdio: register session: %w", err)
	}
	defer s.mcp.UnregisterSession(context.WithoutCancel(ctx), session.SessionID())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	c := &stdioConn{server: s, session: session, out: out, cancel: cancel, outgoing: make(chan mcp.JSONRPCMessage)}
	session.outgoing = c.outgoing
	requestCtx := s.mcp.WithContext(ctx, session)

	// The reader hands lines over one at a time, so a line always arrives
	// before the reader's final error.
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		readErr <- readLines(ctx, in, lines)
	}()

	stopWriter := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(stopWriter)
	}()

	var err error
	sawEOF := false
loop:
	for {
		select {
		case line := <-lines:
			c.dispatch(requestCtx, line)
		case readEnd := <-readErr:
			switch {
			case readEnd == nil:
				sawEOF = true
			case ctx.Err() != nil:
				// The reader stopped because ctx ended.
			default:
				err = fmt.Errorf("mcptest: stdio: read: %w", readEnd)
			}
			break loop
		case <-ctx.Done():
			break loop
		}
	}

	// Without input no notifications/cancelled can arrive any more, so a
	// long-lived request (subscriptions/listen) would never end by itself.
	cancel()
	c.requests.Wait()
	close(stopWriter)
	<-writerDone

	select {
	case <-readerDone:
	default:
		if closer, ok := in.(io.Closer); ok {
			_ = closer.Close()
			<-readerDone
		}
	}
	if !sawEOF {
		// The loop may have stopped for a write error caused by the client
		// going away while its EOF was still on the way.
		select {
		case readEnd := <-readErr:
			sawEOF = readEnd == nil
		default:
		}
	}
	// A client that closed our input is gone and may have closed its end
	// of the output too: failing to write the last answers is expected.
	if c.writeErr != nil && !sawEOF { // safe: the writer has stopped
		return c.writeErr
	}
	return err
}

// readLines sends each non-empty line of in to lines until EOF (nil), a read
// error, or the end of ctx (ctx's error).
func readLines(ctx context.Context, in io.Reader, lines chan<- []byte) error {
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 0, 64<<10), MaxStdioMessageSize)
	for scanner.Scan() {
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		select {
		case lines <- bytes.Clone(line):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return scanner.Err()
}

// stdioConn is one ServeStdio call: the session, the output and the
// requests being served.
type stdioConn struct {
	server  *Server
	session *stdioSession
	cancel  context.CancelFunc
	out     io.Writer

	// requests tracks the goroutines serving requests; ServeStdio waits for
	// them before stopping the writer.
	requests sync.WaitGroup

	// outgoing carries responses to the writer goroutine, the only writer
	// of out and the only reader of the session's notifications. Having one
	// reader is what lets it write a handler's notifications (progress)
	// before the handler's response.
	outgoing chan mcp.JSONRPCMessage

	// writeErr is the first write error. Only the writer goroutine touches
	// it until the writer has stopped.
	writeErr error
}

// dispatch routes one incoming message. Requests run on their own
// goroutine; notifications and responses run inline, so they keep their
// order relative to each other.
func (c *stdioConn) dispatch(ctx context.Context, line []byte) {
	var head struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		c.server.logger.Warn("mcptest: stdio: malformed message", "err", err)
		c.outgoing <- mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.PARSE_ERROR, "parse error: "+err.Error(), nil)
		return
	}
	isRequest := head.Method != "" && len(head.ID) > 0 && !bytes.Equal(head.ID, []byte("null"))
	if head.Method == "" && c.session.answer(head.ID, line) {
		return
	}
	if !isRequest {
		if resp := c.handle(ctx, line, nil); resp != nil {
			c.outgoing <- resp
		}
		return
	}
	var id any
	_ = json.Unmarshal(head.ID, &id) // head.ID is valid JSON: it was just decoded
	c.requests.Go(func() {
		if resp := c.handle(ctx, line, id); resp != nil {
			c.outgoing <- resp
		}
	})
}

// handle runs one message through the mcp-go server, turning a panic in
// mcp-go or a handler into an internal error response (for requests).
func (c *stdioConn) handle(ctx context.Context, line []byte, id any) (resp mcp.JSONRPCMessage) {
	defer func() {
		if r := recover(); r != nil {
			c.server.logger.Error("mcptest: stdio: panic while handling a message", "panic", r)
			resp = nil
			if id != nil {
				resp = mcp.NewJSONRPCError(mcp.NewRequestId(id), mcp.INTERNAL_ERROR, fmt.Sprintf("internal error: %v", r), nil)
			}
		}
	}()
	return c.server.mcp.HandleMessage(ctx, line)
}

// writeLoop writes notifications and responses until stop is closed, then
// writes the notifications still queued. Nothing may send on outgoing after
// stop is closed.
func (c *stdioConn) writeLoop(stop <-chan struct{}) {
	for {
		select {
		case n := <-c.session.notifications:
			c.writeMessage(n)
		case msg := <-c.outgoing:
			// Notifications a handler queued before returning were queued
			// before its response was sent, so they are in the channel now.
			c.flushNotifications()
			c.writeMessage(msg)
		case <-stop:
			c.flushNotifications()
			return
		}
	}
}

// flushNotifications writes the queued notifications.
func (c *stdioConn) flushNotifications() {
	for {
		select {
		case n := <-c.session.notifications:
			c.writeMessage(n)
		default:
			return
		}
	}
}

// writeMessage encodes msg as one line. After the first write error nothing
// more is written and the connection is cancelled: the peer is gone.
func (c *stdioConn) writeMessage(msg any) {
	if c.writeErr != nil {
		return
	}
	data, err := json.Marshal(msg)
	if err != nil {
		c.server.logger.Error("mcptest: stdio: encode message", "err", err)
		return
	}
	data = append(data, '\n')
	if _, err := c.out.Write(data); err != nil {
		c.writeErr = fmt.Errorf("mcptest: stdio: write: %w", err)
		c.server.logger.Warn("mcptest: stdio: output closed, stopping", "err", err)
		c.cancel()
	}
}

// stdioSession is the mcp-go session of one ServeStdio call.
type stdioSession struct {
	id            string
	notifications chan mcp.JSONRPCNotification
	initialized   atomic.Bool

	logLevel     guarded[mcp.LoggingLevel]
	clientInfo   guarded[mcp.Implementation]
	capabilities guarded[mcp.ClientCapabilities]

	// mu guards the fields below.
	mu           sync.Mutex
	filter       mcp.SubscriptionFilter
	filterActive bool

	// outgoing is the connection's writer queue, for the server's own
	// requests to the client (roots/list). Only request handlers use it,
	// and the writer outlives them.
	outgoing chan<- mcp.JSONRPCMessage
	// nextID numbers those requests.
	nextID atomic.Int64
	// asked holds the channels waiting for their answers, by request ID
	// (guarded by mu).
	asked map[string]chan json.RawMessage
}

func newStdioSession(id string) *stdioSession {
	return &stdioSession{
		id:            id,
		notifications: make(chan mcp.JSONRPCNotification, stdioNotificationQueue),
		logLevel:      guarded[mcp.LoggingLevel]{v: mcp.LoggingLevelError},
	}
}

// guarded is a value read and written under its own lock.
type guarded[T any] struct {
	mu sync.Mutex
	v  T
}

func (g *guarded[T]) get() T {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.v
}

func (g *guarded[T]) set(v T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.v = v
}

var (
	_ server.ClientSession                 = (*stdioSession)(nil)
	_ server.SessionWithLogging            = (*stdioSession)(nil)
	_ server.SessionWithClientInfo         = (*stdioSession)(nil)
	_ server.SessionWithSubscriptionFilter = (*stdioSession)(nil)
	_ server.SessionWithRoots              = (*stdioSession)(nil)
)

// ListRoots implements server.SessionWithRoots: it sends roots/list to the
// client and waits for the answer or the end of ctx.
func (s *stdioSession) ListRoots(ctx context.Context, request mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	raw, err := s.ask(ctx, string(mcp.MethodListRoots), request.Params)
	if err != nil {
		return nil, err
	}
	var res mcp.ListRootsResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("mcptest: stdio: roots/list result: %w", err)
	}
	return &res, nil
}

// ask sends a request of method to the client and returns its result.
func (s *stdioSession) ask(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := "mcptest-" + strconv.FormatInt(s.nextID.Add(1), 10)
	reply := make(chan json.RawMessage, 1)
	s.mu.Lock()
	if s.asked == nil {
		s.asked = map[string]chan json.RawMessage{}
	}
	s.asked[id] = reply
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.asked, id)
		s.mu.Unlock()
	}()
	req := mcp.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(id), Params: params, Request: mcp.Request{Method: method}}
	select {
	case s.outgoing <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var line json.RawMessage
	select {
	case line = <-reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var resp struct {
		Result json.RawMessage          `json:"result"`
		Error  *mcp.JSONRPCErrorDetails `json:"error"`
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("mcptest: stdio: %s answer: %w", method, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("mcptest: stdio: the client refused %s: %s (code %d)", method, resp.Error.Message, resp.Error.Code)
	}
	return resp.Result, nil
}

// answer hands a response line to the request it answers, and reports
// whether there was one.
func (s *stdioSession) answer(rawID json.RawMessage, line []byte) bool {
	var id string
	if json.Unmarshal(rawID, &id) != nil {
		return false
	}
	s.mu.Lock()
	reply, ok := s.asked[id]
	s.mu.Unlock()
	if ok {
		select {
		case reply <- json.RawMessage(line):
		default: // a second answer to the same request is dropped
		}
	}
	return ok
}

// SessionID implements server.ClientSession.
func (s *stdioSession) SessionID() string { return s.id }

// NotificationChannel implements server.ClientSession.
func (s *stdioSession) NotificationChannel() chan<- mcp.JSONRPCNotification {
	return s.notifications
}

// Initialize implements server.ClientSession.
func (s *stdioSession) Initialize() { s.initialized.Store(true) }

// Initialized implements server.ClientSession.
func (s *stdioSession) Initialized() bool { return s.initialized.Load() }

// SetLogLevel implements server.SessionWithLogging.
func (s *stdioSession) SetLogLevel(level mcp.LoggingLevel) { s.logLevel.set(level) }

// GetLogLevel implements server.SessionWithLogging.
func (s *stdioSession) GetLogLevel() mcp.LoggingLevel { return s.logLevel.get() }

// GetClientInfo implements server.SessionWithClientInfo.
func (s *stdioSession) GetClientInfo() mcp.Implementation { return s.clientInfo.get() }

// SetClientInfo implements server.SessionWithClientInfo.
func (s *stdioSession) SetClientInfo(info mcp.Implementation) { s.clientInfo.set(info) }

// GetClientCapabilities implements server.SessionWithClientInfo.
func (s *stdioSession) GetClientCapabilities() mcp.ClientCapabilities { return s.capabilities.get() }

// SetClientCapabilities implements server.SessionWithClientInfo.
func (s *stdioSession) SetClientCapabilities(capabilities mcp.ClientCapabilities) {
	s.capabilities.set(capabilities)
}

// SetSubscriptionFilter implements server.SessionWithSubscriptionFilter.
func (s *stdioSession) SetSubscriptionFilter(filter mcp.SubscriptionFilter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filter = filter
	s.filterActive = !filter.IsEmpty()
}

// SubscriptionFilter implements server.SessionWithSubscriptionFilter.
func (s *stdioSession) SubscriptionFilter() (mcp.SubscriptionFilter, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.filter, s.filterActive
}
