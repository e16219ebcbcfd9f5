package llm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/anthropic"
	"github.com/junctionhq/junction/llm/provider/openai"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/llm/routes"
	"github.com/junctionhq/junction/policy"
)

// apiError is an error as a client sees it (see apierror): status, type,
// code and a message safe to show. Internal detail stays in Err, for the log.
type apiError = apierror.Error

func badRequest(param, msg string) *apiError {
	return apierror.BadRequest("invalid_request", param, msg)
}

// classify maps any error of the LLM path to what the client sees.
func classify(err error) *apiError {
	var (
		ae   *apiError
		mbe  *http.MaxBytesError
		oreq *openai.RequestError
		areq *anthropic.RequestError
		unk  *router.UnknownModelError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return apierror.TooLarge(mbe.Limit)
	}
	if e, ok := apierror.Admission(err); ok {
		return e
	}
	switch {
	case errors.As(err, &oreq):
		return badRequest(oreq.Param, oreq.Error())
	case errors.As(err, &areq):
		return badRequest("", areq.Error())
	case errors.As(err, &unk):
		return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
			Message: fmt.Sprintf("model %q does not exist or is not configured", unk.Model)}
	case errors.Is(err, routes.ErrBusy):
		return errRoutesBusy
	}
	return classifyUpstream(err)
}

// classifyUpstream maps the errors of calling providers — every target
// failing, one upstream's refusal, a timeout, a cancellation — and any
// other error (a 500) to what the client sees.
func classifyUpstream(err error) *apiError {
	var (
		exh *router.ExhaustedError
		up  *chat.UpstreamError
	)
	switch {
	case errors.As(err, &exh):
		return exhaustedError(exh, err)
	case errors.As(err, &up):
		return upstreamError(up, err)
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusGatewayTimeout, Type: "server_error", Code: "timeout", Message: "the upstream did not answer in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &apiError{Status: 499, Type: "server_error", Code: "cancelled", Message: "request cancelled", Err: err}
	}
	return internalError(err)
}

// internalError is the 500 of a failure that is Junction's own; its cause
// goes to the log only.
func internalError(err error) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Type: "server_error", Code: "internal_error",
		Message: "internal error; the request id identifies it in the gateway's log", Err: err}
}

