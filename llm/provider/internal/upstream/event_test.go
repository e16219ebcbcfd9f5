package upstream

import (
	"net/http"
	"testing"
)

func TestEventError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ev        string
		want      bool
		status    int
		typ, code string
		message   string
	}{
		{"a chunk", "data: {\"choices\":[]}\n\n", false, 0, "", "", ""},
		{"error in a string", "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"error\\\"\"}}]}\n\n", false, 0, "", "", ""},
		{"not an object", "data: [\"error\"]\n\n", false, 0, "", "", ""},
		{"OpenAI", "data: {\"error\":{\"message\":\"bad key\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}\n\n",
			true, http.StatusBadGateway, "invalid_request_error", "invalid_api_key", "bad key"},
		{"numeric code", "data: {\"error\":{\"message\":\"boom\",\"code\":502}}\n\n", true, http.StatusBadGateway, "", "", "boom"},
		{"Anthropic overloaded", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
			true, 529, "overloaded_error", "", "Overloaded"},
		{"named error, unreadable data", "event: error\ndata: oops\n\n", true, http.StatusBadGateway, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := EventError("p", []byte(tt.ev))
			if (e != nil) != tt.want {
				t.Fatalf("EventError = %v, want an error: %v", e, tt.want)
			}
			if e == nil {
				return
			}
			if e.Provider != "p" || e.Status != tt.status || e.Type != tt.typ || e.Code != tt.code || e.Message != tt.message {
				t.Errorf("EventError = %+v, want status %d type %q code %q message %q", e, tt.status, tt.typ, tt.code, tt.message)
			}
		})
	}
}
