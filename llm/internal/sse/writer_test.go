package sse

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// failingWriter fails every write, as a connection whose client left.
type failingWriter struct{ *httptest.ResponseRecorder }

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec)
	w.Send([]byte("data: 1\n\n"))
	w.Send(nil)
	if rec.Body.String() != "data: 1\n\n" || !rec.Flushed || w.Gone() {
		t.Errorf("body %q, flushed %v, gone %v", rec.Body, rec.Flushed, w.Gone())
	}
	var rw http.ResponseWriter = failingWriter{httptest.NewRecorder()}
	w = NewWriter(rw)
	w.Send([]byte("data: 1\n\n"))
	if !w.Gone() {
		t.Error("a failed write leaves the client gone")
	}
}
