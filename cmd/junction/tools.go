package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// junction tools list|call

var toolsCommands = map[string]adminCommand{
	"list": {synopsis: "[--key K] [--toolset T]", summary: "list the federated tools under their public names", setup: toolsList},
	"call": {synopsis: "NAME [--args JSON | --arg K=V ...] [--timeout D]",
		summary: "call a tool as the admin and print its result", nargs: 1, setup: toolsCall},
}

// toolInfo is an entry of GET /admin/v1/tools (mcp.ToolInfo). The gateway
// writes its fields without JSON tags (Name, Server, ...); decoding matches
// them case-insensitively, so this reads either spelling.
type toolInfo struct {
	Name        string `json:"name"`
	Server      string `json:"server"`
	Tool        string `json:"tool"`
	Description string `json:"description"`
}

func toolsList(fs *flag.FlagSet) adminAction {
	query := queryFlags(fs,
		queryParam{"key", "key", "only the tools this virtual key (id or name) may call"},
		queryParam{"toolset", "toolset", "only the tools of this toolset"})
	render := listTable("No tools.", []string{"NAME", "SERVER", "TOOL", "DESCRIPTION"}, func(tool toolInfo) []string {
		return []string{tool.Name, tool.Server, tool.Tool, orDash(truncate(oneLine(tool.Description), descriptionWidth))}
	})
	return func(ctx context.Context, a *admin, _ []string) error {
		return call(ctx, a, http.MethodGet, "/admin/v1/tools", query(), nil, render)
	}
}

// callRequest is the body of POST /admin/v1/tools/call.
type callRequest struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Timeout   string          `json:"timeout,omitempty"`
}

// callResult is the part of an MCP CallToolResult the CLI prints.
type callResult struct {
	Content           []contentBlock  `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent"`
	IsError           bool            `json:"isError"`
}

type contentBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"`
	URI      string `json:"uri"`
	Name     string `json:"name"`
	Resource *struct {
		URI      string  `json:"uri"`
		MIMEType string  `json:"mimeType"`
		Text     *string `json:"text"`
	} `json:"resource"`
}

// callMargin is how much longer than the call's own timeout the CLI waits
// for the gateway's answer.
const callMargin = 15 * time.Second

func toolsCall(fs *flag.FlagSet) adminAction {
	argsJSON := fs.String("args", "", "the arguments as one JSON object, e.g. '{\"message\":\"hi\"}'")
	var pairs repeatedFlag
	fs.Var(&pairs, "arg", "K=V argument (repeatable): V is taken as JSON when it is valid JSON (42, true, [1], \"quoted\"), else as a string")
	timeout := fs.Duration("timeout", 0, "bound on the call, e.g. 30s (default the server's timeout)")
	return func(ctx context.Context, a *admin, args []string) error {
		req := callRequest{Name: args[0]}
		switch {
		case *argsJSON != "" && len(pairs) > 0:
			return usageErrorf("use --args or --arg, not both")
		case *argsJSON != "":
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(*argsJSON), &obj); err != nil || obj == nil {
				return usageErrorf("--args must be a JSON object such as '{\"message\":\"hi\"}'")
			}
			req.Arguments = json.RawMessage(*argsJSON)
		case len(pairs) > 0:
			obj := map[string]json.RawMessage{}
			for _, p := range pairs {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					return usageErrorf("--arg %q is not K=V", p)
				}
				if json.Valid([]byte(v)) && strings.TrimSpace(v) != "" {
					obj[k] = json.RawMessage(v)
				} else {
					s, _ := json.Marshal(v)
					obj[k] = s
				}
			}
			b, err := json.Marshal(obj)
			if err != nil {
				return err
			}
			req.Arguments = b
		}
		if *timeout < 0 {
			return usageErrorf("--timeout must be positive")
		}
		if *timeout > 0 {
			req.Timeout = timeout.String()
			a.http.Timeout = max(adminTimeout, *timeout+callMargin)
		} else {
			// The gateway bounds the call by the server's timeout, which
			// may be longer than adminTimeout.
			a.http.Timeout = 0
		}
		raw, err := a.do(ctx, http.MethodPost, "/admin/v1/tools/call", nil, req)
		if err != nil {
			return err
		}
		var res callResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("decode the gateway's response: %w", err)
		}
		if res.IsError {
			if a.json { // the raw result still goes to stdout
				if err := respond(a, raw, func(io.Writer, callResult) error { return nil }); err != nil {
					return err
				}
			}
			msg := strings.TrimSpace(res.text())
			if msg == "" {
				msg = "(no message)"
			}
			return fmt.Errorf("tool %s failed: %s", req.Name, msg)
		}
		return respond(a, raw, func(w io.Writer, r callResult) error { return r.print(w) })
	}
}

// text joins the text of the result's text blocks, one per line.
func (r callResult) text() string {
	var b strings.Builder
	for _, c := range r.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
			if !strings.HasSuffix(c.Text, "\n") {
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

// print writes each content block (text as is, others as a one-line
// summary), then structuredContent as indented JSON unless a text block
// already holds the same JSON.
func (r callResult) print(w io.Writer) error {
	var b strings.Builder
	line := func(s string) {
		b.WriteString(s)
		if !strings.HasSuffix(s, "\n") {
			b.WriteByte('\n')
		}
	}
	for _, c := range r.Content {
		switch c.Type {
		case "text":
			line(c.Text)
		case "image", "audio":
			line(fmt.Sprintf("[%s %s, %d base64 characters]", c.Type, orDash(c.MIMEType), len(c.Data)))
		case "resource_link":
			line(fmt.Sprintf("[resource link %s %s]", c.URI, c.Name))
		case "resource":
			switch {
			case c.Resource == nil:
				line("[resource]")
			case c.Resource.Text != nil:
				line(*c.Resource.Text)
			default:
				line(fmt.Sprintf("[resource %s %s]", c.Resource.URI, orDash(c.Resource.MIMEType)))
			}
		default:
			line(fmt.Sprintf("[%s content]", c.Type))
		}
	}
	if sc := bytes.TrimSpace(r.StructuredContent); len(sc) > 0 && !bytes.Equal(sc, []byte("null")) && !r.textHolds(sc) {
		var out bytes.Buffer
		if err := json.Indent(&out, sc, "", "  "); err != nil {
			return errors.New("the result's structuredContent is not valid JSON")
		}
		line(out.String())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// textHolds reports whether a text block is the same JSON value as v (the
// text fallback MCP servers send beside structuredContent).
func (r callResult) textHolds(v json.RawMessage) bool {
	var want any
	if json.Unmarshal(v, &want) != nil {
		return false
	}
	for _, c := range r.Content {
		var got any
		if c.Type == "text" && json.Unmarshal([]byte(c.Text), &got) == nil && reflect.DeepEqual(got, want) {
			return true
		}
	}
	return false
}
