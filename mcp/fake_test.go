package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/store/storetest"
)

// toolFunc runs one fake upstream tool.
type toolFunc func(ctx context.Context, args json.RawMessage, opts registry.CallOptions) (json.RawMessage, error)

// fakeUpstreams is an in-memory Upstreams whose catalog and tool behaviour
// tests set.
type fakeUpstreams struct {
	// mu guards everything below.
	mu      sync.Mutex
	cat     *registry.Catalog
	tools   map[string]toolFunc // by "server/tool"
	subs    map[int]chan struct{}
	nextSub int
	calls   []string // "server/tool" of every call, in order
}

var _ Upstreams = (*fakeUpstreams)(nil)

func newFake(servers ...registry.ServerCatalog) *fakeUpstreams {
	f := &fakeUpstreams{tools: map[string]toolFunc{}, subs: map[int]chan struct{}{}}
	f.SetServers(servers...)
	return f
}

// SetServers replaces the catalog and tells subscribers.
func (f *fakeUpstreams) SetServers(servers ...registry.ServerCatalog) {
	f.mu.Lock()
	v := uint64(1)
	if f.cat != nil {
		v = f.cat.Version + 1
	}
	f.cat = &registry.Catalog{Servers: servers, Version: v}
	subs := make([]chan struct{}, 0, len(f.subs))
	for _, c := range f.subs {
		subs = append(subs, c)
	}
	f.mu.Unlock()
	for _, c := range subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (f *fakeUpstreams) Handle(server, tool string, fn toolFunc) {
	f.mu.Lock()
	f.tools[server+"/"+tool] = fn
	f.mu.Unlock()
}

func (f *fakeUpstreams) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeUpstreams) Catalog() *registry.Catalog {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cat
}

func (f *fakeUpstreams) Subscribe() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextSub
	f.nextSub++
	c := make(chan struct{}, 1)
	f.subs[id] = c
	return c, func() {
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
	}
}

func (f *fakeUpstreams) CallTool(ctx context.Context, server, tool string, args json.RawMessage, opts registry.CallOptions) (json.RawMessage, error) {
	f.mu.Lock()
	fn := f.tools[server+"/"+tool]
	f.calls = append(f.calls, server+"/"+tool)
	f.mu.Unlock()
	if fn == nil {
		return textResult(fmt.Sprintf("%s/%s called with %s", server, tool, args)), nil
	}
	return fn(ctx, args, opts)
}

func (f *fakeUpstreams) ReadResource(ctx context.Context, server, uri string) (json.RawMessage, error) {
	return json.RawMessage(fmt.Sprintf(`{"contents":[{"uri":%q,"mimeType":"text/plain","text":"from %s"}]}`, uri, server)), nil
}

func (f *fakeUpstreams) GetPrompt(ctx context.Context, server, name string, args map[string]string) (json.RawMessage, error) {
	return json.RawMessage(fmt.Sprintf(`{"description":"d","messages":[{"role":"user","content":{"type":"text","text":"%s/%s %s"}}]}`, server, name, args["who"])), nil
}

func (f *fakeUpstreams) Complete(ctx context.Context, server string, req mcpgo.CompleteRequest) (json.RawMessage, error) {
	return json.RawMessage(fmt.Sprintf(`{"completion":{"values":["%s:%s"],"total":1}}`, server, req.Params.Argument.Value)), nil
}

func textResult(s string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"content": []map[string]any{{"type": "text", "text": s}}})
	return b
}

// tool builds a catalog tool with a raw object.
func tool(server, name, schema string) registry.Tool {
	raw := fmt.Sprintf(`{"name":%q,"description":"%s tool","inputSchema":%s}`, name, name, schema)
	return registry.Tool{Server: server, Name: name, Description: name + " tool", Raw: json.RawMessage(raw)}
}

const objSchema = `{"type":"object","properties":{"path":{"type":"string"}}}`

// testPolicy is a policy engine on a fresh SQLite store.
func testPolicy(t testing.TB) *policy.Engine {
	t.Helper()
	e, err := policy.New(context.Background(), policy.Options{Store: storetest.NewStore(t),
		Admin: policy.NewAdminAuth("admin-key-for-tests-0123")})
	if err != nil {
		t.Fatalf("policy.New: %v", err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

// testKey creates a key and returns its secret and identity.
func testKey(t testing.TB, e *policy.Engine, in policy.KeyInput) (string, *policy.Identity) {
	t.Helper()
	_, secret, err := e.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", in.Name, err)
	}
	id, err := e.Authenticate(secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return secret, id
}

func testHub(t testing.TB, opts Options) *Hub {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// servedHub is a hub served over HTTP like the gateway does.
type servedHub struct {
	*Hub
	pol *policy.Engine
	url string // the MCP endpoint, <server>/mcp
}

// serveReady starts a hub with opts (with a new policy engine unless opts
// has one), serves it and waits until it lists every one of tools.
func serveReady(t *testing.T, opts Options, tools ...string) servedHub {
	t.Helper()
	if opts.Policy == nil {
		opts.Policy = testPolicy(t)
	}
	h := testHub(t, opts)
	url := serveHub(t, h, opts.Policy).URL + "/mcp"
	testkit.Eventually(t, 5*time.Second, "the hub lists "+strings.Join(tools, ", "), func() bool {
		m := h.cur.Load()
		for _, tool := range tools {
			if m.toolsByName[tool] == nil {
				return false
			}
		}
		return true
	})
	return servedHub{Hub: h, pol: opts.Policy, url: url}
}

// key creates a key with access to everything and returns its secret.
func (s servedHub) key(t *testing.T, name string) string {
	t.Helper()
	secret, _ := testKey(t, s.pol, policy.KeyInput{Name: name})
	return secret
}

// authenticate is the gateway's authentication, reduced: a bearer key to a
// policy.Identity in the request context.
func authenticate(e *policy.Engine, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := e.Authenticate(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(policy.WithIdentity(r.Context(), id)))
	})
}

// serveHub starts an HTTP server mounting the hub like the gateway does.
func serveHub(t testing.TB, h *Hub, e *policy.Engine) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/mcp", h.Handler(""))
	mux.Handle("/mcp/{toolset}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Handler(r.PathValue("toolset")).ServeHTTP(w, r)
	}))
	mux.Handle(SSEPath, h.SSEHandler())
	mux.Handle(SSEMessagePath, h.SSEHandler())
	srv := httptest.NewServer(authenticate(e, mux))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}
