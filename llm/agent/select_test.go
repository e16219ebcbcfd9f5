package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/mcp"
)

// newToolSelector returns a selector over emb (nil: lexical) with the
// built-in lexical fallback, as llm builds it.
func newToolSelector(emb Embedder) *Selector {
	return NewSelector(emb, cache.NewLexical(0))
}

// toolCatalogServer describes one generated upstream: its tools are every verb
// applied to every object, with descriptions in the style of real MCP
// servers.
type toolCatalogServer struct {
	name, product string
	objects       []string
	params        []string
}

var toolCatalogServers = []toolCatalogServer{
	{"github", "a GitHub repository", []string{"issue", "pull_request", "branch", "release", "comment", "label"}, []string{"owner", "repo"}},
	{"gitlab", "a GitLab project", []string{"merge_request", "pipeline", "issue", "tag", "runner", "wiki_page"}, []string{"project_id"}},
	{"filesystem", "the local file system", []string{"file", "directory", "symlink", "permission", "archive", "file_metadata"}, []string{"path"}},
	{"weather", "the weather service", []string{"forecast", "alert", "station", "observation", "air_quality", "radar_map"}, []string{"location"}},
	{"slack", "a Slack workspace", []string{"message", "channel", "user_group", "reminder", "reaction", "bookmark"}, []string{"workspace"}},
	{"jira", "a Jira project", []string{"ticket", "sprint", "epic", "board", "worklog", "version"}, []string{"project_key"}},
	{"postgres", "a PostgreSQL database", []string{"table", "index", "query_plan", "role", "schema", "backup"}, []string{"database"}},
	{"calendar", "a Google Calendar", []string{"event", "attendee", "calendar", "availability", "room", "recurring_event"}, []string{"calendar_id"}},
	{"email", "a Gmail mailbox", []string{"email", "draft", "mail_label", "thread", "attachment", "filter"}, []string{"mailbox"}},
	{"kubernetes", "a Kubernetes cluster", []string{"pod", "deployment", "service", "namespace", "config_map", "secret"}, []string{"context"}},
}

var toolCatalogVerbs = []struct{ verb, phrase string }{
	{"create", "Create a new %s in %s."},
	{"get", "Get the details of one %s from %s by its id."},
	{"list", "List the %ss of %s, with paging."},
	{"update", "Update the fields of an existing %s in %s."},
	{"delete", "Delete a %s from %s permanently."},
}

// toolCatalogOverrides gives some tools the hand-written descriptions of the
// real servers they imitate.
var toolCatalogOverrides = map[string]string{
	"weather__get_forecast": "Get the weather forecast (temperature, rain, wind) for a city or coordinates for the next days.",
	"filesystem__get_file":  "Read the complete contents of a file from the file system as text.",
	"github__create_issue":  "Open a new issue in a GitHub repository with a title, a body, labels and assignees.",
	"slack__create_message": "Post a message to a Slack channel or send a direct message to a user.",
	"postgres__list_table":  "List the tables of a PostgreSQL database schema with their row counts.",
}

// generateToolCatalog returns n tools in public-name order: 300 distinct
// ones from toolCatalogServers, repeated on numbered copies of the servers
// beyond that.
func generateToolCatalog(n int) []mcp.ToolInfo {
	var tools []mcp.ToolInfo
	for copyNo := 0; len(tools) < n; copyNo++ {
		for _, srv := range toolCatalogServers {
			server := srv.name
			if copyNo > 0 {
				server = fmt.Sprintf("%s%d", srv.name, copyNo+1)
			}
			for _, obj := range srv.objects {
				for _, v := range toolCatalogVerbs {
					if len(tools) == n {
						break
					}
					tool := v.verb + "_" + obj
					name := server + "__" + tool
					desc := fmt.Sprintf(v.phrase, strings.ReplaceAll(obj, "_", " "), srv.product)
					if d, ok := toolCatalogOverrides[srv.name+"__"+tool]; ok {
						desc = d
					}
					props := make([]string, 0, 3)
					for _, p := range append(slices.Clone(srv.params), obj+"_id") {
						props = append(props, fmt.Sprintf(`%q:{"type":"string"}`, p))
					}
					schema := `{"type":"object","properties":{` + strings.Join(props, ",") + `}}`
					tools = append(tools, mcp.ToolInfo{Name: name, Server: server, Tool: tool, Description: desc,
						InputSchema: json.RawMessage(schema)})
				}
			}
		}
	}
	slices.SortFunc(tools, func(a, b mcp.ToolInfo) int { return strings.Compare(a.Name, b.Name) })
	return tools
}

