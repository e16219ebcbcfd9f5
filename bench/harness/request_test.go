package harness

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSetStream(t *testing.T) {
	in := []byte(`{"model":"m","messages":[{"role":"user","content":"<hi>"}],"stream":false,"n":1}`)
	for _, stream := range []bool{true, false} {
		out, err := SetStream(in, stream)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output is not JSON: %s", out)
		}
		if got["stream"] != stream || got["model"] != "m" || got["n"] != 1.0 {
			t.Errorf("SetStream(%v) = %s", stream, out)
		}
		if msgs, _ := got["messages"].([]any); len(msgs) != 1 {
			t.Errorf("messages lost: %s", out)
		}
	}
	for _, bad := range []string{``, `null`, `[1]`, `"x"`, `{"a":1} trailing`, `{`} {
		if _, err := SetStream([]byte(bad), true); err == nil {
			t.Errorf("SetStream(%q) = nil error, want one", bad)
		}
	}
}

func TestRequestValidate(t *testing.T) {
	ok := Request{Path: ChatCompletionsPath, Body: []byte(`{}`), APIKey: "k"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	bad := Request{Path: "v1", Body: []byte(`{`), APIKey: "k\r\nX-Evil: 1"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"must start with /", "not valid JSON", "line break"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := (Request{Path: "/"}).Validate(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty body: %v", err)
	}
}

func TestRequestHeader(t *testing.T) {
	h := Request{APIKey: "jk-1", Stream: true}.header()
	if h.Get("Authorization") != "Bearer jk-1" || h.Get("Accept") != "text/event-stream" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", h)
	}
	if h := (Request{}).header(); h.Get("Authorization") != "" {
		t.Errorf("no key must mean no Authorization header, got %v", h)
	}
}

func TestLoadValidate(t *testing.T) {
	tests := []struct {
		name string
		load Load
		want string // substring of the error; empty means valid
	}{
		{"concurrency", Load{Concurrency: 50, Duration: 10 * time.Second, Timeout: time.Second}, ""},
		{"rate", Load{Rate: 500, Duration: 10 * time.Second, Timeout: time.Second, Warmup: time.Second}, ""},
		{"both", Load{Rate: 5, Concurrency: 5, Duration: time.Second, Timeout: time.Second}, "exclusive"},
		{"neither", Load{Duration: time.Second, Timeout: time.Second}, "positive rate or a positive concurrency"},
		{"no duration", Load{Concurrency: 1, Timeout: time.Second}, "duration"},
		{"too long", Load{Concurrency: 1, Duration: 2 * time.Hour, Timeout: time.Second}, "duration"},
		{"no timeout", Load{Concurrency: 1, Duration: time.Second}, "timeout"},
		{"negative warmup", Load{Concurrency: 1, Duration: time.Second, Timeout: time.Second, Warmup: -1}, "warmup"},
		{"too many workers", Load{Concurrency: MaxConcurrency + 1, Duration: time.Second, Timeout: time.Second}, "concurrency"},
		{"rate too high", Load{Rate: MaxRate + 1, Duration: time.Second, Timeout: time.Second}, "rate"},
		{"negative max workers", Load{Rate: 1, MaxWorkers: -1, Duration: time.Second, Timeout: time.Second}, "max workers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "Validate()", tt.load.Validate(), tt.want)
		})
	}
}

func TestLoadString(t *testing.T) {
	if got := (Load{Concurrency: 50, Duration: 15 * time.Second}).String(); got != "concurrency 50 for 15s" {
		t.Errorf("got %q", got)
	}
	if got := (Load{Rate: 500, Duration: 10 * time.Second}).String(); got != "500 req/s for 10s" {
		t.Errorf("got %q", got)
	}
}
