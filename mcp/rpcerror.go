package mcp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/apierror"
)

// Every error /mcp, /mcp/{toolset} and the SSE transport answer is a
// JSON-RPC error object, with the request's id when it is known (null
// otherwise) and an HTTP status that says what went wrong, as the official
// SDKs answer: the hub's own refusals write one (writeRPCError), and
// protocolErrors turns the transport's plain-text errors (mcp-go's, for an
// unknown session or a wrong Content-Type) into one and refuses JSON-RPC
// batches before mcp-go sees them.

// maxIDPeek bounds how much of a request body is kept to find its id.
const maxIDPeek = 64 << 10

// batchPeek is how much of a body is looked at for the '[' of a batch
// (after leading whitespace).
const batchPeek = 512

// batchMessage says why a JSON array body is refused.
const batchMessage = "JSON-RPC batches are not supported by Junction: send each request in a POST of its own " +
	"(MCP removed batching in protocol revision 2025-06-18)"

// batchMessage2025 is batchMessage for a client that declared 2025-03-26,
// the revision that allowed batches.
const batchMessage2025 = "JSON-RPC batches are not supported by Junction, although protocol revision 2025-03-26 allows them: " +
	"send each request in a POST of its own"

// WriteError answers a request to an MCP endpoint that is refused before
// it reaches the hub (for example by the gateway's authentication) with e
// as a JSON-RPC error object, id null, with e's status and headers: the
// shape every other /mcp error has.
func WriteError(w http.ResponseWriter, e *apierror.Error) {
	for k, v := range e.Header {
		w.Header().Set(k, v) // Retry-After of a lockout or a rate limit
	}
	writeRPCError(w, e.Status, nil, rpcCode(e.Status), e.Message)
}

// rpcCode is the JSON-RPC error code of an HTTP error status: internal
// error for a server's fault, invalid request otherwise.
func rpcCode(status int) int {
	if status >= http.StatusInternalServerError {
		return mcp.INTERNAL_ERROR
	}
	return mcp.INVALID_REQUEST
}

// rpcError is a JSON-RPC error response.
type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   rpcErrorDetail  `json:"error"`
}

// rpcErrorDetail is the error member of an rpcError.
type rpcErrorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// writeRPCError answers with a JSON-RPC error object: status, the request's
// id (null when id is empty), code and message.
func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, message string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	body, _ := json.Marshal(rpcError{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Error: rpcErrorDetail{Code: code, Message: message}})
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// requestID returns the id of the one JSON-RPC request in body, or nil when
// body is not a request object with an id (a notification, a response, a
// batch, or not JSON).
func requestID(body []byte) json.RawMessage {
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method == "" || len(msg.ID) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(msg.ID, &v) != nil {
		return nil
	}
	switch v.(type) {
	case string, float64:
		return msg.ID
	}
	return nil // null, objects and arrays are not request ids
}

// peekID reads (at most maxIDPeek bytes of) the body of r, which the caller
// answers itself, and returns its request id, or nil.
func peekID(r *http.Request) json.RawMessage {
	if r.Method != http.MethodPost || r.Body == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxIDPeek))
	if err != nil {
		return nil
	}
	return requestID(body)
}

// protocolErrors wraps an MCP transport handler: a JSON-RPC batch is
// refused, and a plain-text error response becomes a JSON-RPC error.
func protocolErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
			rw := &rpcErrorWriter{ResponseWriter: w}
			next.ServeHTTP(rw, r)
			rw.finish()
			return
		}
		br := bufio.NewReaderSize(r.Body, batchPeek)
		if firstJSONByte(br) == '[' {
			msg := batchMessage
			if r.Header.Get(mcp.HeaderProtocolVersion) == "2025-03-26" {
				msg = batchMessage2025
			}
			writeRPCError(w, http.StatusBadRequest, nil, mcp.INVALID_REQUEST, msg)
			return
		}
		rw := &rpcErrorWriter{ResponseWriter: w}
		r.Body = readCloser{io.TeeReader(br, &rw.body), r.Body}
		next.ServeHTTP(rw, r)
		rw.finish()
	})
}

// firstJSONByte returns the first byte of br after JSON whitespace without
// consuming anything, or 0 when there is none within br's buffer.
func firstJSONByte(br *bufio.Reader) byte {
	for n := 1; n <= br.Size(); n++ {
		b, _ := br.Peek(n)
		if len(b) < n {
			return 0 // the body ended, or failed: mcp-go reports it
		}
		if c := b[n-1]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

// cappedBuffer keeps the first maxIDPeek bytes written to it.
type cappedBuffer struct {
	buf       bytes.Buffer
	truncated bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := maxIDPeek - c.buf.Len(); room < len(p) {
		c.truncated = true
		p = p[:max(room, 0)]
	}
	c.buf.Write(p)
	return len(p), nil
}

// rpcErrorWriter holds back a plain-text error response (status 400 or
// more, Content-Type text/plain) and writes it, in finish, as a JSON-RPC
// error with the request's id. Everything else passes through, flushes
// included.
type rpcErrorWriter struct {
	http.ResponseWriter
	// body is what the handler read of the request body (POST only).
	body cappedBuffer
	// held is set once a plain-text error is being held back; status and
	// text are then its status and message.
	held   bool
	status int
	text   strings.Builder
	// wrote is set once the response started passing through.
	wrote bool
}

func (w *rpcErrorWriter) WriteHeader(status int) {
	if w.wrote || w.held {
		return
	}
	if status >= http.StatusBadRequest && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.held, w.status = true, status
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *rpcErrorWriter) Write(p []byte) (int, error) {
	if !w.wrote && !w.held {
		w.WriteHeader(http.StatusOK)
	}
	if w.held {
		if w.text.Len() < maxIDPeek {
			w.text.Write(p)
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher for the streams that pass through.
func (w *rpcErrorWriter) Flush() {
	if w.held {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *rpcErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes a held-back error as a JSON-RPC error.
func (w *rpcErrorWriter) finish() {
	if !w.held {
		return
	}
	var id json.RawMessage
	if !w.body.truncated {
		id = requestID(w.body.buf.Bytes())
	}
	message := strings.TrimSpace(w.text.String())
	if message == "" {
		message = http.StatusText(w.status)
	}
	writeRPCError(w.ResponseWriter, w.status, id, rpcCode(w.status), message)
}