// exhaustedError is what the client sees of a model whose every target
// failed (err wraps exh).
func exhaustedError(exh *router.ExhaustedError, err error) *apiError {
	var last *chat.UpstreamError
	if errors.As(exh.Last, &last) && router.AuthFailure(last) {
		// Every target left was refused its key (or is cooling down for
		// it): waiting will not help, the operator must fix the key.
		msg := fmt.Sprintf("every target of %q failed (%d attempts); last: %s", exh.Model, exh.Attempts, authFailureMessage(last.Provider))
		if exh.Attempts == 0 {
			msg = fmt.Sprintf("no target of %q is available: %s", exh.Model, authFailureMessage(last.Provider))
		}
		return &apiError{Status: http.StatusBadGateway, Type: "server_error", Code: "provider_auth_failed", Message: msg, Err: err}
	}
	status := http.StatusBadGateway
	if last != nil && (last.Status == http.StatusServiceUnavailable || last.Status == 529 || last.Status == http.StatusTooManyRequests) {
		status = http.StatusServiceUnavailable
	}
	if errors.Is(exh.Last, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	if exh.Attempts == 0 {
		status = http.StatusServiceUnavailable // failed fast: nothing admits traffic
	}
	return &apiError{Status: status, Type: "server_error", Code: "upstream_unavailable", Message: redactSecrets(exh.Error()), Err: err,
		Header: retryAfterHeader(status, exhaustedRetryAfter(exh))}
}

// upstreamError is what the client sees of one upstream's failure (err
// wraps up).
func upstreamError(up *chat.UpstreamError, err error) *apiError {
	if router.AuthFailure(up) {
		// Junction's credentials are at fault, not the client's: a 401
		// or 403 passed through would tell the client to fix its key.
		return &apiError{Status: http.StatusBadGateway, Type: "server_error", Code: "provider_auth_failed",
			Message: authFailureMessage(up.Provider), Err: err}
	}
	if up.Status >= 400 && up.Status < 500 {
		// The request itself was refused upstream: say what the upstream said.
		typ := up.Type
		if typ == "" {
			typ = "invalid_request_error"
		}
		return &apiError{Status: up.Status, Type: typ, Code: up.Code, Message: up.Provider + ": " + redactSecrets(up.Message), Err: err}
	}
	return &apiError{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error", Message: redactSecrets(up.Error()), Err: err}
}

// WriteOpenAIError renders err in OpenAI's error shape.
func WriteOpenAIError(w http.ResponseWriter, r *http.Request, err error) {
	writeAPIError(w, r, err, func(e *apiError) []byte {
		return openai.AppendError(nil, e.Status, e.Type, e.Code, e.Param, e.Message)
	})
}

// WriteAnthropicError renders err in Anthropic's error shape (for /v1/messages).
func WriteAnthropicError(w http.ResponseWriter, r *http.Request, err error) {
	writeAPIError(w, r, err, func(e *apiError) []byte {
		return anthropic.AppendError(nil, anthropic.ErrorType(e.Status), e.Message)
	})
}

// retryAfterLLM is the Retry-After, in seconds, of a 503 on the LLM path
// that does not say better.
const retryAfterLLM = "1"

// writeAPIError classifies err, logs a server-side failure and writes the
// error with its headers and the body render makes of it.
func writeAPIError(w http.ResponseWriter, r *http.Request, err error, render func(*apiError) []byte) {
	e := classify(err)
	logError(r, e)
	h := w.Header()
	e.SetHeaders(h, retryAfterLLM)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(render(e))
}

func logError(r *http.Request, e *apiError) {
	if e.Status >= 500 && e.Status != 499 {
		zerolog.Ctx(r.Context()).Warn().Err(e.Err).Int("status", e.Status).Str("code", e.Code).Msg("llm: request failed")
	}
}

// setRateLimitHeaders reports the tightest limit per dimension on a
// successful response, as OpenAI does.
func setRateLimitHeaders(h http.Header, ls []policy.LimitStatus, now time.Time) {
	var seen [3]bool
	for _, l := range ls {
		i := 0
		switch l.Dimension {
		case policy.DimTokens:
			i = 1
		case policy.DimToolCalls:
			i = 2
		}
		key := "X-Ratelimit-Remaining-" + string(l.Dimension)
		if seen[i] {
			if cur, _ := strconv.ParseInt(h.Get(key), 10, 64); cur <= l.Remaining {
				continue
			}
		}
		seen[i] = true
		dim := string(l.Dimension)
		h.Set("X-Ratelimit-Limit-"+dim, strconv.FormatInt(l.Limit, 10))
		h.Set(key, strconv.FormatInt(l.Remaining, 10))
		h.Set("X-Ratelimit-Reset-"+dim, strconv.FormatInt(int64(max(0, l.Reset.Sub(now).Seconds())), 10)+"s")
	}
}

// authFailureMessage is what a client sees of a provider refusing
// Junction's credentials; the upstream's own words go to the log only.
func authFailureMessage(provider string) string {
	return fmt.Sprintf("the provider rejected Junction's credentials for %s; the gateway's operator must check its API key for that provider", provider)
}

// junctionProvider is the Provider of the upstream errors Junction makes
// itself for a request it cannot send (requestError).
const junctionProvider = router.JunctionProvider

// secretLike matches what may be credentials in a provider's error message:
// OpenAI-style keys (sk-..., also masked as sk-****1234), Google API keys,
// bearer tokens, JWTs, long hex strings (Azure keys), masked values (abc****wxyz)
// and key=value query parameters.
var secretLike = regexp.MustCompile(`(?i)\b(?:sk|rk|pk)-[a-z0-9_\-*]{3,}` +
	`|\bAIza[0-9a-z_\-]{10,}` +
	`|\bbearer\s+[^\s"',;]+` +
	`|\beyJ[a-z0-9_\-]+\.[a-z0-9_\-]+\.[a-z0-9_\-]*` +
	`|\b[0-9a-f]{32,}\b` +
	`|[a-z0-9_\-]*\*{3,}[a-z0-9_\-]*` +
	`|\b(?:api[_-]?key|key|token|access_token)=[^&\s"']+`)

// redacted replaces a secret in a message.
const redacted = "[redacted]"

// redactSecrets removes anything key-like from an upstream's message before
// a client sees it.
func redactSecrets(msg string) string {
	return secretLike.ReplaceAllString(msg, redacted)
}

// minScrubbedKey is the shortest API key removed verbatim from upstream
// errors; shorter values (placeholders of local servers such as "none")
// would garble the message without protecting anything.
const minScrubbedKey = 8

// scrubKey removes the API key an attempt was made with from its upstream
// error (message and body), for the client and the log alike.
func scrubKey(err error, key string) {
	var up *chat.UpstreamError
	if len(key) < minScrubbedKey || !errors.As(err, &up) {
		return
	}
	up.Message = strings.ReplaceAll(up.Message, key, redacted)
	if bytes.Contains(up.Body, []byte(key)) {
		up.Body = bytes.ReplaceAll(up.Body, []byte(key), []byte(redacted))
	}
}
