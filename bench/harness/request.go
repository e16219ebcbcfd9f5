package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ChatCompletionsPath is the OpenAI endpoint every target is driven on.
const ChatCompletionsPath = "/v1/chat/completions"

// Request is the one request a run sends over and over.
type Request struct {
	// Path is the URL path appended to each target's base URL.
	Path string

	// Body is the JSON request body, sent unchanged to every target.
	Body []byte

	// APIKey is sent as "Authorization: Bearer <APIKey>" when not empty.
	APIKey string

	// Stream marks an SSE request (the body has "stream": true). Latency is
	// then time to the last byte, and the whole stream is read.
	Stream bool
}

// Validate returns every problem with r at once.
func (r Request) Validate() error {
	var errs []error
	if !strings.HasPrefix(r.Path, "/") {
		errs = append(errs, fmt.Errorf("request path %q must start with /", r.Path))
	}
	if len(r.Body) == 0 {
		errs = append(errs, errors.New("request body is empty"))
	} else if !json.Valid(r.Body) {
		errs = append(errs, errors.New("request body is not valid JSON"))
	}
	if strings.ContainsAny(r.APIKey, "\r\n") {
		errs = append(errs, errors.New("api key contains a line break"))
	}
	return errors.Join(errs...)
}

// header returns the headers sent with every request.
func (r Request) header() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if r.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	if r.APIKey != "" {
		h.Set("Authorization", "Bearer "+r.APIKey)
	}
	return h
}

// SetStream returns body, a JSON object, with its "stream" field set to
// stream. Other fields are kept byte for byte; their order may change.
func SetStream(body []byte, stream bool) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, fmt.Errorf("request body must be a JSON object: %w", err)
	}
	if fields == nil {
		return nil, errors.New("request body must be a JSON object, not null")
	}
	if stream {
		fields["stream"] = json.RawMessage("true")
	} else {
		fields["stream"] = json.RawMessage("false")
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("encode request body: %w", err)
	}
	return out, nil
}
