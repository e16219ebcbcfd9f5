package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/rs/zerolog"
)

// recoverer turns a panicking handler into a 500 JSON error, logged with its
// stack, and keeps the server serving. http.ErrAbortHandler is re-raised: it
// is how a handler deliberately aborts a response.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, w := recorderFor(w)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			zerolog.Ctx(r.Context()).Error().
				Str("panic", fmt.Sprint(v)).
				Bytes("stack", debug.Stack()).
				Msg("handler panicked")
			if rec.wroteHeader() {
				// Too late for an error response; cut the connection so the
				// client sees a broken response rather than a truncated success.
				panic(http.ErrAbortHandler)
			}
			writeError(w, r, &Error{
				Status:  http.StatusInternalServerError,
				Type:    "server_error",
				Code:    "internal_error",
				Message: "internal server error; the request id identifies it in the gateway's log",
			})
		}()
		next.ServeHTTP(w, r)
	})
}
