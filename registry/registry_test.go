package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry/mcptest"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/secret"
	"github.com/junctionhq/junction/store/storetest"
)

// checkCatalog compares the registry's catalog of name with what srv
// serves, raw schemas byte for byte.
func checkCatalog(t *testing.T, r *Registry, name string, srv *mcptest.Server) {
	t.Helper()
	cat := serverCatalog(r, name)
	if cat == nil {
		t.Fatalf("%s not in catalog", name)
	}
	var names []string
	for _, tool := range cat.Tools {
		names = append(names, tool.Name)
		if tool.Server != name {
			t.Errorf("tool %s: server %q", tool.Name, tool.Server)
		}
		if srv == nil {
			continue
		}
		want, ok := srv.Tool(tool.Name)
		if !ok {
			t.Errorf("tool %s not served", tool.Name)
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(tool.Raw, &raw); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw["inputSchema"], want.RawInputSchema) {
			t.Errorf("tool %s inputSchema\n got %s\nwant %s", tool.Name, raw["inputSchema"], want.RawInputSchema)
		}
		if want.RawOutputSchema != nil && !bytes.Equal(raw["outputSchema"], want.RawOutputSchema) {
			t.Errorf("tool %s outputSchema\n got %s\nwant %s", tool.Name, raw["outputSchema"], want.RawOutputSchema)
		}
		if tool.Description != want.Description {
			t.Errorf("tool %s description %q", tool.Name, tool.Description)
		}
	}
	if srv != nil && !slices.Equal(names, srv.ToolNames()) {
		t.Errorf("tools %v, want %v", names, srv.ToolNames())
	}
	if cat.Prefix != name || cat.ProtocolVersion == "" {
		t.Errorf("prefix %q protocol %q", cat.Prefix, cat.ProtocolVersion)
	}
	if len(cat.Resources) != 1 || len(cat.Templates) != 1 || len(cat.Prompts) != 1 {
		t.Errorf("resources %d templates %d prompts %d", len(cat.Resources), len(cat.Templates), len(cat.Prompts))
	}
}

func call(t *testing.T, r *Registry, server, tool, args string) map[string]json.RawMessage {
	t.Helper()
	raw, err := r.CallTool(context.Background(), server, tool, json.RawMessage(args), CallOptions{})
	if err != nil {
		t.Fatalf("call %s/%s: %v", server, tool, err)
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	return res
}

// checkCalls runs the round-trip checks shared by every transport.
func checkCalls(t *testing.T, r *Registry, name string) {
	t.Helper()
	res := call(t, r, name, "echo", `{"message":"hello"}`)
	if !strings.Contains(string(res["content"]), `"text":"hello"`) {
		t.Errorf("echo: %s", res["content"])
	}
	res = call(t, r, name, "add", `{"a":2,"b":3}`)
	if string(res["structuredContent"]) != `{"sum":5}` {
		t.Errorf("add structuredContent %s", res["structuredContent"])
	}
	res = call(t, r, name, "structured", `{"query":{"text":"go","limit":2},"tags":["x"]}`)
	var out mcptest.StructuredOutput
	if err := json.Unmarshal(res["structuredContent"], &out); err != nil || out.Total != 2 || len(out.Results) != 2 || out.Results[0].Tags[0] != "x" {
		t.Errorf("structured: %s (%v)", res["structuredContent"], err)
	}
	res = call(t, r, name, "image", `{"color":"blue"}`)
	if !strings.Contains(string(res["content"]), `"type":"image"`) || !strings.Contains(string(res["content"]), `"mimeType":"image/png"`) {
		t.Errorf("image: %s", res["content"])
	}
	res = call(t, r, name, "fail", `{"message":"boom"}`)
	if string(res["isError"]) != "true" || !strings.Contains(string(res["content"]), "boom") {
		t.Errorf("fail: %v", res)
	}
	if _, err := r.CallTool(context.Background(), name, "fail", json.RawMessage(`{"kind":"protocol"}`), CallOptions{}); err == nil {
		t.Error("a JSON-RPC error came back as a result")
	}
	raw, err := r.ReadResource(context.Background(), name, mcptest.ReadmeURI)
	if err != nil || !strings.Contains(string(raw), `"contents"`) {
		t.Errorf("read resource: %s %v", raw, err)
	}
	raw, err = r.GetPrompt(context.Background(), name, "greet", map[string]string{"name": "Ada"})
	if err != nil || !strings.Contains(string(raw), "Ada") {
		t.Errorf("get prompt: %s %v", raw, err)
	}
}

func TestHTTPTransports(t *testing.T) {
	h := mcptest.StartHTTP(t)
	for _, tc := range []struct{ name, transport, url string }{
		{"web", TransportStreamableHTTP, h.URL},
		{"legacy", TransportSSE, h.SSEURL},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			r := newRegistry(t, newStore(t))
			mustCreate(t, r, ServerConfig{Name: tc.name, Transport: tc.transport, URL: tc.url})
			waitReady(t, r, tc.name)
			checkCatalog(t, r, tc.name, h.Server)
			checkCalls(t, r, tc.name)
		})
	}
}

