package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/registry/mcptest"
)

// Secrets of the keys the reload tests declare in their files.
const (
	reloadAliceKey = "jk-reload-alice-0123456789abcdef"
	reloadBobKey   = "jk-reload-bob-0123456789abcdefgh"
)

// reloadFile is a configuration file the reload tests rewrite. Its
// sections are switched on by the fields of reloadDoc.
var reloadFile = template.Must(template.New("config").Parse(`
listen: {{.Listen}}
providers:
  - name: mock
    base_url: {{.Mock}}/v1
    keys: [{name: main, value: sk-main}]
    models: [gpt-4o-mini]
{{- if .V2}}
  - name: mock2
    base_url: {{.Mock}}/v1
    keys: [{value: sk-two}]
    models: [gpt-4o]
models:
  - name: smart
    targets: [{model: mock2/gpt-4o}]
teams:
  - name: red
  - name: blue
keys:
  - name: bob
    value: ` + reloadBobKey + `
    team: blue
policies:
  - ["team:blue", "*", "model:mock/*", "use", "deny"]
prices:
  - {model: mock2/gpt-4o, input_per_mtok: 2.5, output_per_mtok: 10}
servers:
  - name: web2
    transport: streamable-http
    url: {{.Web2}}
toolsets:
  - name: ro
    tools: ["web2/*"]
cache:
  mode: exact
{{- else}}
models:
  - name: fast
    targets: [{model: mock/gpt-4o-mini}]
teams:
  - name: red
keys:
  - name: alice
    value: ` + reloadAliceKey + `
    team: red
servers:
  - name: web
    transport: streamable-http
    url: {{.Web}}
toolsets:
  - name: ro
    tools: ["web/*"]
{{- end}}
{{.Extra}}
`))

// reloadDoc fills reloadFile.
type reloadDoc struct {
	Listen, Mock, Web, Web2 string
	V2                      bool
	Extra                   string // appended as is (a bad file's problems)
}

// reloadSetup is a gateway started from a configuration file, with the
// upstreams that file's versions name.
type reloadSetup struct {
	*testGateway
	path string
	doc  reloadDoc
	mock *llmtest.Server
}

