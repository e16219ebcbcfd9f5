package llm

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// FuzzCacheHeaders: cacheHeaders never panics, fails only with a 400, and
// what it accepts is in range: a TTL from one second to one year (0 only
// when the header is absent) and a threshold in (0, 1] (0 only when absent).
func FuzzCacheHeaders(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"90", "0.9"}, {"10m", "1"}, {"1h30m", "0"}, {"31536000", "0.0"}, {"8760h", "1e-3"},
		{"0", "-0"}, {"-5", "-0.1"}, {"31536001", "1.0001"}, {"8761h", "NaN"}, {"abc", "Inf"}, {"1ns", "0x1p-2"},
		{"+60", " 0.5 "}, {"9223372036854775807", "1e309"}, {"-1h", "+Inf"}, {"1.5", "."}, {" 5s ", "0,5"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ttlHeader, thresholdHeader string) {
		h := http.Header{}
		h.Set(HeaderCacheTTL, ttlHeader)
		h.Set(HeaderCacheThreshold, thresholdHeader)
		ttl, threshold, err := cacheHeaders(h)
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("%q %q: error %v (%T) is not a 400", ttlHeader, thresholdHeader, err, err)
			}
			return
		}
		if strings.TrimSpace(ttlHeader) == "" {
			if ttl != 0 {
				t.Fatalf("no TTL header, TTL %v", ttl)
			}
		} else if ttl <= 0 || ttl > maxCacheTTL {
			t.Fatalf("TTL %q accepted as %v", ttlHeader, ttl)
		}
		if strings.TrimSpace(thresholdHeader) == "" {
			if threshold != 0 {
				t.Fatalf("no threshold header, threshold %v", threshold)
			}
		} else if !(threshold > 0 && threshold <= 1) {
			t.Fatalf("threshold %q accepted as %v", thresholdHeader, threshold)
		}
	})
}

// FuzzCacheControl: cacheControl never panics and returns only trimmed,
// lower-case, non-empty directive names.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{
		"", "no-cache", "no-store", "No-Cache, no-store", "max-age=0, no-cache", "no-cache=\"x\"", ",,,", "=", " = ",
		"no-cache =1", "NO-STORE\t,\tprivate", "\x00", "ß,ǅ", "max-age=\"1,2\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Add("Cache-Control", v)
		h.Add("Cache-Control", "private") // a second header line is read too
		got := cacheControl(h)
		if !got["private"] {
			t.Fatalf("%q: the second Cache-Control line was not read: %v", v, got)
		}
		for d := range got {
			if d == "" || d != strings.TrimSpace(d) || d != strings.ToLower(d) || strings.ContainsAny(d, ",=") {
				t.Fatalf("%q: directive %q", v, d)
			}
		}
	})
}

// validEvents checks that every data line of an SSE body is JSON (or
// OpenAI's [DONE]).
func validEvents(t *testing.T, label string, body []byte) {
	t.Helper()
	for _, line := range bytes.Split(body, []byte("\n")) {
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok || string(data) == "[DONE]" {
			continue
		}
		if !json.Valid(data) {
			t.Fatalf("%s: event data is not JSON: %q", label, data)
		}
	}
}

// FuzzDecodeCachedValue: a stored value (bytes from Redis or Qdrant, maybe
// corrupt) never panics the decoder; a decoded value re-encodes to one that
// decodes to the same answer; and the answer replays in both client
// formats, streamed or not, as valid JSON.
func FuzzDecodeCachedValue(f *testing.F) {
	for _, resp := range answers() {
		resp.Usage = chat.Usage{PromptTokens: 12, CompletionTokens: 5}
		b, err := encodeCachedValue(resp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"v":1,"model":"gpt","text":"hi","finish_reason":"stop","usage":{"prompt_tokens":3,"completion_tokens":1}}`,
		`{"v":1,"tool_calls":[{"id":"","name":"","arguments":"not json"}],"finish_reason":"tool_calls","usage":{}}`,
		`{"v":1,"tool_calls":[{"id":"c1","name":"f","arguments":"[1,2]"},{"id":"c2","name":"g","arguments":"{\"a\":"}],"finish_reason":"weird"}`,
		`{"v":1,"text":"\ud800 \u0000 </script>","finish_reason":"content_filter","usage":{"prompt_tokens":-1,"completion_tokens":9223372036854775807}}`,
		`{"v":1,"text":"x","text":"y","tool_calls":null}`,
		`{"v":99}`, `{"v":"1"}`, `{"v":1.5}`, `{"v":1,"usage":[]}`, `{"v":1,"tool_calls":{}}`, `{}`, `null`, `[]`, `not json`, ``,
		"{\"v\":1,\"text\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	formats := []clientFormat{openAIFormat{}, anthropicFormat{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := decodeCachedValue(b)
		if err != nil {
			if resp != nil {
				t.Fatal("an error with an answer")
			}
			return
		}
		again, err := encodeCachedValue(resp)
		if err != nil {
			t.Fatalf("a decoded value does not re-encode: %v", err)
		}
		resp2, err := decodeCachedValue(again)
		if err != nil {
			t.Fatalf("a re-encoded value does not decode: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(resp, resp2) {
			t.Fatalf("re-encoding changed the answer:\n%+v\n%+v", resp, resp2)
		}
		for _, format := range formats {
			for _, stream := range []bool{false, true} {
				c := &chatCall{s: &Service{now: time.Now}, format: format, head: chatHead{Model: "fast", Stream: stream}}
				cp := *resp
				rec := httptest.NewRecorder()
				if status := c.replay(rec, &cp); status != "ok" {
					t.Fatalf("%s stream=%v: replay status %q", format.name(), stream, status)
				}
				label := format.name() + " replay"
				if !stream {
					if !json.Valid(rec.Body.Bytes()) {
						t.Fatalf("%s: not JSON: %q", label, rec.Body.Bytes())
					}
					continue
				}
				validEvents(t, label+" stream", rec.Body.Bytes())
			}
		}
	})
}