func TestIncludeExclude(t *testing.T) {
	h := mcptest.StartHTTP(t)
	r := newRegistry(t, newStore(t))
	empty := ""
	mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: h.URL,
		IncludeTools: []string{"e*", "a*", "s*"}, ExcludeTools: []string{"*ured"}, Prefix: &empty})
	waitReady(t, r, "web")
	cat := serverCatalog(r, "web")
	var names []string
	for _, tool := range cat.Tools {
		names = append(names, tool.Name)
	}
	if want := []string{"add", "echo", "sleep"}; !slices.Equal(names, want) {
		t.Errorf("tools %v, want %v", names, want)
	}
	if cat.Prefix != "" {
		t.Errorf("prefix %q", cat.Prefix)
	}
	if st := status(r, "web"); st.Tools != 3 {
		t.Errorf("status tools %d", st.Tools)
	}
}

func TestProgress(t *testing.T) {
	h := mcptest.StartHTTP(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: h.URL})
	waitReady(t, r, "web")
	var mu sync.Mutex
	var got []float64
	raw, err := r.CallTool(context.Background(), "web", "sleep", json.RawMessage(`{"ms":400,"progress_interval_ms":50}`), CallOptions{
		ProgressToken: "caller-token",
		OnProgress: func(progress, total float64, message string) {
			mu.Lock()
			got = append(got, progress)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err, string(raw))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 {
		t.Errorf("progress notifications: %v", got)
	}
}

// testCancelAndTimeout checks that a cancelled and a timed-out call return
// promptly, stop upstream, and leave the server usable.
func testCancelAndTimeout(t *testing.T, r *Registry, name string, idle func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.CallTool(ctx, name, "sleep", json.RawMessage(`{"ms":60000}`), CallOptions{})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Errorf("cancelled call: %v after %s", err, time.Since(start))
	}
	start = time.Now()
	_, err = r.CallTool(context.Background(), name, "sleep", json.RawMessage(`{"ms":60000}`), CallOptions{Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("timed-out call: %v after %s", err, time.Since(start))
	} else if !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("unclear timeout error: %v", err)
	}
	if idle != nil {
		ictx, icancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer icancel()
		if err := idle(ictx); err != nil {
			t.Errorf("the upstream kept running the calls: %v", err)
		}
	}
	call(t, r, name, "echo", `{"message":"still here"}`)
	if st := status(r, name); st.State != StateReady {
		t.Errorf("status after cancellations: %+v", st)
	}
}

func TestCancelAndTimeoutHTTP(t *testing.T) {
	h := mcptest.StartHTTP(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: h.URL})
	waitReady(t, r, "web")
	testCancelAndTimeout(t, r, "web", h.Server.WaitIdle)
}

