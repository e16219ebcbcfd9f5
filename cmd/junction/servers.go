package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/junctionhq/junction/registry"
)

// junction servers add|list|show|rm|refresh

var serversCommands = map[string]adminCommand{
	"add": {synopsis: "--name N --transport stdio|sse|streamable-http [flags]",
		summary: "register an upstream MCP server; the gateway connects to it in the background", setup: serversAdd},
	"list":    {synopsis: "", summary: "list the upstream MCP servers with their live state", setup: serversList},
	"show":    {synopsis: "NAME", summary: "show a server's definition, state and tools", nargs: 1, setup: serversShow},
	"rm":      {synopsis: "NAME", summary: "remove a server: its tools disappear at once", nargs: 1, setup: serversRm},
	"refresh": {synopsis: "NAME", summary: "list a ready server's tools again (after it changed them)", nargs: 1, setup: serversRefresh},
}

var transports = []string{registry.TransportStdio, registry.TransportSSE, registry.TransportStreamableHTTP}

func serversAdd(fs *flag.FlagSet) adminAction {
	var cfg registry.ServerConfig
	var args repeatedFlag
	env, headers := kvFlag{}, kvFlag{}
	var include, exclude, passthrough stringList
	fs.StringVar(&cfg.Name, "name", "", "name of the server (required)")
	fs.StringVar(&cfg.Transport, "transport", "", "how to reach it: stdio, sse or streamable-http (required)")
	fs.StringVar(&cfg.Command, "command", "", "program to run (stdio; required for it)")
	fs.Var(&args, "arg", "argument of --command (stdio; repeatable, in order)")
	fs.Var(env, "env", "K=V environment variable for --command (stdio; repeatable; stored encrypted)")
	fs.Var(&passthrough, "env-passthrough", "NAME of a gateway environment variable also given to --command (stdio; repeatable; exact names, never JUNCTION_*)")
	fs.StringVar(&cfg.Cwd, "cwd", "", "working directory of --command (stdio)")
	// --url is the gateway's, as for every admin command.
	fs.StringVar(&cfg.URL, "server-url", "", "endpoint of the server, http or https (sse, streamable-http; required for them)")
	fs.Var(headers, "header", "K=V header sent to the server (sse, streamable-http; repeatable; stored encrypted)")
	fs.StringVar(&cfg.Bearer, "bearer", "", "token sent as \"Authorization: Bearer <token>\" (sse, streamable-http; stored encrypted)")
	timeout := fs.Duration("timeout", 0, "bound on one tool call (default 60s)")
	connectTimeout := fs.Duration("connect-timeout", 0, "bound on connecting and listing the tools (default 20s)")
	prefix := fs.String("prefix", "", "start of the public names of its tools (default the server name; \"\" for none)")
	fs.Var(&include, "include-tools", "serve only the upstream tools matching this pattern, * a wildcard (repeatable)")
	fs.Var(&exclude, "exclude-tools", "do not serve the upstream tools matching this pattern (repeatable)")
	fs.BoolVar(&cfg.Disabled, "disabled", false, "register the server without connecting to it")
	return func(ctx context.Context, a *admin, _ []string) error {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if cfg.Name == "" {
			return usageErrorf("--name is required")
		}
		if cfg.Transport == "" {
			return usageErrorf("--transport is required: one of %s", strings.Join(transports, ", "))
		}
		if !slices.Contains(transports, cfg.Transport) {
			return usageErrorf("--transport %q is not one of %s", cfg.Transport, strings.Join(transports, ", "))
		}
		wrong := []string{"server-url", "header", "bearer"}
		if cfg.Transport != registry.TransportStdio {
			wrong = []string{"command", "arg", "env", "env-passthrough", "cwd"}
		}
		for _, f := range wrong {
			if set[f] {
				return usageErrorf("--%s is not used by transport %s", f, cfg.Transport)
			}
		}
		switch {
		case cfg.Transport == registry.TransportStdio && cfg.Command == "":
			return usageErrorf("--command is required for transport stdio")
		case cfg.Transport != registry.TransportStdio && cfg.URL == "":
			return usageErrorf("--server-url is required for transport %s", cfg.Transport)
		}
		cfg.Args = args
		cfg.EnvPassthrough = passthrough
		if len(env) > 0 {
			cfg.Env = env
		}
		if len(headers) > 0 {
			cfg.Headers = headers
		}
		cfg.Timeout, cfg.ConnectTimeout = registry.Duration(*timeout), registry.Duration(*connectTimeout)
		if set["prefix"] {
			cfg.Prefix = prefix
		}
		cfg.IncludeTools, cfg.ExcludeTools = include, exclude
		return call(ctx, a, http.MethodPost, "/admin/v1/servers", nil, cfg, func(w io.Writer, s registry.ServerInfo) error {
			next := "It connects in the background"
			if s.Disabled {
				next = "It is disabled: the gateway does not connect to it"
			}
			_, err := fmt.Fprintf(w, "Added server %q (%s), state %s. %s; see `junction servers show %s`.\n",
				s.Name, s.Transport, orDash(s.Status.State), next, s.Name)
			return err
		})
	}
}

var serversList = requestAction(http.MethodGet, "/admin/v1/servers", listTable(
	"No servers. Add one with `junction servers add`.",
	[]string{"NAME", "TRANSPORT", "STATE", "TOOLS", "PROTOCOL", "SOURCE", "ERROR"},
	func(s registry.ServerInfo) []string {
		return []string{s.Name, s.Transport, orDash(serverState(s)), fmt.Sprint(s.Status.Tools),
			orDash(s.Status.ProtocolVersion), orDash(s.Source), orDash(oneLine(s.Status.Error))}
	}))