// countingToolEmbedder wraps an embedder and counts calls and embedded texts.
type countingToolEmbedder struct {
	cache.Embedder
	name   string
	fail   atomic.Bool // every call fails while set
	delay  time.Duration
	calls  atomic.Int64
	texts  atomic.Int64
	mu     sync.Mutex     // guards byText
	byText map[string]int // how often each text was embedded
}

func newCountingToolEmbedder(name string) *countingToolEmbedder {
	return &countingToolEmbedder{Embedder: cache.NewLexical(0), name: name, byText: make(map[string]int)}
}

func (c *countingToolEmbedder) Name() string { return c.name }

func (c *countingToolEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.calls.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	if c.fail.Load() {
		return nil, errors.New("embedding service unavailable")
	}
	c.texts.Add(int64(len(texts)))
	c.mu.Lock()
	for _, t := range texts {
		c.byText[t]++
	}
	c.mu.Unlock()
	return c.Embedder.Embed(ctx, texts)
}

// constantToolEmbedder embeds every text as the same vector, so every score ties.
type constantToolEmbedder struct{}

func (constantToolEmbedder) Name() string { return "constant" }
func (constantToolEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = []float32{1, 0, 0}
	}
	return out, nil
}

func toolNames(tools []mcp.ToolInfo) []string {
	out := make([]string, len(tools))
	for i, t := range tools {
		out[i] = t.Name
	}
	return out
}

// searchToolsLines parses a Search answer into its header and its tool lines.
func searchToolsLines(t *testing.T, text string) (string, []toolSearchResult) {
	t.Helper()
	lines := strings.Split(text, "\n")
	var out []toolSearchResult
	for _, l := range lines[1:] {
		var r toolSearchResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("search line %q is not JSON: %v", l, err)
		}
		out = append(out, r)
	}
	return lines[0], out
}