func TestStdio(t *testing.T) {
	bin := toolserver(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "local", Transport: TransportStdio, Command: bin, Args: []string{"--stdio", "--control-tools"}})
	waitReady(t, r, "local")
	ref, err := mcptest.NewServer(mcptest.WithControlTools())
	if err != nil {
		t.Fatal(err)
	}
	checkCatalog(t, r, "local", ref)
	checkCalls(t, r, "local")
	testCancelAndTimeout(t, r, "local", nil)

	// list_changed over stdio, through the control tools.
	call(t, r, "local", "control_add_tool", `{"name":"added"}`)
	testkit.Eventually(t, 5*time.Second, "added tool", func() bool {
		cat := serverCatalog(r, "local")
		return cat != nil && slices.ContainsFunc(cat.Tools, func(tool Tool) bool { return tool.Name == "added" })
	})
}

// childPIDs returns the pids of the processes whose parent is this process
// and whose command is bin.
func stdioPID(t *testing.T, r *Registry, name string) int {
	t.Helper()
	u, ok := r.lookup(name)
	if !ok {
		t.Fatal("no upstream")
	}
	c, err := u.ready()
	if err != nil {
		t.Fatal(err)
	}
	return c.proc.cmd.Process.Pid
}

func TestStdioCrashRestarts(t *testing.T) {
	bin := toolserver(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "local", Transport: TransportStdio, Command: bin, Args: []string{"--stdio"}})
	waitReady(t, r, "local")
	changes, unsubscribe := r.Subscribe()
	defer unsubscribe()
	for len(changes) > 0 {
		<-changes
	}
	pid := stdioPID(t, r, "local")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after the crash")
	}
	if serverCatalog(r, "local") != nil {
		t.Error("the crashed server is still in the catalog")
	}
	if _, err := r.CallTool(context.Background(), "local", "echo", nil, CallOptions{}); err == nil {
		t.Error("call to a crashed server succeeded")
	} else if ue := (*UnavailableError)(nil); !errors.As(err, &ue) {
		t.Errorf("call to a crashed server: %v", err)
	}
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after the restart")
	}
	waitReady(t, r, "local")
	if serverCatalog(r, "local") == nil {
		t.Fatal("the restarted server is not in the catalog")
	}
	if st := status(r, "local"); st.Restarts != 1 {
		t.Errorf("restarts %d", st.Restarts)
	}
	if newPID := stdioPID(t, r, "local"); newPID == pid {
		t.Error("same pid after restart")
	}
	call(t, r, "local", "echo", `{"message":"back"}`)
}

func TestCloseKillsProcessGroup(t *testing.T) {
	bin := toolserver(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "local", Transport: TransportStdio, Command: bin, Args: []string{"--stdio"}})
	waitReady(t, r, "local")
	pid := stdioPID(t, r, "local")
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Close: %v", pid, err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Errorf("second close: %v", err)
	}
	if len(r.Catalog().Servers) != 0 {
		t.Error("catalog not empty after close")
	}
}

func TestDownAtStartup(t *testing.T) {
	h := mcptest.StartHTTP(t)
	// An upstream that accepts and never answers.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })

	st := newStore(t)
	seed := newRegistry(t, st)
	if err := seed.SyncConfig(context.Background(), []ServerConfig{
		{Name: "dead", Transport: TransportStreamableHTTP, URL: "http://127.0.0.1:1/mcp"},
		{Name: "hang", Transport: TransportStreamableHTTP, URL: hang.URL, ConnectTimeout: Duration(time.Second)},
		{Name: "live", Transport: TransportStreamableHTTP, URL: h.URL},
	}); err != nil {
		t.Fatal(err)
	}
	if err := seed.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	r := newRegistry(t, st)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("New took %s", d)
	}
	waitReady(t, r, "live")
	testkit.Eventually(t, 5*time.Second, "dead failed", func() bool { return status(r, "dead").State == StateFailed })
	testkit.Eventually(t, 5*time.Second, "hang failed", func() bool { return status(r, "hang").State == StateFailed })
	if st := status(r, "dead"); st.Error == "" {
		t.Error("no error for the dead server")
	}
	start = time.Now()
	_, err := r.CallTool(context.Background(), "hang", "echo", nil, CallOptions{})
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.Server != "hang" || time.Since(start) > 100*time.Millisecond {
		t.Errorf("call to a hanging server: %v", err)
	}
	if _, err := r.CallTool(context.Background(), "nope", "echo", nil, CallOptions{}); !errors.As(err, &ue) || ue.State != "" {
		t.Errorf("call to an unknown server: %v", err)
	}
	call(t, r, "live", "echo", `{"message":"ok"}`)
	if names := catalogNames(r); !slices.Equal(names, []string{"live"}) {
		t.Errorf("catalog servers %v", names)
	}
}

