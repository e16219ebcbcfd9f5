package agent

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/junctionhq/junction/apierror"
)

// mcpEntriesIn reports the MCP entries a format decoder would see in body,
// which it reads with exact key names: tools entries of type "mcp" or
// "mcp_toolset", and an mcp_servers field.
func mcpEntriesIn(body []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	var found []string
	if _, ok := top["mcp_servers"]; ok {
		found = append(found, "mcp_servers")
	}
	var entries []map[string]json.RawMessage
	if json.Unmarshal(top["tools"], &entries) != nil {
		return found
	}
	for _, e := range entries {
		var typ string
		if json.Unmarshal(e["type"], &typ) == nil && (typ == "mcp" || typ == "mcp_toolset") {
			found = append(found, "tools entry of type "+typ)
		}
	}
	return found
}

// isBadRequest reports whether err is the 400 the client gets for bad input.
func isBadRequest(err error) bool {
	var ae *apierror.Error
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.Message != ""
}

// FuzzSplitAgentRequest: SplitRequest never panics; it fails only with
// a 400; on success the body it hands on is a valid JSON object with no MCP
// entry left for the provider, and every selection names something.
func FuzzSplitAgentRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"about mcp"}]}`,
		`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}},{"type":"mcp","server_label":"github","allowed_tools":{"tool_names":["list"]},"require_approval":{"always":{"tool_names":["delete"]},"never":{"tool_names":["list"]}}}]}`,
		`{"tools":[{"type":"mcp","server_label":"*","require_approval":"always","allowed_tools":["a","b"]}]}`,
		`{"tools":[{"type":"mcp","server_label":"x","require_approval":"never"}]}`,
		`{"model":"m","max_tokens":5,"tools":[{"type":"mcp","server_label":"a"}],"mcp_servers":[{"type":"url","name":"b","tool_configuration":{"allowed_tools":["x"]}},{"name":"c","tool_configuration":{"enabled":false}}]}`,
		`{"mcp_servers":[{"type":"url","name":"gh"},{"type":"url","name":"fs"}],"tools":[{"type":"mcp_toolset","mcp_server_name":"gh","configs":{"delete":{"enabled":false}}},{"type":"mcp_toolset","mcp_server_name":"web","default_config":{"enabled":false},"configs":{"search":{"enabled":true},"x":{}}}]}`,
		`{"tools":[{"type":"mcp"}]}`,
		`{"tools":[{"type":"mcp","server_label":"x","server_url":"https://e.com/mcp"}]}`,
		`{"tools":[{"type":"mcp","server_label":"x","allowed_tools":7}]}`,
		`{"tools":[{"type":"mcp","server_label":5}]}`,
		`{"tools":[{"type":"mcp_toolset","mcp_server_name":"gh","configs":[]}]}`,
		`{"tools":[{"type":"mcp","server_label":"x","headers":{"Authorization":"Bearer t"}}]}`,
		`{"tools":[{"type":"function"},{"TYPE":"mcp","server_label":"x"}],"tools":null}`,
		`{"mcp_servers":[{"type":"url","url":"https://e.com","name":"x"}]}`,
		`{"mcp_servers":[{}]}`,
		`{"mcp_servers":null}`,
		`{"mcp_servers":{}}`,
		`{"tools":{}}`,
		`{"tools":[1,"mcp",null,{"type":"mcp"`,
		`[1]`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sels, rest, err := SplitRequest(body)
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("error %v (%T) is not a 400", err, err)
			}
			if sels != nil || rest != nil {
				t.Fatalf("an error with selections %+v or a body %q", sels, rest)
			}
			return
		}
		forwarded := body
		if rest != nil {
			forwarded = rest
			var top map[string]json.RawMessage
			if !json.Valid(rest) || json.Unmarshal(rest, &top) != nil {
				t.Fatalf("the body handed on is not a JSON object: %q", rest)
			}
		} else if sels != nil {
			t.Fatalf("selections %+v with nothing taken from the body", sels)
		}
		if found := mcpEntriesIn(forwarded); len(found) > 0 {
			t.Fatalf("the body handed on still has %v: %q", found, forwarded)
		}
		for _, s := range sels {
			if s.label == "" {
				t.Fatalf("a selection with no label: %+v", s)
			}
		}
	})
}

// FuzzParseToolsHeader: ParseToolsHeader never panics, fails only with a
// 400, and on success every selection has a trimmed label free of the
// separators and, when restricted, a non-empty list of trimmed tool names.
func FuzzParseToolsHeader(f *testing.F) {
	for _, s := range []string{
		"*", "github,filesystem", "github:create_issue|list_issues,readonly", " gh : a | b ,, fs ",
		"", ",", ":", "gh:", "gh:|", ":tool", "a:b:c", "gh:a|b|", "\t*\t", "é:ü", "gh:\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sels, err := ParseToolsHeader(v)
		if err != nil {
			if !isBadRequest(err) || sels != nil {
				t.Fatalf("error %v (%T) with %+v", err, err, sels)
			}
			return
		}
		if len(sels) == 0 {
			t.Fatal("success with no selection")
		}
		for _, s := range sels {
			if s.label == "" || s.label != strings.TrimSpace(s.label) || strings.ContainsAny(s.label, ",:") {
				t.Fatalf("bad label %q in %q", s.label, v)
			}
			if s.allowed != nil && len(s.allowed) == 0 {
				t.Fatalf("%q: an empty tool list allows nothing", v)
			}
			for _, name := range s.allowed {
				if name == "" || name != strings.TrimSpace(name) || strings.ContainsAny(name, ",|") {
					t.Fatalf("bad tool name %q in %q", name, v)
				}
			}
			if s.denied != nil || s.always || s.approve != nil || s.noApprove != nil {
				t.Fatalf("the header set an approval or deny rule: %+v", s)
			}
		}
	})
}