// startFromFile writes version 1 of the file and starts a gateway from it
// that reloads it on demand.
func startFromFile(t *testing.T) *reloadSetup {
	t.Helper()
	mock := llmtest.NewServer(llmtest.WithSeed(7))
	t.Cleanup(mock.Close)
	web := mcptest.StartHTTP(t, mcptest.WithName("web"))
	web2 := mcptest.StartHTTP(t, mcptest.WithName("web2"))
	s := &reloadSetup{path: filepath.Join(t.TempDir(), "junction.yaml"), mock: mock,
		doc: reloadDoc{Listen: "127.0.0.1:0", Mock: mock.URL, Web: web.URL, Web2: web2.URL}}
	s.write(t, s.doc)
	dataDir := t.TempDir()
	load := func() (*Config, error) {
		cfg, err := LoadConfig(s.path, func(string) (string, bool) { return "", false })
		if err != nil {
			return nil, err
		}
		cfg.DataDir, cfg.AdminKey = dataDir, testAdminKey // the serve command's overrides
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	g, err := New(context.Background(), *cfg, Options{Logger: zerolog.New(logs), Version: "test", Terminal: io.Discard, LoadConfig: load})
	if err != nil {
		t.Fatal(err)
	}
	s.testGateway = serveGateway(t, g, logs, 10*time.Second)
	return s
}

func (s *reloadSetup) write(t *testing.T, doc reloadDoc) {
	t.Helper()
	var b strings.Builder
	if err := reloadFile.Execute(&b, doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reloadNames lists the "name" of each entry of an admin list response.
func reloadNames(t *testing.T, g *testGateway, path string) []string {
	t.Helper()
	resp, body := adminDo(t, http.MethodGet, g.URL+path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var l struct {
		Data []struct {
			Name   string `json:"name"`
			Source string `json:"source"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	var out []string
	for _, e := range l.Data {
		out = append(out, e.Name+"("+e.Source+")")
	}
	slices.Sort(out)
	return out
}

// reloadCallerStatus is the status of GET /v1/key with secret.
func reloadCallerStatus(t *testing.T, g *testGateway, secret string) int {
	t.Helper()
	resp, _ := get(t, g.URL+"/v1/key", "Authorization", "Bearer "+secret)
	return resp.StatusCode
}

// reloadChat sends a non-streamed chat completion for model with secret.
func reloadChat(t *testing.T, g *testGateway, secret, model string) (int, string) {
	t.Helper()
	req := mustRequest(t, http.MethodPost, g.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, body := do(t, req)
	return resp.StatusCode, string(body)
}

// TestReloadAppliesFileChanges: editing the file and reloading adds,
// changes and removes the file-managed teams, keys, policies, prices,
// providers, model aliases, servers and toolsets and turns the cache on,
// all visible through the API, while a stream that started before (on an
// alias and a provider the reload removes and changes) runs to its end.
func TestReloadAppliesFileChanges(t *testing.T) {
	s := startFromFile(t)
	if err := s.mock.SetBehavior("sk-main", llmtest.Behavior{ReplyTokens: 60, ChunkDelay: 40 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if got := reloadCallerStatus(t, s.testGateway, reloadAliceKey); got != http.StatusOK {
		t.Fatalf("alice before the reload: %d", got)
	}
	stream := testkit.OpenChatStream(t, s.URL, reloadAliceKey, "fast")

	v2 := s.doc
	v2.V2 = true
	s.write(t, v2)
	report, err := s.Reload(context.Background())
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if s.mock.InFlight() == 0 {
		t.Fatal("the stream ended before the reload was applied; it proves nothing")
	}
	want := []string{
		`teams: added "blue"`,
		`keys: added "bob"; removed "alice"`,
		`prices: added "mock2/gpt-4o"`,
		`policies: added "team:blue, *, model:mock/*, use, deny"`,
		`providers: added "mock2"`,
		`models: added "smart"; removed "fast"`,
		`servers: added "web2"; removed "web"`,
		`toolsets: changed "ro"`,
		`cache: settings changed`,
	}
	if !slices.Equal(report.Changed, want) || len(report.NeedsRestart) != 0 {
		t.Errorf("report: changed %q, needs restart %q; want changed %q", report.Changed, report.NeedsRestart, want)
	}

	// The stream that was running finishes whole.
	events := testkit.ReadSSEData(stream)
	if len(events) < 10 || events[len(events)-1] != "[DONE]" {
		t.Errorf("the stream in flight during the reload: %d events, last %q", len(events), events[len(events)-1:])
	}

	// Keys and teams.
	if got := reloadCallerStatus(t, s.testGateway, reloadAliceKey); got != http.StatusUnauthorized {
		t.Errorf("alice after her key was removed: %d", got)
	}
	if got := reloadCallerStatus(t, s.testGateway, reloadBobKey); got != http.StatusOK {
		t.Errorf("bob after his key was added: %d", got)
	}
	if got := reloadNames(t, s.testGateway, "/admin/v1/teams"); !slices.Equal(got, []string{"blue(file)", "red(file)"}) {
		t.Errorf("teams %v", got)
	}
	if got := reloadNames(t, s.testGateway, "/admin/v1/keys"); !slices.Equal(got, []string{"bob(file)"}) {
		t.Errorf("keys %v", got)
	}
	// Aliases, providers, and the new policy (team blue may not use mock/*).
	if code, body := reloadChat(t, s.testGateway, reloadBobKey, "smart"); code != http.StatusOK {
		t.Errorf("the added alias: %d %s", code, body)
	}
	if code, body := reloadChat(t, s.testGateway, reloadBobKey, "fast"); code != http.StatusNotFound {
		t.Errorf("the removed alias: %d %s", code, body)
	}
	if code, body := reloadChat(t, s.testGateway, reloadBobKey, "mock/gpt-4o-mini"); code != http.StatusForbidden {
		t.Errorf("a model the added policy denies: %d %s", code, body)
	}
	if got := reloadNames(t, s.testGateway, "/admin/v1/providers"); !slices.Equal(got, []string{"mock(file)", "mock2(file)"}) {
		t.Errorf("providers %v", got)
	}
	if p, ok := s.Policy().Prices().Lookup("mock2/gpt-4o"); !ok || p.Input != 2.5 {
		t.Errorf("the added price: %+v %v", p, ok)
	}
	// Servers and the toolset over them.
	if got := reloadNames(t, s.testGateway, "/admin/v1/servers"); !slices.Equal(got, []string{"web2(file)"}) {
		t.Errorf("servers %v", got)
	}
	c := mcpConnect(t, s.URL+"/mcp/ro", reloadBobKey, mcpEras[0])
	testkit.Eventually(t, 10*time.Second, "the changed toolset to list web2's tools", func() bool {
		got := mcptest.ToolNames(t, c)
		return has(got, "web2__echo") && !hasPrefix(got, "web__")
	})
	// The cache.
	resp, body := adminDo(t, http.MethodGet, s.URL+"/admin/v1/cache", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"enabled":true`) {
		t.Errorf("cache after it was turned on: %d %s", resp.StatusCode, body)
	}
	for range 2 {
		reloadChat(t, s.testGateway, reloadBobKey, "smart")
	}
	if st := s.cache.Load().Stats(context.Background()); st.Exact.Hits == 0 {
		t.Errorf("the new cache served no hit: %+v", st)
	}

	// Reloading the same file again changes nothing.
	report, err = s.Reload(context.Background())
	if err != nil || len(report.Changed) != 0 {
		t.Errorf("a second reload: %+v %v", report, err)
	}
}

// TestReloadRefusesABadFileAndKeepsRunning: a file with several problems
// changes nothing and the error lists every one of them, through Reload and
// through POST /admin/v1/reload (422, each problem in "problems").
func TestReloadRefusesABadFileAndKeepsRunning(t *testing.T) {
	t.Parallel()
	s := startFromFile(t)
	bad := s.doc
	bad.V2 = true
	bad.Extra = "surprise: true\nmcp: {allowed_origins: 3}\n"
	s.write(t, bad)
	_, err := s.Reload(context.Background())
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 ||
		!strings.Contains(ce.Error(), "surprise: unknown key") || !strings.Contains(ce.Error(), "mcp.allowed_origins") {
		t.Fatalf("Reload of a bad file: %v", err)
	}

	// More problems, found by validation, all at once.
	bad.Extra = ""
	s.write(t, bad)
	doc, _ := os.ReadFile(s.path)
	broken := strings.Replace(string(doc), "value: "+reloadBobKey, "value: jk-short", 1)
	broken = strings.Replace(broken, `tools: ["web2/*"]`, `tools: ["no-slash"]`, 1)
	broken = strings.Replace(broken, "mode: exact", "mode: sometimes", 1)
	if err := os.WriteFile(s.path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, body := adminDo(t, http.MethodPost, s.URL+"/admin/v1/reload", nil)
	var out struct {
		Error    errorDetail
		Problems []string
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusUnprocessableEntity || out.Error.Code != "invalid_config" || len(out.Problems) != 3 {
		t.Fatalf("POST /admin/v1/reload with a bad file: %d %s", resp.StatusCode, body)
	}
	for i, want := range []string{"keys[0].value", "toolsets[0].tools[0]", "cache"} {
		if !slices.ContainsFunc(out.Problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("problem %d about %s missing: %q", i, want, out.Problems)
		}
	}

	// Still the first version in force.
	if got := reloadCallerStatus(t, s.testGateway, reloadAliceKey); got != http.StatusOK {
		t.Errorf("alice after refused reloads: %d", got)
	}
	if code, body := reloadChat(t, s.testGateway, reloadAliceKey, "fast"); code != http.StatusOK {
		t.Errorf("the alias after refused reloads: %d %s", code, body)
	}
	if got := reloadNames(t, s.testGateway, "/admin/v1/servers"); !slices.Equal(got, []string{"web(file)"}) {
		t.Errorf("servers after refused reloads: %v", got)
	}
}

// TestReloadRefusesNamesTakenThroughTheAPI: a file that declares a team
// named like one made through the admin API is refused before anything
// changes (not half-applied), naming the entry.
func TestReloadRefusesNamesTakenThroughTheAPI(t *testing.T) {
	t.Parallel()
	s := startFromFile(t)
	if resp, body := adminDo(t, http.MethodPost, s.URL+"/admin/v1/teams", map[string]any{"name": "blue"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create team: %d %s", resp.StatusCode, body)
	}
	v2 := s.doc
	v2.V2 = true
	s.write(t, v2)
	_, err := s.Reload(context.Background())
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0], `teams[1].name: "blue" is taken by a team made through the admin API`) {
		t.Fatalf("Reload: %v", err)
	}
	if got := reloadCallerStatus(t, s.testGateway, reloadBobKey); got != http.StatusUnauthorized {
		t.Errorf("a key of the refused file was added: %d", got)
	}
	if got := reloadNames(t, s.testGateway, "/admin/v1/providers"); !slices.Equal(got, []string{"mock(file)"}) {
		t.Errorf("providers of the refused file: %v", got)
	}
}

// TestReloadThroughTheAdminAPI: POST /admin/v1/reload needs the admin key,
// answers the report, and names the settings that need a restart without
// applying them.
func TestReloadThroughTheAdminAPI(t *testing.T) {
	s := startFromFile(t)
	req := mustRequest(t, http.MethodPost, s.URL+"/admin/v1/reload", nil)
	req.Header.Set("Authorization", "Bearer "+reloadAliceKey)
	if resp, _ := do(t, req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reload with a virtual key: %d", resp.StatusCode)
	}

	v2 := s.doc
	v2.V2 = true
	v2.Listen = "127.0.0.1:1"
	v2.Extra = "http: {idle_timeout: 1m}\n"
	s.write(t, v2)
	resp, body := adminDo(t, http.MethodPost, s.URL+"/admin/v1/reload", nil)
	var report ReloadReport
	_ = json.Unmarshal(body, &report)
	if resp.StatusCode != http.StatusOK || !slices.Equal(report.NeedsRestart, []string{"listen", "http"}) ||
		!slices.Contains(report.Changed, `keys: added "bob"; removed "alice"`) {
		t.Fatalf("POST /admin/v1/reload: %d %s", resp.StatusCode, body)
	}
	if got := reloadCallerStatus(t, s.testGateway, reloadBobKey); got != http.StatusOK {
		t.Errorf("bob after the reload: %d", got)
	}
}

// TestConcurrentReloadsAreSerialised: reloads started at once all succeed
// and leave the file's state in force; a reload after shutdown has begun is
// refused.
func TestConcurrentReloadsAreSerialised(t *testing.T) {
	t.Parallel()
	s := startFromFile(t)
	v2 := s.doc
	v2.V2 = true
	s.write(t, v2)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := s.Reload(context.Background()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent reload: %v", err)
	}
	if got := reloadNames(t, s.testGateway, "/admin/v1/keys"); !slices.Equal(got, []string{"bob(file)"}) {
		t.Errorf("keys after concurrent reloads: %v", got)
	}

	s.stopReloads()
	if _, err := s.Reload(context.Background()); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("reload during shutdown: %v", err)
	}
}

// TestReloadUnavailableWithoutLoader: a gateway built without a loader
// says so instead of reloading.
func TestReloadUnavailableWithoutLoader(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	resp, body := adminDo(t, http.MethodPost, g.URL+"/admin/v1/reload", nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "reload_unavailable") {
		t.Errorf("reload without a loader: %d %s", resp.StatusCode, body)
	}
}
