package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
)

// Closing the hub ends the upstream calls of 2026-07-28 clients that run
// through the input-required flow, parked or not: Close does not wait for
// a call that is still in its first round.
func TestCloseEndsInputCallsInFirstRound(t *testing.T) {
	t.Parallel()
	fake := newFake(standardServers()...)
	entered := make(chan struct{}, 1)
	fake.Handle("files", "read_file", func(ctx context.Context, _ json.RawMessage, _ registry.CallOptions) (json.RawMessage, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	pol := testPolicy(t)
	key, _ := testKey(t, pol, policy.KeyInput{Name: "all"})
	h, err := New(Options{Upstreams: fake, Policy: pol, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	url := serveHub(t, h, pol).URL + "/mcp"
	testkit.Eventually(t, 5*time.Second, "condition", func() bool { return h.cur.Load().toolsByName["files__read_file"] != nil })

	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": map[string]any{
		"name": "files__read_file", "arguments": map[string]any{},
		"_meta": map[string]any{
			mcp.MetaKeyProtocolVersion:    modernEra,
			mcp.MetaKeyClientCapabilities: map[string]any{"sampling": map[string]any{}},
			mcp.MetaKeyClientInfo:         map[string]any{"name": "raw", "version": "1"},
		},
	}})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set(mcp.HeaderProtocolVersion, modernEra)
	req.Header.Set(mcp.HeaderMethod, "tools/call")
	req.Header.Set(mcp.HeaderName, "files__read_file")
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the tool was not called")
	}
	closed := make(chan struct{})
	go func() {
		h.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Hub.Close still waits for a call in its first round")
	}
}
