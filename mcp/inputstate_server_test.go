package mcp

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry"
)

// A wrapped requestState carries the upstream's own state, which only that
// upstream may see: when the tool's public name has come to mean another
// server since (a definition replaced, a prefix reused), the retry is
// refused and the other server gets nothing.
func TestInputRequiredStateBoundToServer(t *testing.T) {
	t.Parallel()
	modernServer := func(name string) registry.ServerCatalog {
		return registry.ServerCatalog{Name: name, Prefix: "tools", ProtocolVersion: modernEra,
			Tools: []registry.Tool{tool(name, "ask", objSchema)}}
	}
	fake := newFake(modernServer("alpha"))
	var mu sync.Mutex
	resumed := map[string]string{} // server → the upstream state it got
	for _, server := range []string{"alpha", "beta"} {
		fake.Handle(server, "ask", func(_ context.Context, _ json.RawMessage, opts registry.CallOptions) (json.RawMessage, error) {
			if opts.Resume != nil {
				mu.Lock()
				resumed[server] = opts.Resume.RequestState
				mu.Unlock()
				return textResult("answered"), nil
			}
			return json.RawMessage(`{"resultType":"input_required","inputRequests":{"q":{"method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}},"requestState":"alpha-secret-state"}`), nil
		})
	}
	s := serveReady(t, Options{Upstreams: fake, Registerer: prometheus.NewRegistry()}, "tools__ask")
	h, key, url := s.Hub, s.key(t, "all"), s.url

	first := rawModern(t, url, key, "tools__ask", nil)
	var state string
	_ = json.Unmarshal(first["requestState"], &state)
	if state == "" {
		t.Fatalf("first result: %v", first)
	}

	fake.SetServers(modernServer("beta"))
	testkit.Eventually(t, 5*time.Second, "condition", func() bool {
		en := h.cur.Load().toolsByName["tools__ask"]
		return en != nil && en.tool.Server == "beta"
	})
	answer := map[string]any{"q": map[string]any{"role": "assistant", "content": map[string]any{"type": "text", "text": "four"}, "model": "m"}}
	text, isErr := rawText(rawModern(t, url, key, "tools__ask", map[string]any{"requestState": state, "inputResponses": answer}))
	if !isErr || !strings.Contains(text, "invalid requestState") {
		t.Errorf("retry after the tool moved to another server: %q (isError %v)", text, isErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, ok := resumed["beta"]; ok {
		t.Errorf("server beta was sent alpha's requestState %q", got)
	}
}
