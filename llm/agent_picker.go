package llm

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/mcp"
)

// toolPicker chooses what the loop offers the model when more tools are
// permitted than agent.max_tools, and answers the model's search_tools
// calls. The embedding-based selector (agenttools.go) implements it; until
// it is wired, firstToolsPicker stands in.
type toolPicker interface {
	// Select returns at most limit tools for the conversation, and whether
	// tools were left out (then the search tool is offered too).
	Select(ctx context.Context, tools []mcp.ToolInfo, conversation string, limit int) (offered []mcp.ToolInfo, withSearch bool, err error)
	// Search answers a search call: the best k tools for query, as the text
	// fed back to the model.
	Search(ctx context.Context, tools []mcp.ToolInfo, query string, k int) (string, error)
}

// agentSearchToolName is the function the model calls to find tools that
// were not offered.
const agentSearchToolName = "search_tools"

// agentSearchResults is how many tools one search returns.
const agentSearchResults = 10

// agentSearchTool is the search tool's definition.
func agentSearchTool() chat.Tool {
	return chat.Tool{
		Name: agentSearchToolName,
		Description: "Search the other tools available to you by what they do. Returns the names, descriptions and " +
			"argument schemas of the best matches; you may then call any of them by name.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"What the tool should do, in a few words."}},"required":["query"],"additionalProperties":false}`),
	}
}

// firstToolsPicker offers the first tools of the catalog (public-name
// order) and searches by shared words. It is the stand-in until the
// embedding-based selector is wired.
type firstToolsPicker struct{}

var _ toolPicker = firstToolsPicker{}

func (firstToolsPicker) Select(_ context.Context, tools []mcp.ToolInfo, _ string, limit int) ([]mcp.ToolInfo, bool, error) {
	if len(tools) <= limit {
		return tools, false, nil
	}
	return tools[:limit], true, nil
}

func (firstToolsPicker) Search(_ context.Context, tools []mcp.ToolInfo, query string, k int) (string, error) {
	words := strings.Fields(strings.ToLower(query))
	type scored struct {
		i, score int
	}
	var hits []scored
	for i := range tools {
		text := strings.ToLower(tools[i].Name + " " + tools[i].Tool + " " + tools[i].Description)
		n := 0
		for _, w := range words {
			if strings.Contains(text, w) {
				n++
			}
		}
		if n > 0 {
			hits = append(hits, scored{i, n})
		}
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].score > hits[b].score })
	if len(hits) > k {
		hits = hits[:k]
	}
	out := make([]mcp.ToolInfo, 0, len(hits))
	for _, h := range hits {
		out = append(out, tools[h.i])
	}
	return describeTools(out), nil
}

// describeTools renders tools as the text result of a search.
func describeTools(tools []mcp.ToolInfo) string {
	if len(tools) == 0 {
		return "No tool matches; try other words."
	}
	type entry struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
	list := make([]entry, 0, len(tools))
	for _, t := range tools {
		list = append(list, entry{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	b, _ := json.Marshal(list)
	return string(b)
}
