package agent

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/llm/provider/anthropic"
	"github.com/junctionhq/junction/llm/provider/openai"
	"github.com/junctionhq/junction/mcp"
)

func TestParseToolsHeader(t *testing.T) {
	cases := []struct {
		in      string
		want    []Selection
		wantErr string
	}{
		{in: "*", want: []Selection{{label: "*"}}},
		{in: " github , filesystem ", want: []Selection{{label: "github"}, {label: "filesystem"}}},
		{in: "github:create_issue|list_issues,readonly", want: []Selection{
			{label: "github", allowed: []string{"create_issue", "list_issues"}}, {label: "readonly"}}},
		{in: "a: x | y |", want: []Selection{{label: "a", allowed: []string{"x", "y"}}}},
		{in: "github:", wantErr: "lists no tools"},
		{in: ":tool", wantErr: "names no server"},
		{in: " , ", wantErr: "names no tools"},
	}
	for _, c := range cases {
		got, err := ParseToolsHeader(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %+v %v, want %+v", c.in, got, err, c.want)
		}
	}
}

func TestSplitAgentRequest(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[
		{"type":"function","function":{"name":"f","parameters":{"type":"object"}}},
		{"type":"mcp","server_label":"github","allowed_tools":{"tool_names":["list"]},"require_approval":{"always":{"tool_names":["delete"]},"never":{"tool_names":["list"]}}},
		{"type":"mcp","server_label":"*","require_approval":"always"}]}`)
	sels, rest, err := SplitRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []Selection{
		{label: "github", allowed: []string{"list"}, approve: []string{"delete"}, noApprove: []string{"list"}},
		{label: "*", always: true},
	}
	if !reflect.DeepEqual(sels, want) {
		t.Errorf("selections %+v", sels)
	}
	var v struct {
		Tools []map[string]any `json:"tools"`
	}
	if err := json.Unmarshal(rest, &v); err != nil || len(v.Tools) != 1 || v.Tools[0]["type"] != "function" {
		t.Errorf("rest %s", rest)
	}
	if _, err := openai.DecodeChatRequest(rest); err != nil {
		t.Errorf("the rest does not decode: %v", err)
	}

	// Only MCP tools: the tools field goes; mcp_servers is read and removed.
	sels, rest, err = SplitRequest([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],
		"tools":[{"type":"mcp","server_label":"a"}],"mcp_servers":[{"type":"url","name":"b","tool_configuration":{"allowed_tools":["x"]}},
		{"name":"c","tool_configuration":{"enabled":false}}]}`))
	if err != nil || len(sels) != 2 || sels[0].label != "a" || sels[1].label != "b" || !reflect.DeepEqual(sels[1].allowed, []string{"x"}) {
		t.Fatalf("%+v %v", sels, err)
	}
	if strings.Contains(string(rest), "tools") || strings.Contains(string(rest), "mcp_servers") {
		t.Errorf("rest %s", rest)
	}
	if _, err := anthropic.DecodeMessagesRequest(rest); err != nil {
		t.Errorf("the rest does not decode: %v", err)
	}

	// Anthropic's current connector shape: mcp_toolset entries, with the
	// mcp_servers entry they name (which adds no selection of its own).
	sels, _, err = SplitRequest([]byte(`{"mcp_servers":[{"type":"url","name":"gh"},{"type":"url","name":"fs"}],"tools":[
		{"type":"mcp_toolset","mcp_server_name":"gh","configs":{"delete":{"enabled":false}}},
		{"type":"mcp_toolset","mcp_server_name":"web","default_config":{"enabled":false},"configs":{"search":{"enabled":true},"fetch":{"enabled":true},"x":{}}}]}`))
	want = []Selection{
		{label: "gh", denied: []string{"delete"}},
		{label: "web", allowed: []string{"fetch", "search"}},
		{label: "fs"},
	}
	if err != nil || !reflect.DeepEqual(sels, want) {
		t.Errorf("mcp_toolset: %+v %v", sels, err)
	}

	// No MCP entry: nothing taken.
	sels, rest, err = SplitRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"about mcp"}]}`))
	if err != nil || sels != nil || rest != nil {
		t.Errorf("%+v %s %v", sels, rest, err)
	}

	for _, bad := range []struct{ body, want string }{
		{`{"tools":[{"type":"mcp"}]}`, "server_label: required"},
		{`{"tools":[{"type":"mcp","server_label":"x","server_url":"https://e.com/mcp"}]}`, "server_url"},
		{`{"tools":[{"type":"mcp","server_label":"x","require_approval":"sometimes"}]}`, "require_approval"},
		{`{"tools":[{"type":"mcp","server_label":"x","allowed_tools":7}]}`, "allowed_tools"},
		{`{"mcp_servers":[{"type":"url","url":"https://e.com","name":"x"}]}`, "url"},
		{`{"mcp_servers":[{}]}`, "name: required"},
		{`{"mcp_servers":[{"name":"x","authorization_token":"t"}]}`, "never passes a client's"},
		{`{"tools":[{"type":"mcp","server_label":"x","headers":{"Authorization":"Bearer t"}}]}`, "never passes a client's"},
		{`{"tools":[{"type":"mcp","server_label":"x","authorization":"t"}]}`, "never passes a client's"},
		{`{"tools":[{"type":"mcp","connector_id":"connector_gmail"}]}`, "connector_id"},
		{`{"tools":[{"type":"mcp_toolset"}]}`, "mcp_server_name: required"},
		{`{"mcp_servers":{}}`, "mcp_servers"},
		{`{"tools":{}}`, "tools: must be an array"},
		{`[1]`, "request body"},
	} {
		_, _, err := SplitRequest([]byte(bad.body))
		var ae *apierror.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Message, bad.want) {
			t.Errorf("%s: %v, want a 400 naming %q", bad.body, err, bad.want)
		}
	}
}

// fakeHub serves a fixed catalog with toolsets.
type fakeHub struct {
	tools    []mcp.ToolInfo
	toolsets map[string][]string // toolset → public names
}

func (h *fakeHub) Tools(toolset string) []mcp.ToolInfo {
	if toolset == "" {
		return h.tools
	}
	var out []mcp.ToolInfo
	for _, t := range h.tools {
		for _, n := range h.toolsets[toolset] {
			if n == t.Name {
				out = append(out, t)
			}
		}
	}
	return out
}

func tool(server, name string) mcp.ToolInfo {
	return mcp.ToolInfo{Name: server + "__" + name, Server: server, Tool: name}
}

func TestPermittedTools(t *testing.T) {
	hub := &fakeHub{tools: []mcp.ToolInfo{tool("fs", "read"), tool("fs", "write"), tool("gh", "issue"), tool("gh", "pr")},
		toolsets: map[string][]string{"readonly": {"fs__read"}}}
	names := func(ts []*Tool) string {
		var out []string
		for _, t := range ts {
			n := t.Info.Name
			if t.Approval {
				n += "!"
			}
			out = append(out, n)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		sels []Selection
		want string
	}{
		{[]Selection{{label: "*"}}, "fs__read,fs__write,gh__issue,gh__pr"},
		{[]Selection{{label: "gh"}}, "gh__issue,gh__pr"},
		{[]Selection{{label: "readonly"}}, "fs__read"},
		{[]Selection{{label: "fs", allowed: []string{"write", "gh__pr"}}}, "fs__write"},
		// A tool named twice needs approval if either entry says so.
		{[]Selection{{label: "fs"}, {label: "*", approve: []string{"fs__write"}}}, "fs__read,fs__write!,gh__issue,gh__pr"},
		{[]Selection{{label: "gh", always: true, noApprove: []string{"pr"}}}, "gh__issue!,gh__pr"},
		{[]Selection{{label: "*", denied: []string{"write", "gh__pr"}}}, "fs__read,gh__issue"},
	}
	for _, c := range cases {
		list, byName, unmatched := Permitted(hub.Tools, c.sels)
		if unmatched != nil {
			t.Errorf("%+v: unmatched %v", c.sels, unmatched)
		}
		if got := names(list); got != c.want {
			t.Errorf("%+v: %s, want %s", c.sels, got, c.want)
		}
		if len(byName) != len(list) {
			t.Errorf("%+v: index of %d for %d tools", c.sels, len(byName), len(list))
		}
	}
	_, _, unmatched := Permitted(hub.Tools, []Selection{{label: "gh"}, {label: "nothing"}, {label: "fs", allowed: []string{"nope"}}})
	if !reflect.DeepEqual(unmatched, []string{"nothing", "fs"}) {
		t.Errorf("unmatched %v", unmatched)
	}
}