// serverState is the live state, or "disabled" for a server that is.
func serverState(s registry.ServerInfo) string {
	if s.Status.State == "" && s.Disabled {
		return "disabled"
	}
	return s.Status.State
}

// serverTool is an entry of GET /admin/v1/servers/{name}/tools.
type serverTool struct {
	Name       string          `json:"name"`
	PublicName string          `json:"public_name"`
	Tool       json.RawMessage `json:"tool"`
}

// description is the tool's description from its MCP definition.
func (t serverTool) description() string {
	var d struct {
		Description string `json:"description"`
	}
	_ = json.Unmarshal(t.Tool, &d)
	return d.Description
}

func serversShow(fs *flag.FlagSet) adminAction {
	return func(ctx context.Context, a *admin, args []string) error {
		path := "/admin/v1/servers/" + url.PathEscape(args[0])
		info, err := a.do(ctx, http.MethodGet, path, nil, nil)
		if err != nil {
			return err
		}
		tools, err := a.do(ctx, http.MethodGet, path+"/tools", nil, nil)
		if err != nil {
			return err
		}
		var l listResponse[json.RawMessage]
		if err := json.Unmarshal(tools, &l); err != nil {
			return fmt.Errorf("decode the gateway's response: %w", err)
		}
		// --json prints both responses: {"server": {...}, "tools": [...]}.
		raw, err := json.Marshal(struct {
			Server json.RawMessage   `json:"server"`
			Tools  []json.RawMessage `json:"tools"`
		}{json.RawMessage(info), append([]json.RawMessage{}, l.Data...)})
		if err != nil {
			return err
		}
		return respond(a, raw, printServer)
	}
}

func printServer(w io.Writer, v struct {
	Server registry.ServerInfo `json:"server"`
	Tools  []serverTool        `json:"tools"`
}) error {
	s := v.Server
	bearer := "-"
	if s.Bearer {
		bearer = "set"
	}
	prefix := s.Prefix
	if prefix == "" {
		prefix = "(none)"
	}
	if err := fieldTable(w, "SERVER", s.Name, [][2]string{
		{"TRANSPORT", s.Transport},
		{"STATE", orDash(serverState(s))},
		{"ERROR", orDash(oneLine(s.Status.Error))},
		{"SINCE", formatTime(&s.Status.Since)},
		{"PROTOCOL", orDash(s.Status.ProtocolVersion)},
		{"TOOLS", fmt.Sprint(s.Status.Tools)},
		{"RESTARTS", fmt.Sprint(s.Status.Restarts)},
		{"CALLER_SESSIONS", fmt.Sprint(s.Status.CallerSessions)},
		{"COMMAND", orDash(s.Command)},
		{"ARGS", orDash(quoteArgs(s.Args))},
		{"ENV", formatList(s.Env)},
		{"ENV_PASSTHROUGH", formatList(s.EnvPassthrough)},
		{"CWD", orDash(s.Cwd)},
		{"URL", orDash(s.URL)},
		{"HEADERS", formatList(s.Headers)},
		{"BEARER", bearer},
		{"TIMEOUT", s.Timeout.String()},
		{"CONNECT_TIMEOUT", s.ConnectTimeout.String()},
		{"DISABLED", fmt.Sprint(s.Disabled)},
		{"PREFIX", prefix},
		{"INCLUDE_TOOLS", formatList(s.IncludeTools)},
		{"EXCLUDE_TOOLS", formatList(s.ExcludeTools)},
		{"SOURCE", orDash(s.Source)},
		{"CREATED", formatTime(&s.CreatedAt)},
		{"UPDATED", formatTime(&s.UpdatedAt)},
	}); err != nil {
		return err
	}
	if len(v.Tools) == 0 {
		_, err := fmt.Fprintln(w, "No tools (a server offers its tools only while it is ready).")
		return err
	}
	t := newTable(w, "TOOL", "PUBLIC_NAME", "DESCRIPTION")
	for _, tool := range v.Tools {
		t.row(tool.Name, orDash(tool.PublicName), orDash(truncate(oneLine(tool.description()), descriptionWidth)))
	}
	return t.flush()
}

var serversRm = deleteAction("/admin/v1/servers", "Removed server")

func serversRefresh(fs *flag.FlagSet) adminAction {
	return func(ctx context.Context, a *admin, args []string) error {
		a.http.Timeout = 0 // reconnecting is bounded by the server's connect timeout, which may exceed adminTimeout
		return call(ctx, a, http.MethodPost, "/admin/v1/servers/"+url.PathEscape(args[0])+"/refresh", nil, nil, func(w io.Writer, s registry.ServerInfo) error {
			msg := fmt.Sprintf("Refreshed server %q: state %s, %d tool(s)", s.Name, orDash(serverState(s)), s.Status.Tools)
			if s.Status.Error != "" {
				msg += ", error: " + oneLine(s.Status.Error)
			}
			_, err := fmt.Fprintln(w, msg+".")
			return err
		})
	}
}

// descriptionWidth is how many characters of a tool's description a table shows.
const descriptionWidth = 60

// truncate cuts s to at most n runes, marking a cut with "…".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// oneLine collapses runs of white space, newlines included, to one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// quoteArgs shows a command's arguments, quoting those that need it.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\,") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// repeatedFlag is a repeatable flag whose values are kept whole (commas
// included), in order.
type repeatedFlag []string

func (l *repeatedFlag) String() string { return strings.Join(*l, " ") }

func (l *repeatedFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// kvFlag is a repeatable K=V flag; a later K replaces an earlier one.
type kvFlag map[string]string

func (m kvFlag) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

func (m kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q is not K=V", v)
	}
	m[strings.TrimSpace(k)] = val
	return nil
}