func catalogNames(r *Registry) []string {
	var out []string
	for _, s := range r.Catalog().Servers {
		out = append(out, s.Name)
	}
	return out
}

func TestListChanged(t *testing.T) {
	h := mcptest.StartHTTP(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: h.URL})
	waitReady(t, r, "web")
	v := r.Catalog().Version
	if err := h.Server.AddTools(mcptest.EchoTool("extra")); err != nil {
		t.Fatal(err)
	}
	has := func(name string) bool {
		cat := serverCatalog(r, "web")
		return cat != nil && slices.ContainsFunc(cat.Tools, func(tool Tool) bool { return tool.Name == name })
	}
	testkit.Eventually(t, 5*time.Second, "extra tool", func() bool { return has("extra") })
	if r.Catalog().Version <= v {
		t.Error("version did not increase")
	}
	if err := h.Server.RemoveTools("extra", "echo"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "tools removed", func() bool { return !has("extra") && !has("echo") })
	checkCatalog(t, r, "web", h.Server)
	if err := r.Refresh(context.Background(), "web"); err != nil {
		t.Errorf("refresh: %v", err)
	}
}

func TestCRUD(t *testing.T) {
	h := mcptest.StartHTTP(t)
	st := newStore(t)
	r := newRegistry(t, st)
	ctx := context.Background()
	info := mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: h.URL,
		Headers: map[string]string{"X-Api-Key": "header-secret"}})
	if info.Source != store.SourceAPI || !slices.Equal(info.Headers, []string{"X-Api-Key"}) || info.Bearer || info.Timeout != Duration(DefaultTimeout) {
		t.Errorf("created: %+v", info)
	}
	if b, _ := json.Marshal(r.Servers()); strings.Contains(string(b), "header-secret") {
		t.Error("Servers shows a header value")
	}
	if _, err := r.CreateServer(ctx, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: h.URL}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := r.CreateServer(ctx, ServerConfig{Name: "bad name", Transport: "carrier-pigeon"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid: %v", err)
	} else if ie := (*InvalidError)(nil); !errors.As(err, &ie) || len(ie.Problems) != 2 {
		t.Errorf("problems: %v", err)
	}
	waitReady(t, r, "web")
	info, err := r.UpdateServer(ctx, "web", json.RawMessage(`{"timeout":"5s","exclude_tools":["large"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if info.Timeout != Duration(5*time.Second) || !slices.Equal(info.Headers, []string{"X-Api-Key"}) {
		t.Errorf("updated: %+v", info)
	}
	u, _ := r.lookup("web")
	if u.def.cfg.Headers["X-Api-Key"] != "header-secret" {
		t.Error("patch lost the header value")
	}
	waitReady(t, r, "web")
	if cat := serverCatalog(r, "web"); cat == nil || slices.ContainsFunc(cat.Tools, func(tool Tool) bool { return tool.Name == "large" }) {
		t.Error("exclude_tools not applied after update")
	}
	if _, err := r.UpdateServer(ctx, "web", json.RawMessage(`{"name":"other"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("rename: %v", err)
	}
	if _, err := r.UpdateServer(ctx, "web", json.RawMessage(`{"bogus":1}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := r.UpdateServer(ctx, "nope", json.RawMessage(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("update unknown: %v", err)
	}

	// A second Registry on the same store reads the same definitions.
	r2 := newRegistry(t, st)
	if info, err := r2.Server("web"); err != nil || info.Timeout != Duration(5*time.Second) {
		t.Errorf("reloaded: %+v %v", info, err)
	}
	waitReady(t, r2, "web")

	if err := r.DeleteServer(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Server("web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if serverCatalog(r, "web") != nil {
		t.Error("deleted server still in the catalog")
	}
	if err := r.DeleteServer(ctx, "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	testkit.Eventually(t, 2*time.Second, "delete on the other registry", func() bool { _, err := r2.Server("web"); return err != nil })
}

func TestSyncConfig(t *testing.T) {
	h := mcptest.StartHTTP(t)
	st := newStore(t)
	r := newRegistry(t, st)
	ctx := context.Background()
	file := []ServerConfig{{Name: "files", Transport: TransportStreamableHTTP, URL: h.URL, Bearer: "file-token"}}
	if err := r.SyncConfig(ctx, file); err != nil {
		t.Fatal(err)
	}
	info, err := r.Server("files")
	if err != nil || info.Source != store.SourceFile || !info.Bearer {
		t.Fatalf("file server: %+v %v", info, err)
	}
	if _, err := r.UpdateServer(ctx, "files", json.RawMessage(`{"disabled":true}`)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("patch a file server: %v", err)
	}
	if err := r.DeleteServer(ctx, "files"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("delete a file server: %v", err)
	}
	waitReady(t, r, "files")
	before, _ := st.GetResource(ctx, kindServer, "files")
	// The same file again changes nothing: same spec bytes, same connection.
	if err := r.SyncConfig(ctx, file); err != nil {
		t.Fatal(err)
	}
	after, _ := st.GetResource(ctx, kindServer, "files")
	if !bytes.Equal(before.Spec, after.Spec) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Error("an unchanged file server was rewritten")
	}
	if status(r, "files").State != StateReady {
		t.Error("an unchanged file server was reconnected")
	}
	// An API server survives a sync that drops the file server; a file
	// server may not take an API server's name.
	mustCreate(t, r, ServerConfig{Name: "api", Transport: TransportStreamableHTTP, URL: h.URL})
	if err := r.SyncConfig(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Server("files"); !errors.Is(err, ErrNotFound) {
		t.Errorf("file server removed from the file is still there: %v", err)
	}
	if _, err := r.Server("api"); err != nil {
		t.Errorf("api server lost: %v", err)
	}
	if err := r.SyncConfig(ctx, []ServerConfig{{Name: "api", Transport: TransportStreamableHTTP, URL: h.URL}}); !errors.Is(err, ErrConflict) {
		t.Errorf("file server shadowing an api server: %v", err)
	}
	err = r.SyncConfig(ctx, []ServerConfig{{Name: "x", Transport: TransportStdio}, {Name: "x", Transport: TransportSSE, URL: "ftp://x"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "servers[0].command") || !strings.Contains(err.Error(), "servers[1].url") || !strings.Contains(err.Error(), "servers[1].name") {
		t.Errorf("invalid config: %v", err)
	}
	// Disabled servers are registered but not connected.
	if err := r.SyncConfig(ctx, []ServerConfig{{Name: "off", Transport: TransportStreamableHTTP, URL: h.URL, Disabled: true}}); err != nil {
		t.Fatal(err)
	}
	if s := status(r, "off"); s.State != StateDisabled {
		t.Errorf("disabled: %+v", s)
	}
	var ue *UnavailableError
	if _, err := r.CallTool(ctx, "off", "echo", nil, CallOptions{}); !errors.As(err, &ue) || ue.State != StateDisabled {
		t.Errorf("call a disabled server: %v", err)
	}
}

// TestSecretsEncrypted checks that credentials are encrypted in the store,
// sent to the upstream, and that the client's own token never is.
func TestSecretsEncrypted(t *testing.T) {
	h := mcptest.StartHTTP(t)
	var mu sync.Mutex
	var auth, apiKey []string
	target, _ := url.Parse(strings.TrimSuffix(h.URL, mcptest.StreamablePath))
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxyTransport := &http.Transport{}
	proxy.Transport = proxyTransport
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		auth = append(auth, req.Header.Get("Authorization"))
		apiKey = append(apiKey, req.Header.Get("X-Api-Key"))
		mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)
	t.Cleanup(proxyTransport.CloseIdleConnections)

	db := storetest.SQLite(t)
	st := storetest.OpenStore(t, db)
	r := newRegistry(t, st)
	mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: front.URL + "/mcp",
		Bearer: "bearer-secret-value", Headers: map[string]string{"X-Api-Key": "header-secret-value"},
		ConnectTimeout: Duration(3 * time.Second),
	})
	waitReady(t, r, "web")
	call(t, r, "web", "echo", `{"message":"hi"}`)

	var spec string
	if err := db.Raw.QueryRow(`SELECT spec FROM resources WHERE kind = 'server' AND id = 'web'`).Scan(&spec); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(spec, "bearer-secret-value") || strings.Contains(spec, "header-secret-value") || !strings.Contains(spec, secret.SealedPrefix) {
		t.Errorf("stored spec holds a secret in clear: %s", spec)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) == 0 {
		t.Fatal("no request reached the upstream")
	}
	for i := range auth {
		if auth[i] != "Bearer bearer-secret-value" || apiKey[i] != "header-secret-value" {
			t.Fatalf("request %d: Authorization %q X-Api-Key %q", i, auth[i], apiKey[i])
		}
	}

	// With another key the definition is kept but cannot connect.
	other, err := New(context.Background(), Options{Store: st, SecretKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	if s := status(other, "web"); s.State != StateFailed || !strings.Contains(s.Error, "decrypt") {
		t.Errorf("wrong key: %+v", s)
	}
}

// testReplicas checks that a server created through one Registry appears,
// connected, in another on the same store.
func testReplicas(t *testing.T, st1, st2 *store.Store) {
	h := mcptest.StartHTTP(t)
	r1 := newRegistry(t, st1)
	r2 := newRegistry(t, st2)
	changes, unsubscribe := r2.Subscribe()
	defer unsubscribe()
	mustCreate(t, r1, ServerConfig{Name: "shared", Transport: TransportStreamableHTTP, URL: h.URL})
	start := time.Now()
	testkit.Eventually(t, time.Second, "server on the other replica", func() bool { _, err := r2.Server("shared"); return err == nil })
	t.Logf("replicated in %s", time.Since(start))
	waitReady(t, r2, "shared")
	select {
	case <-changes:
	default:
		t.Error("no catalog notification on the other replica")
	}
	call(t, r2, "shared", "echo", `{"message":"replica"}`)
	if _, err := r1.UpdateServer(context.Background(), "shared", json.RawMessage(`{"disabled":true}`)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, "disable on the other replica", func() bool { return status(r2, "shared").State == StateDisabled })
}

func TestReplicasSQLite(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	testReplicas(t, st, st)
}

func TestReplicasPostgres(t *testing.T) {
	t.Parallel()
	db := storetest.PostgresFromEnv(t)(t)
	testReplicas(t, storetest.OpenStore(t, db), storetest.OpenStore(t, db))
}

func TestSubscribeCoalesces(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, newStore(t))
	ch, unsubscribe := r.Subscribe()
	var n atomic.Int32
	for range 5 {
		r.rebuildCatalog()
	}
	for len(ch) > 0 {
		<-ch
		n.Add(1)
	}
	if n.Load() != 1 {
		t.Errorf("%d notifications for a burst", n.Load())
	}
	unsubscribe()
	unsubscribe()
	r.rebuildCatalog()
	if len(ch) != 0 {
		t.Error("notified after unsubscribe")
	}
}
