package gateway

import (
	"net/http"
)

// responseRecorder remembers the status and byte count of a response for the
// access log and metrics. It passes flushes through (streams must flush every
// event) and unwraps for http.ResponseController.
type responseRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// recorderFor returns the recorder already wrapping w, or a new one.
func recorderFor(w http.ResponseWriter) (*responseRecorder, http.ResponseWriter) {
	if rec, ok := w.(*responseRecorder); ok {
		return rec, w
	}
	rec := &responseRecorder{ResponseWriter: w}
	return rec, rec
}

func (r *responseRecorder) WriteHeader(status int) {
	if r.status == 0 && status >= 200 { // 1xx are informational; the real status follows
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *responseRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (r *responseRecorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	http.NewResponseController(r.ResponseWriter).Flush() //nolint:errcheck // a failed flush surfaces on the next write
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *responseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// wroteHeader reports whether the response has started.
func (r *responseRecorder) wroteHeader() bool { return r.status != 0 }

// statusOrOK is the status sent, 200 when the handler wrote nothing.
func (r *responseRecorder) statusOrOK() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
