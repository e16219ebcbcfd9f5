package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

// The loop's tool calls go through the hub it is given; what the model is
// told of each call's result or failure is decided here.

// Hub is what the agent loop needs of the MCP federation hub: the tools
// a caller may call and the one entry point that calls them (policy, meter,
// audit), the same one /mcp uses. *mcp.Hub is one.
type Hub interface {
	// Tools lists the tools id may call, restricted to toolset unless it is
	// "" (an unknown toolset lists nothing).
	Tools(id *policy.Identity, toolset string) []mcp.ToolInfo
	// CallTool calls the tool by its public name and returns the upstream's
	// CallToolResult JSON; rejections and failures are errors (see
	// mcp.Hub.CallTool).
	CallTool(ctx context.Context, id *policy.Identity, publicName string, args json.RawMessage) (json.RawMessage, error)
}

var _ Hub = (*mcp.Hub)(nil)

// ToolErrorText is what the model is told about a call that did not
// produce a result, and the status recorded for it.
func ToolErrorText(name string, err error) (status, text string) {
	var (
		access *policy.AccessError
		rate   *policy.RateLimitError
		budget *policy.BudgetError
		unk    *mcp.UnknownToolError
		up     *mcp.UpstreamError
	)
	switch {
	case errors.As(err, &access):
		return "denied", fmt.Sprintf("Error: calling %q was denied by the gateway's access policy; do not call it again.", name)
	case errors.As(err, &rate):
		return "rate_limited", fmt.Sprintf("Error: calling %q was refused: the tool-call rate limit is reached (retry after %s).", name, rate.RetryAfter.Round(time.Second))
	case errors.As(err, &budget):
		return "budget_exceeded", fmt.Sprintf("Error: calling %q was refused: the budget is spent.", name)
	case errors.As(err, &unk):
		return "unknown_tool", "Error: " + unk.Error()
	case errors.As(err, &up):
		return up.Outcome, "Error: " + up.Message()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", fmt.Sprintf("Error: the call to %q timed out.", name)
	}
	return "error", fmt.Sprintf("Error: the call to %q failed.", name)
}

// ToolResultText turns an MCP CallToolResult into the text of a tool
// message: the text contents, one per line (resource texts included);
// structuredContent as JSON when there is no text; a note for content the
// model cannot read as text.
func ToolResultText(raw json.RawMessage) (string, bool) {
	var res struct {
		Content []struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			MimeType string `json:"mimeType"`
			URI      string `json:"uri"`
			Resource *struct {
				URI  string `json:"uri"`
				Text string `json:"text"`
			} `json:"resource"`
		} `json:"content"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		IsError           bool            `json:"isError"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return string(raw), false
	}
	var parts []string
	for _, c := range res.Content {
		switch {
		case c.Type == "text":
			parts = append(parts, c.Text)
		case c.Type == "resource" && c.Resource != nil && c.Resource.Text != "":
			parts = append(parts, c.Resource.Text)
		case c.Type == "resource_link":
			parts = append(parts, "[resource link: "+c.URI+"]")
		case c.Type != "":
			kind := c.Type
			if c.MimeType != "" {
				kind += " " + c.MimeType
			}
			parts = append(parts, "["+kind+" content not shown]")
		}
	}
	hasText := false
	for _, c := range res.Content {
		if c.Type == "text" || c.Type == "resource" {
			hasText = true
		}
	}
	if !hasText && !isNull(res.StructuredContent) {
		parts = append([]string{string(res.StructuredContent)}, parts...)
	}
	if len(parts) == 0 {
		return "(the tool returned no content)", res.IsError
	}
	return strings.Join(parts, "\n"), res.IsError
}
