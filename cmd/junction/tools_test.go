package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestToolsListAndCall(t *testing.T) {
	t.Parallel()
	base := startGateway(t)
	u := "--url=" + base
	up := addUpstream(t, u, "up")

	out := mustCLI(t, "tools", "list", u)
	for _, name := range []string{"up__add", "up__echo", "up__fail", "up__structured"} {
		row := rowWith(out, name)
		if len(row) < 4 || row[1] != "up" || row[2] != strings.TrimPrefix(name, "up__") {
			t.Errorf("tools list row for %s: %q in:\n%s", name, row, out)
		}
	}
	if !strings.HasPrefix(out, "NAME ") || !strings.Contains(out, "Returns the message argument unchanged") {
		t.Fatalf("tools list:\n%s", out)
	}
	var l struct{ Data []map[string]any }
	if err := json.Unmarshal([]byte(mustCLI(t, "tools", "list", u, "--json")), &l); err != nil || len(l.Data) < 4 {
		t.Fatalf("tools list --json: %v %v", l, err)
	}
	if out := mustCLI(t, "tools", "list", u, "--toolset", "nosuch"); !strings.Contains(out, "No tools") {
		t.Errorf("unknown toolset: %q", out)
	}
	r := cli(t, "tools", "list", u, "--key", "nosuch")
	if r.code != exitFailed || !strings.Contains(r.stderr, "(HTTP 404)") {
		t.Errorf("unknown key: %+v", r)
	}

	// echo, with --arg and with --args; the name may come before the flags.
	if out := mustCLI(t, "tools", "call", "up__echo", u, "--arg", "message=hello, world"); out != "hello, world\n" {
		t.Fatalf("echo: %q", out)
	}
	if out := mustCLI(t, "tools", "call", u, "--args", `{"message":"hi"}`, "--timeout", "10s", "up__echo"); out != "hi\n" {
		t.Fatalf("echo --args: %q", out)
	}
	// A quoted JSON string stays a string.
	if out := mustCLI(t, "tools", "call", "up__echo", u, "--arg", `message="42"`); out != "42\n" {
		t.Fatalf("echo a quoted number: %q", out)
	}
	if got := up.Server.Calls("echo"); got != 3 {
		t.Errorf("upstream saw %d echo calls, want 3", got)
	}

	// add: numbers as JSON; the text, then the structured content.
	out = mustCLI(t, "tools", "call", "up__add", u, "--arg", "a=2", "--arg", "b=3.5")
	if !strings.HasPrefix(out, "5.5\n") || !strings.Contains(out, `"sum": 5.5`) {
		t.Fatalf("add: %q", out)
	}
	var raw struct {
		Content           []struct{ Type, Text string }
		StructuredContent map[string]float64
	}
	out = mustCLI(t, "tools", "call", "up__add", u, "--arg", "a=1", "--arg", "b=1", "--json")
	if err := json.Unmarshal([]byte(out), &raw); err != nil || raw.StructuredContent["sum"] != 2 || raw.Content[0].Text != "2" {
		t.Fatalf("add --json: %v\n%s", err, out)
	}

	// fail: the tool's error, exit 1.
	r = cli(t, "tools", "call", "up__fail", u, "--arg", "message=disk on fire")
	if r.code != exitFailed || r.stdout != "" || r.stderr != "junction: tool up__fail failed: disk on fire\n" {
		t.Fatalf("fail: %+v", r)
	}
	r = cli(t, "tools", "call", "up__fail", u, "--json")
	if r.code != exitFailed || !strings.Contains(r.stdout, `"isError":true`) || !strings.Contains(r.stderr, "requested failure") {
		t.Fatalf("fail --json: %+v", r)
	}

	// Errors from the gateway: an unknown tool, an upstream protocol error.
	r = cli(t, "tools", "call", "up__nosuch", u)
	if r.code != exitFailed || !strings.Contains(r.stderr, "(HTTP 404)") {
		t.Fatalf("unknown tool: %+v", r)
	}
	r = cli(t, "tools", "call", "up__fail", u, "--arg", "kind=protocol", "--arg", "message=boom")
	// The gateway keeps the upstream's message for its log.
	if r.code != exitFailed || !strings.Contains(r.stderr, `tool "fail" on upstream server "up" failed`) ||
		!strings.Contains(r.stderr, "(HTTP 502)") {
		t.Fatalf("protocol error: %+v", r)
	}
}

func TestCallResultPrint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{`{"content":[{"type":"text","text":"a"},{"type":"text","text":"b\n"}]}`, "a\nb\n"},
		{`{"content":[{"type":"text","text":"{\"x\": 1}"}],"structuredContent":{"x":1}}`, "{\"x\": 1}\n"},
		{`{"content":[],"structuredContent":{"x":[1]}}`, "{\n  \"x\": [\n    1\n  ]\n}\n"},
		{`{"content":[{"type":"image","mimeType":"image/png","data":"AAAA"}]}`, "[image image/png, 4 base64 characters]\n"},
		{`{"content":[{"type":"resource","resource":{"uri":"file:///a","text":"body"}}]}`, "body\n"},
		{`{"content":[{"type":"resource_link","uri":"file:///b","name":"b"}]}`, "[resource link file:///b b]\n"},
		{`{"content":[]}`, ""},
	} {
		var r callResult
		if err := json.Unmarshal([]byte(c.in), &r); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := r.print(&b); err != nil || b.String() != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.in, b.String(), err, c.want)
		}
	}
}