func TestToolSelectorSelectsRelevantTools(t *testing.T) {
	tools := generateToolCatalog(300)
	s := newToolSelector(cache.NewLexical(0))
	ctx := context.Background()
	cases := []struct {
		conversation string
		limit        int
		want         string
	}{
		{"What will the weather be like in Paris tomorrow? I need the forecast before I pack.", 40, "weather__get_forecast"},
		{"Please open a new GitHub issue in junctionhq/junction about the login bug, with the label bug.", 40, "github__create_issue"},
		{"Show me what is in the file /etc/hosts, read its contents.", 40, "filesystem__get_file"},
		{"Post a message in the #ops Slack channel saying the deploy is done.", 40, "slack__create_message"},
		{"Which tables does the analytics PostgreSQL database have?", 40, "postgres__list_table"},
		{"Restart the pods of the checkout deployment in the Kubernetes cluster.", 10, "kubernetes__update_deployment"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			offered, withSearch, err := s.Select(ctx, tools, tc.conversation, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !withSearch {
				t.Fatal("withSearch = false for 300 tools")
			}
			if len(offered) != tc.limit-1 {
				t.Fatalf("offered %d tools, want %d (limit %d with search_tools)", len(offered), tc.limit-1, tc.limit)
			}
			got := toolNames(offered)
			if !slices.Contains(got, tc.want) {
				t.Fatalf("%s not offered for %q; got %v", tc.want, tc.conversation, got)
			}
			if !slices.IsSorted(got) {
				t.Errorf("offered tools are not in catalog order: %v", got)
			}
			if slices.Contains(got, searchToolsName) {
				t.Error("offered contains search_tools itself")
			}
			// The same conversation gives the same tools.
			again, _, _ := s.Select(ctx, tools, tc.conversation, tc.limit)
			if !slices.Equal(toolNames(again), got) {
				t.Errorf("second Select differs: %v vs %v", toolNames(again), got)
			}
		})
	}

	// With a tight limit the offered tools all come from the server the
	// question is about.
	offered, _, err := s.Select(ctx, tools, "What will the weather be like in Paris tomorrow? I need the forecast.", 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range toolNames(offered) {
		if !strings.HasPrefix(name, "weather__") {
			t.Errorf("limit 5: %s offered for a weather question: %v", name, toolNames(offered))
		}
	}
}

func TestToolSelectorBelowLimitOffersAll(t *testing.T) {
	emb := newCountingToolEmbedder("counting")
	s := newToolSelector(emb)
	tools := generateToolCatalog(300)[:40]
	for _, limit := range []int{40, 100, 0} { // 0: the default, 40
		offered, withSearch, err := s.Select(context.Background(), tools, "weather forecast", limit)
		if err != nil {
			t.Fatal(err)
		}
		if withSearch || !slices.Equal(toolNames(offered), toolNames(tools)) {
			t.Fatalf("limit %d: withSearch %v, offered %d of %d tools", limit, withSearch, len(offered), len(tools))
		}
	}
	if n := emb.calls.Load(); n != 0 {
		t.Errorf("%d Embed calls below the limit, want none", n)
	}
	// One over the default limit: the search tool takes a slot.
	offered, withSearch, err := s.Select(context.Background(), generateToolCatalog(300)[:41], "weather forecast", 0)
	if err != nil || !withSearch || len(offered) != defaultAgentToolLimit-1 {
		t.Fatalf("41 tools, default limit: %d offered, withSearch %v, err %v", len(offered), withSearch, err)
	}
	// A limit of 1 leaves room for the search tool only.
	offered, withSearch, _ = s.Select(context.Background(), tools, "weather forecast", 1)
	if !withSearch || len(offered) != 0 {
		t.Fatalf("limit 1: %d offered, withSearch %v", len(offered), withSearch)
	}
}

func TestToolSelectorSearch(t *testing.T) {
	tools := generateToolCatalog(300)
	s := newToolSelector(cache.NewLexical(0))
	ctx := context.Background()
	offered, _, err := s.Select(ctx, tools, "What will the weather be like in Paris tomorrow?", 10)
	if err != nil {
		t.Fatal(err)
	}
	text, err := s.Search(ctx, tools, "merge request pipeline in GitLab", 0)
	if err != nil {
		t.Fatal(err)
	}
	header, results := searchToolsLines(t, text)
	if len(results) != defaultSearchResults {
		t.Fatalf("%d results, want %d:\n%s", len(results), defaultSearchResults, text)
	}
	if !strings.Contains(header, "merge request pipeline in GitLab") || !strings.Contains(header, "of 300 tools") {
		t.Errorf("header %q", header)
	}
	found := false
	for _, r := range results {
		if !strings.HasPrefix(r.Name, "gitlab__") {
			continue
		}
		found = found || strings.Contains(r.Name, "merge_request") || strings.Contains(r.Name, "pipeline")
		if slices.Contains(toolNames(offered), r.Name) {
			t.Errorf("%s was already offered for the weather question", r.Name)
		}
		if r.Description == "" || !json.Valid(r.InputSchema) || !strings.Contains(string(r.InputSchema), `"project_id"`) {
			t.Errorf("result %+v lacks a description or its input schema", r)
		}
	}
	if !found {
		t.Fatalf("no GitLab merge request or pipeline tool found:\n%s", text)
	}

	// k is honoured and capped; offered tools are not excluded.
	text, _ = s.Search(ctx, tools, "weather forecast for Paris", 3)
	if _, results = searchToolsLines(t, text); len(results) != 3 || results[0].Name != "weather__get_forecast" {
		t.Fatalf("k=3: %s", text)
	}
	text, _ = s.Search(ctx, tools, "weather", 1000)
	if _, results = searchToolsLines(t, text); len(results) != maxSearchResults {
		t.Fatalf("k=1000: %d results, want %d", len(results), maxSearchResults)
	}
	// The answer is compact: no indentation, HTML left alone.
	if strings.Contains(text, "\n  ") || strings.Contains(text, `\u003c`) {
		t.Errorf("answer not compact: %s", text)
	}

	if text, _ = s.Search(ctx, tools, "  ", 5); !strings.Contains(text, "query is empty") {
		t.Errorf("empty query: %q", text)
	}
	if text, _ = s.Search(ctx, nil, "weather", 5); text != "No tools are available." {
		t.Errorf("no tools: %q", text)
	}

	// A tool whose schema is not JSON is listed without it.
	bad := []mcp.ToolInfo{{Name: "x__broken", Server: "x", Tool: "broken", Description: "A <broken> tool & more",
		InputSchema: json.RawMessage(`{"type":`)}}
	text, err = s.Search(ctx, bad, "broken", 5)
	if err != nil {
		t.Fatal(err)
	}
	_, results = searchToolsLines(t, text)
	if len(results) != 1 || results[0].InputSchema != nil || results[0].Description != "A <broken> tool & more" {
		t.Fatalf("broken schema: %s", text)
	}
}

func TestToolSelectorReembedsOnlyChangedTools(t *testing.T) {
	emb := newCountingToolEmbedder("counting")
	s := newToolSelector(emb)
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	s.now = clock.Now
	ctx := context.Background()
	tools := generateToolCatalog(300)

	if _, _, err := s.Select(ctx, tools, "weather forecast", 40); err != nil {
		t.Fatal(err)
	}
	// 300 tool texts in batches of toolEmbedBatch, plus the conversation.
	if got, want := emb.texts.Load(), int64(301); got != want {
		t.Fatalf("first Select embedded %d texts, want %d", got, want)
	}
	if got, want := emb.calls.Load(), int64(1+(300+toolEmbedBatch-1)/toolEmbedBatch); got != want {
		t.Fatalf("first Select made %d Embed calls, want %d", got, want)
	}

	// Unchanged catalog: only the conversation; Search too.
	emb.texts.Store(0)
	if _, _, err := s.Select(ctx, tools, "weather forecast", 40); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Search(ctx, tools, "create an issue", 5); err != nil {
		t.Fatal(err)
	}
	if got := emb.texts.Load(); got != 2 {
		t.Fatalf("unchanged catalog: %d texts embedded, want 2 (the conversation and the query)", got)
	}

	// Two descriptions and one schema change, two tools are added, five removed.
	changed := slices.Clone(tools)
	changed[0].Description = "Changed: " + changed[0].Description
	changed[1].Description += " Now with pagination."
	changed[2].InputSchema = json.RawMessage(`{"type":"object","properties":{"owner":{"type":"string"},"draft":{"type":"boolean"}}}`)
	changed = append(changed[:295], // drop the last five
		mcp.ToolInfo{Name: "maps__get_route", Server: "maps", Tool: "get_route", Description: "Plan a route between two places."},
		mcp.ToolInfo{Name: "maps__geocode", Server: "maps", Tool: "geocode", Description: "Find the coordinates of an address."})
	emb.texts.Store(0)
	clear(emb.byText)
	offered, _, err := s.Select(ctx, changed, "plan a route from Paris to Lyon on the map", 40)
	if err != nil {
		t.Fatal(err)
	}
	if got := emb.texts.Load(); got != 5+1 {
		t.Fatalf("changed catalog: %d texts embedded, want 6 (3 changed + 2 new tools + the conversation)", got)
	}
	for _, i := range []int{0, 1, 2, 295, 296} {
		if emb.byText[toolText(changed[i])] != 1 {
			t.Errorf("%s was not re-embedded", changed[i].Name)
		}
	}
	if !slices.Contains(toolNames(offered), "maps__get_route") {
		t.Errorf("new tool maps__get_route not offered: %v", toolNames(offered))
	}

	// The five removed tools are dropped once unused for toolVectorTTL.
	if n := s.primary.len(); n != 302 {
		t.Fatalf("%d vectors before the sweep, want 302", n)
	}
	clock.Advance(toolVectorTTL / 2)
	if _, _, err := s.Select(ctx, changed, "route", 40); err != nil {
		t.Fatal(err)
	}
	clock.Advance(toolVectorTTL/2 + toolSweepInterval)
	if _, _, err := s.Select(ctx, changed, "route", 40); err != nil {
		t.Fatal(err)
	}
	if n := s.primary.len(); n != len(changed) {
		t.Fatalf("%d vectors after the sweep, want %d", n, len(changed))
	}
}

func TestToolSelectorFallsBackWhenEmbedderFails(t *testing.T) {
	tools := generateToolCatalog(300)
	const question = "What will the weather be like in Paris tomorrow? I need the forecast."
	want, _, err := newToolSelector(nil).Select(context.Background(), tools, question, 10)
	if err != nil {
		t.Fatal(err)
	}

	emb := newCountingToolEmbedder("remote")
	emb.fail.Store(true)
	s := newToolSelector(emb)
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	s.now = clock.Now
	ctx := context.Background()

	offered, withSearch, err := s.Select(ctx, tools, question, 10)
	if err != nil || !withSearch {
		t.Fatalf("Select with a failing embedder: withSearch %v, err %v", withSearch, err)
	}
	if !slices.Equal(toolNames(offered), toolNames(want)) {
		t.Fatalf("fallback offered %v, want the lexical ranking %v", toolNames(offered), toolNames(want))
	}
	text, err := s.Search(ctx, tools, "get the weather forecast for a city", 3)
	if err != nil || !strings.Contains(text, "weather__get_forecast") {
		t.Fatalf("Search with a failing embedder: %v\n%s", err, text)
	}
	if calls := emb.calls.Load(); calls != 1 {
		t.Fatalf("%d calls to the failing embedder, want 1 (then it is skipped for a while)", calls)
	}
	if n := s.fallbacks.Load(); n != 2 {
		t.Fatalf("fallbacks = %d, want 2", n)
	}

	// After toolEmbedderRetryAfter the embedder is tried again, and used once it works.
	emb.fail.Store(false)
	clock.Advance(toolEmbedderRetryAfter - time.Second)
	if _, _, err := s.Select(ctx, tools, question, 10); err != nil || emb.calls.Load() != 1 {
		t.Fatalf("embedder retried too early: %d calls, err %v", emb.calls.Load(), err)
	}
	clock.Advance(time.Second)
	offered, _, err = s.Select(ctx, tools, question, 10)
	if err != nil || emb.calls.Load() == 1 || s.fallbacks.Load() != 3 {
		t.Fatalf("embedder not retried: %d calls, %d fallbacks, err %v", emb.calls.Load(), s.fallbacks.Load(), err)
	}
	if !slices.Contains(toolNames(offered), "weather__get_forecast") {
		t.Fatalf("recovered embedder: %v", toolNames(offered))
	}

	// Failing only for tools (a batch of more than one text) also falls back,
	// and the failed tools are embedded again later.
	partial := &partialToolEmbedder{countingToolEmbedder: newCountingToolEmbedder("partial")}
	s = newToolSelector(partial)
	offered, _, err = s.Select(ctx, tools, question, 10)
	if err != nil || !slices.Equal(toolNames(offered), toolNames(want)) || s.fallbacks.Load() != 1 {
		t.Fatalf("tool embedding failure: %v, err %v, fallbacks %d", toolNames(offered), err, s.fallbacks.Load())
	}
	if n := s.primary.len(); n != 0 {
		t.Fatalf("%d failed vectors kept, want 0", n)
	}

	// Vectors of the wrong count or length are failures too.
	s = newToolSelector(badToolEmbedder{})
	offered, _, err = s.Select(ctx, tools, question, 10)
	if err != nil || !slices.Equal(toolNames(offered), toolNames(want)) {
		t.Fatalf("bad embedder: %v, err %v", toolNames(offered), err)
	}
}

// partialToolEmbedder fails every call with more than one text.
type partialToolEmbedder struct{ *countingToolEmbedder }

func (p *partialToolEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) > 1 {
		return nil, errors.New("batch too large")
	}
	return p.countingToolEmbedder.Embed(ctx, texts)
}

