package testkit

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// OpenChatStream posts a streamed chat completion of model with the bearer
// key to base (a gateway's URL) and returns the body once its first data
// event has arrived. The body is closed when the test ends.
func OpenChatStream(t testing.TB, base, key, model string) *bufio.Reader {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"a long story"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("stream: first line %q, %v", line, err)
	}
	return r
}

// ReadSSEData reads r to its end and returns the data of its events.
func ReadSSEData(r *bufio.Reader) []string {
	var events []string
	for {
		line, err := r.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			events = append(events, data)
		}
		if err != nil {
			return events
		}
	}
}
