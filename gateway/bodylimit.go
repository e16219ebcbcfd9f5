package gateway

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// bodyLimit caps request bodies at limit bytes and bounds the time to read
// them. A declared Content-Length over the limit is refused before the
// handler runs (413); a chunked body that grows past it fails the handler's
// read with *http.MaxBytesError, which writeError renders as 413. The read
// deadline is lifted when the body is done, so it never cuts a stream.
func bodyLimit(limit int64, readTimeout time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				// The client may still be sending; closing avoids reading it all.
				w.Header().Set("Connection", "close")
				writeError(w, r, errTooLarge(limit))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				rc := http.NewResponseController(w)
				if readTimeout > 0 {
					_ = rc.SetReadDeadline(time.Now().Add(readTimeout)) // unsupported writers just keep no deadline
				}
				r.Body = &deadlineBody{
					ReadCloser: http.MaxBytesReader(w, r.Body, limit),
					rc:         rc,
					armed:      readTimeout > 0,
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deadlineBody lifts the connection's read deadline once the body has been
// read to its end or closed.
type deadlineBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	armed bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.lift()
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	b.lift()
	return b.ReadCloser.Close()
}

func (b *deadlineBody) lift() {
	if b.armed {
		b.armed = false
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}