// badToolEmbedder returns a short vector for the query and none for tools.
type badToolEmbedder struct{}

func (badToolEmbedder) Name() string { return "bad" }
func (badToolEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 1 {
		return [][]float32{{1, 2}}, nil
	}
	return nil, nil
}

func TestToolSelectorTiesByName(t *testing.T) {
	tools := generateToolCatalog(300)
	s := newToolSelector(constantToolEmbedder{})
	offered, _, err := s.Select(context.Background(), tools, "anything", 8)
	if err != nil {
		t.Fatal(err)
	}
	if want := toolNames(tools[:7]); !slices.Equal(toolNames(offered), want) {
		t.Fatalf("ties: %v, want the first names %v", toolNames(offered), want)
	}
	// Reversed input order gives the same choice.
	rev := slices.Clone(tools)
	slices.Reverse(rev)
	offered, _, _ = s.Select(context.Background(), rev, "anything", 8)
	got := toolNames(offered)
	slices.Sort(got)
	if want := toolNames(tools[:7]); !slices.Equal(got, want) {
		t.Fatalf("reversed ties: %v, want %v", got, want)
	}
}

func TestToolSelectorConcurrent(t *testing.T) {
	tools := generateToolCatalog(300)
	emb := newCountingToolEmbedder("counting")
	emb.delay = 2 * time.Millisecond
	s := newToolSelector(emb)
	ctx := context.Background()
	// Callers see different permitted parts of the catalog.
	subsets := [][]mcp.ToolInfo{tools, tools[:200], tools[100:], tools[50:250]}
	questions := []string{"weather forecast for Paris tomorrow", "open a GitHub issue", "read a file", "post to Slack"}
	ref := newToolSelector(cache.NewLexical(0))
	want := make(map[[2]int][]string)
	for i, sub := range subsets {
		for j, q := range questions {
			o, _, err := ref.Select(ctx, sub, q, 20)
			if err != nil {
				t.Fatal(err)
			}
			want[[2]int{i, j}] = toolNames(o)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for n := range 8 {
				i, j := (g+n)%len(subsets), (g*3+n)%len(questions)
				o, _, err := s.Select(ctx, subsets[i], questions[j], 20)
				if err != nil {
					errs <- err
					return
				}
				if got := toolNames(o); !slices.Equal(got, want[[2]int{i, j}]) {
					errs <- fmt.Errorf("subset %d, %q: %v, want %v", i, questions[j], got, want[[2]int{i, j}])
					return
				}
				if _, err := s.Search(ctx, subsets[i], questions[j], 5); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every tool was embedded exactly once although 16 callers started cold.
	emb.mu.Lock()
	defer emb.mu.Unlock()
	for _, tool := range tools {
		if n := emb.byText[toolText(tool)]; n != 1 {
			t.Errorf("%s embedded %d times, want 1", tool.Name, n)
		}
	}
}

func TestToolSelectorCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newToolSelector(nil)
	if _, _, err := s.Select(ctx, generateToolCatalog(300), "weather", 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Select with a cancelled context: %v", err)
	}
	if _, err := s.Search(ctx, generateToolCatalog(300), "weather", 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Search with a cancelled context: %v", err)
	}
	// Nothing half-embedded is left behind.
	if n := s.primary.len(); n != 0 {
		t.Fatalf("%d vectors after cancelled calls", n)
	}
	if _, _, err := s.Select(context.Background(), generateToolCatalog(300), "weather", 10); err != nil {
		t.Fatal(err)
	}
}

func TestSearchToolsDefinition(t *testing.T) {
	tool := SearchTool()
	if tool.Name != searchToolsName || tool.Description == "" {
		t.Fatalf("tool %+v", tool)
	}
	var schema struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal(tool.Parameters, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Type != "object" || !slices.Equal(schema.Required, []string{"query"}) ||
		!strings.Contains(string(schema.Properties["query"]), `"string"`) ||
		!strings.Contains(string(schema.Properties["limit"]), `"integer"`) {
		t.Fatalf("schema %s", tool.Parameters)
	}

	s := newToolSelector(nil)
	tools := generateToolCatalog(300)[:3]
	if got := s.SearchName(tools); got != "search_tools" {
		t.Errorf("searchName = %q", got)
	}
	tools = append(tools, mcp.ToolInfo{Name: "search_tools"})
	if got := s.SearchName(tools); got != "search_tools_2" {
		t.Errorf("searchName with a collision = %q", got)
	}
	tools = append(tools, mcp.ToolInfo{Name: "search_tools_2"})
	if got := s.SearchName(tools); got != "search_tools_3" {
		t.Errorf("searchName with two collisions = %q", got)
	}
}

func TestParseSearchToolsArgs(t *testing.T) {
	cases := []struct {
		args    string
		query   string
		limit   int
		wantErr bool
	}{
		{`{"query":"weather"}`, "weather", 0, false},
		{`{"query":"weather","limit":5}`, "weather", 5, false},
		{`{"query":"weather","limit":"7"}`, "weather", 7, false},
		{`{"query":"weather","limit":2.5}`, "weather", 0, false},
		{`{"query":"weather","limit":-1}`, "weather", 0, false},
		{`{"query":"weather","limit":900}`, "weather", maxSearchResults, false},
		{``, "", 0, false},
		{`{"query":`, "", 0, true},
		{`["weather"]`, "", 0, true},
	}
	for _, tc := range cases {
		q, l, err := ParseSearchArgs(tc.args)
		if (err != nil) != tc.wantErr || q != tc.query || l != tc.limit {
			t.Errorf("ParseSearchArgs(%q) = %q, %d, %v", tc.args, q, l, err)
		}
	}
}

func TestToolTextAndHelpers(t *testing.T) {
	tool := mcp.ToolInfo{Name: "github__create_issue", Server: "github", Tool: "create_issue",
		Description: "  Open an issue.  ", InputSchema: json.RawMessage(`{"properties":{"title":{},"body":{},"owner":{}}}`)}
	if got, want := toolText(tool), "github__create_issue github create_issue (create issue): Open an issue. Parameters: body, owner, title."; got != want {
		t.Errorf("toolText = %q, want %q", got, want)
	}
	if got := cutText("héllo", 2); got != "h…" {
		t.Errorf("cutText = %q", got)
	}
	if got := textTail("héllo", 4); got != "llo" {
		t.Errorf("textTail = %q", got)
	}
	if v := unitVector([]float32{3, 4}); v[0] != 0.6 || v[1] != 0.8 {
		t.Errorf("unitVector = %v", v)
	}
	if v := unitVector([]float32{0, 0}); v[0] != 0 || v[1] != 0 {
		t.Errorf("unitVector(0) = %v", v)
	}
}

func BenchmarkToolSelectorSelect(b *testing.B) {
	for _, n := range []int{300, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tools := generateToolCatalog(n)
			s := newToolSelector(cache.NewLexical(0))
			ctx := context.Background()
			const question = "What will the weather be like in Paris tomorrow? I need the forecast before I pack."
			if _, _, err := s.Select(ctx, tools, question, 40); err != nil { // embeds the catalog
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := s.Select(ctx, tools, question, 40); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
