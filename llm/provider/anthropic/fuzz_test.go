package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
)

// FuzzDecodeMessagesRequest feeds arbitrary bodies to the inbound decoder. It
// must never panic; it returns a request or a *RequestError; and a decoded
// request must encode back into a valid Messages body and response.
func FuzzDecodeMessagesRequest(f *testing.F) {
	testkit.AddSeeds(f, "testdata/decode", ".json")
	for _, s := range []string{
		body("", ""),
		body(`,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"tool_choice":{"type":"tool","name":"f"}`, ""),
		body("", `[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"x"}}]}]}]`),
		body("", `[{"role":"assistant","content":[{"type":"tool_use","id":"i","name":"f","input":{"a":"\u0000\ud800"}}]}]`),
		`{"model":"m","max_tokens":1e400}`, `{"model":"m","max_tokens":-1}`, `{"messages":null}`,
		`null`, `[]`, `"x"`, `{`, ``, `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[null]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeMessagesRequest(b)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Message == "" {
				t.Fatalf("error %v (%T), want a *RequestError with a message", err, err)
			}
			return
		}
		if req.Model == "" || req.MaxTokens < 1 {
			t.Fatalf("accepted request without model or max_tokens: %s", b)
		}
		out := appendRequest(nil, "m", req, req.Stream, 1)
		if !json.Valid(out) {
			t.Fatalf("invalid upstream body %s\nfrom %s", out, b)
		}
		resp := &chat.Response{Message: chat.Message{Role: chat.RoleAssistant}}
		for _, m := range req.Messages {
			resp.Message.Content = append(resp.Message.Content, m.Content...)
			resp.Message.ToolCalls = append(resp.Message.ToolCalls, m.ToolCalls...)
		}
		if out := AppendMessagesResponse(nil, resp, req.Model); !json.Valid(out) {
			t.Fatalf("invalid response %s\nfrom %s", out, b)
		}
	})
}

// FuzzStream feeds arbitrary bytes to the upstream stream parser and the
// chunks it yields to the StreamEncoder. The parser must never panic, must
// end (io.EOF or a *chat.UpstreamError), and the re-encoded events must be
// well formed.
func FuzzStream(f *testing.F) {
	testkit.AddSeeds(f, "testdata/stream_decode", ".sse")
	f.Add([]byte(sseText(evStart, evTextStart, evText, evStop)))
	f.Add([]byte("event: content_block_delta\ndata: {\"index\":-1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n\n"))
	f.Add([]byte("data: {\"type\":\"error\"}\n\n"))
	f.Add([]byte("event: message_delta\ndata: {\"usage\":{\"output_tokens\":-5}}\r\n\r\n"))
	f.Add([]byte(":\n\n\n\r\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newStream("fuzz", io.NopCloser(bytes.NewReader(b)), 0)
		enc := NewStreamEncoder("m")
		var out []byte
		for i := 0; ; i++ {
			if i > len(b)+2 {
				t.Fatalf("stream did not end after %d chunks", i)
			}
			c, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				var ue *chat.UpstreamError
				if !errors.As(err, &ue) {
					t.Fatalf("error %v (%T), want *chat.UpstreamError", err, err)
				}
				break
			}
			if c == nil {
				t.Fatal("nil chunk without error")
			}
			out = enc.Append(out, c)
		}
		out = enc.Finish(out, nil)
		checkEventsJSON(t, out)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
