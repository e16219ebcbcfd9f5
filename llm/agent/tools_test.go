package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

func TestToolResultText(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		isError bool
	}{
		{`{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`, "a\nb", false},
		{`{"content":[{"type":"text","text":"boom"}],"isError":true}`, "boom", true},
		{`{"content":[],"structuredContent":{"sum":5}}`, `{"sum":5}`, false},
		{`{"content":[{"type":"text","text":"5"}],"structuredContent":{"sum":5}}`, "5", false},
		{`{"content":[{"type":"image","data":"AAAA","mimeType":"image/png"}]}`, "[image image/png content not shown]", false},
		{`{"content":[{"type":"resource","resource":{"uri":"x://y","text":"body"}}]}`, "body", false},
		{`{"content":[{"type":"resource_link","uri":"x://y"}]}`, "[resource link: x://y]", false},
		{`{"content":[]}`, "(the tool returned no content)", false},
		{`not json`, "not json", false},
	}
	for _, c := range cases {
		got, isError := ToolResultText(json.RawMessage(c.in))
		if got != c.want || isError != c.isError {
			t.Errorf("%s: %q %v, want %q %v", c.in, got, isError, c.want, c.isError)
		}
	}
}

func TestToolErrorText(t *testing.T) {
	cases := []struct {
		err    error
		status string
		text   string
	}{
		{&policy.AccessError{Object: "tool:a/b", Action: "call"}, "denied", "denied by the gateway's access policy"},
		{&policy.RateLimitError{RetryAfter: 3 * time.Second}, "rate_limited", "retry after 3s"},
		{&policy.BudgetError{}, "budget_exceeded", "budget is spent"},
		{&mcp.UnknownToolError{Name: "x"}, "unknown_tool", `unknown tool "x"`},
		{&mcp.UpstreamError{Server: "s", Tool: "t", Outcome: "timeout", Err: context.DeadlineExceeded}, "timeout", "timed out"},
		{context.DeadlineExceeded, "timeout", "timed out"},
		{errors.New("secret detail"), "error", "failed"},
	}
	for _, c := range cases {
		status, text := ToolErrorText("s__t", c.err)
		if status != c.status || !strings.Contains(text, c.text) || strings.Contains(text, "secret detail") {
			t.Errorf("%v: %s %q", c.err, status, text)
		}
	}
}
