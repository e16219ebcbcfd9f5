package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

// buildToolserver builds the example tool server (registry/mcptest over
// stdio) into a directory of the test.
func buildToolserver(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "toolserver")
	build := exec.Command("go", "build", "-o", bin, "./examples/toolserver")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/toolserver: %v\n%s", err, out)
	}
	return bin
}

// fixedRoots answers roots/list with one root.
type fixedRoots struct{ uri string }

func (f fixedRoots) ListRoots(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: f.uri, Name: "project"}}}, nil
}

// rootsUpstreams registers two upstreams serving mcptest's roots tool,
// which asks its client once per session and then answers from its cache
// (as server-everything does): "web" over streamable HTTP (2025-11-25, the
// era with sessions) and "local" over stdio.
func rootsUpstreams(t *testing.T) *registry.Registry {
	t.Helper()
	up, err := mcptest.NewServer(mcptest.WithTools(mcptest.ToolRoots))
	if err != nil {
		t.Fatal(err)
	}
	reg := registerHTTPUpstreams(t, map[string]httpUpstream{"web": {srv: up.MCP(), legacy: true}})
	if _, err := reg.CreateServer(context.Background(), registry.ServerConfig{Name: "local", Transport: registry.TransportStdio,
		Command: buildToolserver(t), Args: []string{"--stdio", "--tools", mcptest.ToolRoots}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "condition", func() bool { return len(reg.Catalog().Servers) == 2 })
	return reg
}

// rootsSeen calls tool and returns the root URIs in its result.
func rootsSeen(t *testing.T, c *client.Client, tool string) []string {
	t.Helper()
	res := mcptest.CallTool(t, c, tool, nil)
	if res.IsError {
		t.Fatalf("%s: %s", tool, mcptest.ResultText(res))
	}
	var out mcptest.RootsOutput
	if err := json.Unmarshal([]byte(mcptest.ResultText(res)), &out); err != nil {
		t.Fatalf("%s: %v in %q", tool, err, mcptest.ResultText(res))
	}
	uris := make([]string, 0, len(out.Roots))
	for _, r := range out.Roots {
		uris = append(uris, r.URI)
	}
	return uris
}

// TestRootsDoNotLeakBetweenCallers: two callers whose clients list
// different roots, calling a tool that caches the roots per upstream
// session, each see only their own: for a stdio and an HTTP upstream, for
// 2025-11-25 (server-initiated roots/list) and 2026-07-28 (input_required)
// clients, in both orders, also for two sessions of one key, and again
// from the upstream's cache.
func TestRootsDoNotLeakBetweenCallers(t *testing.T) {
	t.Parallel()
	reg := rootsUpstreams(t)
	s := serveReady(t, Options{Upstreams: reg}, "web__roots", "local__roots")
	pol, url := s.pol, s.url

	n := 0
	for _, era := range eras {
		for _, tool := range []string{"web__roots", "local__roots"} {
			for _, sameKey := range []bool{false, true} {
				if sameKey && era == modernEra {
					continue // a stateless client has no session of its own: it is its key
				}
				for _, bFirst := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/same-key=%v/b-first=%v", era, tool, sameKey, bFirst), func(t *testing.T) {
						n++
						keyA, _ := testKey(t, pol, policy.KeyInput{Name: fmt.Sprintf("a%d", n)})
						keyB := keyA
						if !sameKey {
							keyB, _ = testKey(t, pol, policy.KeyInput{Name: fmt.Sprintf("b%d", n)})
						}
						rootA, rootB := fmt.Sprintf("file:///a%d", n), fmt.Sprintf("file:///b%d", n)
						a := connectWith(t, url, keyA, era, client.WithRootsHandler(fixedRoots{rootA}))
						b := connectWith(t, url, keyB, era, client.WithRootsHandler(fixedRoots{rootB}))
						want := map[*client.Client]string{a: rootA, b: rootB}
						order := []*client.Client{a, b}
						if bFirst {
							order = []*client.Client{b, a}
						}
						for round := range 2 {
							for _, c := range order {
								if got := rootsSeen(t, c, tool); len(got) != 1 || got[0] != want[c] {
									t.Errorf("round %d: the caller with root %s sees %q", round, want[c], got)
								}
							}
						}
					})
				}
			}
		}
	}
}

// changingRoots answers roots/list with its current root and counts the
// times it was asked.
type changingRoots struct {
	uri   atomic.Pointer[string]
	asked atomic.Int32
}

func newChangingRoots(uri string) *changingRoots {
	r := &changingRoots{}
	r.uri.Store(&uri)
	return r
}

func (r *changingRoots) ListRoots(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	r.asked.Add(1)
	return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: *r.uri.Load()}}}, nil
}

// TestRootsListChangedReachesOnlyItsCaller: a client's
// notifications/roots/list_changed reaches its own upstream sessions (the
// upstream forgets that client's roots and asks it again) and no other
// caller's (whose upstream session keeps its roots and does not ask).
func TestRootsListChangedReachesOnlyItsCaller(t *testing.T) {
	t.Parallel()
	reg := rootsUpstreams(t)
	s := serveReady(t, Options{Upstreams: reg}, "web__roots", "local__roots")
	pol, url := s.pol, s.url
	keyA, _ := testKey(t, pol, policy.KeyInput{Name: "a"})
	keyB, _ := testKey(t, pol, policy.KeyInput{Name: "b"})
	ra, rb := newChangingRoots("file:///a/old"), newChangingRoots("file:///b")
	a := connectWith(t, url, keyA, legacyEra, client.WithRootsHandler(ra))
	b := connectWith(t, url, keyB, legacyEra, client.WithRootsHandler(rb))
	tools := []string{"web__roots", "local__roots"}
	for _, tool := range tools {
		for c, want := range map[*client.Client]string{a: "file:///a/old", b: "file:///b"} {
			if got := rootsSeen(t, c, tool); len(got) != 1 || got[0] != want {
				t.Errorf("%s: %q, want %s", tool, got, want)
			}
		}
	}
	if ra.asked.Load() != 2 || rb.asked.Load() != 2 {
		t.Fatalf("asked a %d, b %d times, want 2 each (once per upstream)", ra.asked.Load(), rb.asked.Load())
	}

	newRoot := "file:///a/new"
	ra.uri.Store(&newRoot)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.RootListChanges(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools {
		testkit.Eventually(t, 5*time.Second, "condition", func() bool { got := rootsSeen(t, a, tool); return len(got) == 1 && got[0] == newRoot })
		if got := rootsSeen(t, b, tool); len(got) != 1 || got[0] != "file:///b" {
			t.Errorf("%s: b sees %q after a's roots changed", tool, got)
		}
	}
	if rb.asked.Load() != 2 {
		t.Errorf("b was asked %d times, want 2: a's list_changed reached b's upstream session", rb.asked.Load())
	}
}

// TestCallerSessionsBusyMessage: a call refused because every caller
// session of its upstream is in use tells the caller so.
func TestCallerSessionsBusyMessage(t *testing.T) {
	t.Parallel()
	e := &UpstreamError{Server: "files", Tool: "read", Outcome: OutcomeError, Err: fmt.Errorf("registry: call files: %w (32)", registry.ErrCallerSessionsBusy)}
	if msg := e.Message(); !strings.Contains(msg, `"files" is busy`) || !strings.Contains(msg, "try again") {
		t.Errorf("message %q", msg)
	}
}
