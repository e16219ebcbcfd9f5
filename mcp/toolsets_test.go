package mcp

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/registry/mcptest"
)

// TestSetToolsetsChangesWhatToolsetsServe: replacing the toolsets (a
// configuration reload) changes a served toolset's tools for a session that
// is already open, serves an added toolset, answers 404 for a removed one
// (ending its sessions), and refuses an invalid set without changing
// anything.
func TestSetToolsetsChangesWhatToolsetsServe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	c := connect(t, f.url+"/mcp/readonly", f.all, legacyEra)
	if got := strings.Join(mcptest.ToolNames(t, c), ","); got != "files__read_file" {
		t.Fatalf("before: readonly lists %s", got)
	}

	if err := f.hub.SetToolsets([]ToolsetConfig{{Name: "readonly", Tools: []string{"search/*"}}, {Name: ""}}); err == nil ||
		!strings.Contains(err.Error(), "toolsets[1].name: required") {
		t.Fatalf("an invalid set: err = %v", err)
	}
	if got := strings.Join(mcptest.ToolNames(t, c), ","); got != "files__read_file" {
		t.Errorf("after a refused set: readonly lists %s", got)
	}

	if err := f.hub.SetToolsets([]ToolsetConfig{
		{Name: "readonly", Tools: []string{"files/read_*", "search/*"}},
		{Name: "writers", Tools: []string{"files/write_*"}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(mcptest.ToolNames(t, c), ","); got != "files__read_file,search__query" {
		t.Errorf("changed toolset, open session: lists %s", got)
	}
	w := connect(t, f.url+"/mcp/writers", f.all, legacyEra)
	if got := strings.Join(mcptest.ToolNames(t, w), ","); got != "files__write_file" {
		t.Errorf("added toolset lists %s", got)
	}

	if err := f.hub.SetToolsets([]ToolsetConfig{{Name: "writers", Tools: []string{"files/write_*"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTools(t.Context(), mcp.ListToolsRequest{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("removed toolset, open session: err = %v, want its session ended (404)", err)
	}
	if got := statusOf(t, http.MethodPost, f.url+"/mcp/readonly", f.all, `{}`); got != http.StatusNotFound {
		t.Errorf("removed toolset: status %d, want 404", got)
	}
	if tools := f.hub.Tools(nil, "readonly"); tools != nil {
		t.Errorf("Tools of a removed toolset: %v", tools)
	}
}
