package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

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

	req := modernCallRequest(url, key, "files__read_file", nil)
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
