package upstream

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
)

// statusOverloaded is the status of an overloaded_error event (Anthropic's
// 529, outside net/http's list).
const statusOverloaded = 529

// EventError decodes ev, one raw SSE event of a stream whose 200 has been
// sent, when it is an error event: an event named "error" or one whose data
// is a JSON object with a top-level "error" key, whose
// {"message","type","code"} it reads. It returns nil for any other event.
// The error's Status is 529 for an overloaded_error and 502 otherwise; Code
// is the code when it is a string (OpenAI's invalid_api_key; some servers
// send a number); Body is the event's data.
func EventError(provider string, ev []byte) *chat.UpstreamError {
	data := sse.AppendData(nil, ev)
	if string(sse.Name(ev)) != "error" && !hasKey(data, "error") {
		return nil
	}
	var v struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &v)
	status := http.StatusBadGateway
	if v.Error.Type == "overloaded_error" {
		status = statusOverloaded
	}
	code, _ := v.Error.Code.(string)
	return &chat.UpstreamError{Provider: provider, Status: status, Type: v.Error.Type, Code: code, Message: v.Error.Message, Body: data}
}

// hasKey reports whether the JSON object data has the top-level key.
func hasKey(data []byte, key string) bool {
	var m map[string]json.RawMessage
	if len(data) == 0 || data[0] != '{' || !bytes.Contains(data, []byte(`"`+key+`"`)) {
		return false
	}
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}
