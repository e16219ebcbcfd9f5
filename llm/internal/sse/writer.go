package sse

import "net/http"

// Writer sends events to a client as they come, flushing each, and
// remembers when the client went away: it then writes nothing more, so that
// its caller can still drain the upstream for its usage.
type Writer struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	gone bool
}

// NewWriter writes to w, whose status and headers are already written.
func NewWriter(w http.ResponseWriter) *Writer {
	return &Writer{w: w, rc: http.NewResponseController(w)}
}

// Send writes b (one or more whole events) and flushes it.
func (w *Writer) Send(b []byte) {
	if w.gone || len(b) == 0 {
		return
	}
	if _, err := w.w.Write(b); err != nil {
		w.gone = true
		return
	}
	if err := w.rc.Flush(); err != nil {
		w.gone = true
	}
}

// Gone reports whether a write or flush failed: the client went away.
func (w *Writer) Gone() bool { return w.gone }
