package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/apierror"
)

// Error is the error value every front end renders (see apierror). The
// gateway renders it in OpenAI's error shape, used by /v1 and /admin alike:
// {"error": {"message", "type", "code"}}.
type Error = apierror.Error

// Error constructors for the families the gateway itself produces.
func errBadRequest(code, msg string) *Error { return apierror.BadRequest(code, "", msg) }

func errUnauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Type: "authentication_error", Code: "invalid_api_key", Message: msg}
}

func errNotFound(msg string) *Error { return apierror.NotFound(msg) }

func errTooLarge(limit int64) *Error { return apierror.TooLarge(limit) }

func errInternal(cause error) *Error {
	return &Error{
		Status:  http.StatusInternalServerError,
		Type:    "server_error",
		Code:    "internal_error",
		Message: "internal server error; the request id identifies it in the gateway's log",
		Err:     cause,
	}
}

// policyError maps an error from the governance layer to the HTTP error the
// caller sees; errors that are not the governance layer's pass through.
func policyError(err error) error {
	if e, ok := apierror.Policy(err); ok {
		return e
	}
	return err
}

// retryAfterUnavailable is the Retry-After, in seconds, of a 503 that does
// not say better: every 503 the gateway answers tells clients when to come
// back, so that they do not retry in a tight loop.
const retryAfterUnavailable = "5"

// writeError renders err as a JSON error response. Any error that is not an
// *Error becomes a 500 whose detail stays in the log.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := adminTimeoutError(r, err)
	if e == nil && !errors.As(err, &e) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e = errTooLarge(mbe.Limit)
		} else {
			e = errInternal(err)
		}
	}
	if e.Status >= 500 {
		zerolog.Ctx(r.Context()).Error().Err(e).Msg("request failed")
	}
	e.SetHeaders(w.Header(), retryAfterUnavailable)
	writeJSON(w, e.Status, errorBody{Error: errorDetail{Message: e.Message, Type: e.Type, Code: e.Code}})
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
}

// writeJSON writes v with status. Encoding errors can only come from the
// connection at this point and are left to the access log's byte count.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handlerFunc is an HTTP handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		writeError(w, r, err)
	}
}

// decodeJSON reads a JSON request body into v. A body over the size limit
// becomes a 413, malformed JSON a 400 naming the problem.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeErr(err)
	}
	return nil
}

// decodeErr turns a body read or decode error into the caller's error: 413
// over the size limit, 400 otherwise.
func decodeErr(err error) error {
	var (
		mbe    *http.MaxBytesError
		syntax *json.SyntaxError
	)
	switch {
	case errors.As(err, &mbe):
		return errTooLarge(mbe.Limit)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errBadRequest("invalid_json", "request body is not valid JSON: "+err.Error())
	}
	// Valid JSON that does not fit: an unknown field, a wrong type, a bad value.
	return errBadRequest("invalid_request", "invalid request body: "+strings.TrimPrefix(err.Error(), "json: "))
}

// pathParam is the named parameter of the request path, decoded. chi
// matches on the escaped path when the client escaped more than the minimum
// (a name with a comma, say), and its parameter is then still escaped.
func pathParam(r *http.Request, key string) string {
	v := chi.URLParam(r, key)
	if r.URL.RawPath == "" {
		return v
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
