package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// adminCommand is one admin subcommand, such as "keys create".
type adminCommand struct {
	synopsis string // what follows the command's name in its usage line
	summary  string // one line for the group's help
	nargs    int    // positional arguments it takes
	// setup registers the command's own flags and returns what it does.
	setup func(fs *flag.FlagSet) adminAction
}

// adminAction runs a parsed command against the gateway.
type adminAction func(ctx context.Context, a *admin, args []string) error

// admin is what an action works with: the client, where to print, and
// whether to print raw JSON.
type admin struct {
	*adminClient
	out  io.Writer
	json bool
}

// runAdminGroup dispatches "junction <group> <sub> ...".
func runAdminGroup(ctx context.Context, group string, cmds map[string]adminCommand, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "junction %s: missing subcommand\n\n", group)
		groupUsage(stderr, group, cmds)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "help", "-h", "-help", "--help":
		groupUsage(stdout, group, cmds)
		return exitOK
	}
	cmd, ok := cmds[sub]
	if !ok {
		fmt.Fprintf(stderr, "junction %s: unknown subcommand %q\n\n", group, sub)
		groupUsage(stderr, group, cmds)
		return exitUsage
	}
	return runAdmin(ctx, group+" "+sub, cmd, args, stdout, stderr, lookupEnv)
}

func groupUsage(w io.Writer, group string, cmds map[string]adminCommand) {
	fmt.Fprintf(w, "Usage:\n")
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  junction %s %s %s\n      %s\n", group, name, cmds[name].synopsis, cmds[name].summary)
	}
	fmt.Fprintf(w, "\nRun \"junction %s <subcommand> --help\" for its flags.\n", group)
}

// runAdmin parses the common and the command's flags, builds the client and
// maps the action's error to an exit code.
func runAdmin(ctx context.Context, name string, cmd adminCommand, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	fs := flag.NewFlagSet("junction "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		baseURL  = fs.String("url", defaultAdminURL, "base URL of the gateway")
		adminKey = fs.String("admin-key", "", "the gateway's admin key (default $JUNCTION_ADMIN_KEY)")
		asJSON   = fs.Bool("json", false, "print the raw JSON response instead of a table")
	)
	action := cmd.setup(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: junction %s %s\n  %s\n\nFlags:\n", name, cmd.synopsis, cmd.summary)
		fs.PrintDefaults()
	}
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(positional) != cmd.nargs {
		fmt.Fprintf(stderr, "junction %s: want %d argument(s), got %d\n", name, cmd.nargs, len(positional))
		fs.Usage()
		return exitUsage
	}
	key := firstNonEmpty(*adminKey, env(lookupEnv, "JUNCTION_ADMIN_KEY"))
	if key == "" {
		fmt.Fprintln(stderr, "junction: no admin key: pass --admin-key or set JUNCTION_ADMIN_KEY "+
			"(a gateway started without one prints a generated key once, at first start)")
		return exitUsage
	}
	client, err := newAdminClient(*baseURL, key)
	if err == nil {
		err = action(ctx, &admin{adminClient: client, out: stdout, json: *asJSON}, positional)
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "junction %s: %s\n", name, ue.msg)
		fs.Usage()
		return exitUsage
	default:
		fmt.Fprintf(stderr, "junction: %v\n", err)
		return exitFailed
	}
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("keys revoke NAME --url U"); everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// respond prints a response: raw with --json, else decoded into a T and
// rendered.
func respond[T any](a *admin, raw []byte, render func(w io.Writer, v T) error) error {
	if a.json {
		if _, err := a.out.Write(raw); err != nil {
			return err
		}
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			_, err := io.WriteString(a.out, "\n")
			return err
		}
		return nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("decode the gateway's response: %w", err)
	}
	return render(a.out, v)
}

// call sends one request and prints its response with respond.
func call[T any](ctx context.Context, a *admin, method, path string, query url.Values, body any, render func(w io.Writer, v T) error) error {
	raw, err := a.do(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	return respond(a, raw, render)
}

// requestAction is the setup of a command without flags or arguments: it
// sends one request to path and prints the response with render.
func requestAction[T any](method, path string, render func(w io.Writer, v T) error) func(*flag.FlagSet) adminAction {
	return func(*flag.FlagSet) adminAction {
		return func(ctx context.Context, a *admin, _ []string) error {
			return call(ctx, a, method, path, nil, nil, render)
		}
	}
}

// deleteAction is the setup of a command that deletes the resource its
// argument names below collection (such as "/admin/v1/keys") and confirms
// with done ("Revoked key").
func deleteAction(collection, done string) func(*flag.FlagSet) adminAction {
	return func(*flag.FlagSet) adminAction {
		return func(ctx context.Context, a *admin, args []string) error {
			if _, err := a.do(ctx, http.MethodDelete, collection+"/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if !a.json { // the response is 204, with no JSON to print
				fmt.Fprintf(a.out, "%s %s.\n", done, args[0])
			}
			return nil
		}
	}
}

// listTable renders a list response as a table with a row per item; an
// empty list prints the empty message instead, if there is one.
func listTable[T any](empty string, header []string, row func(T) []string) func(io.Writer, listResponse[T]) error {
	return func(w io.Writer, l listResponse[T]) error {
		if len(l.Data) == 0 && empty != "" {
			_, err := fmt.Fprintln(w, empty)
			return err
		}
		t := newTable(w, header...)
		for _, v := range l.Data {
			t.row(row(v)...)
		}
		return t.flush()
	}
}

// queryParam is a command flag sent as a query parameter when set.
type queryParam struct{ flag, param, help string }

// queryFlags registers a string flag per parameter and returns a function
// that builds the query from the flags that were set.
func queryFlags(fs *flag.FlagSet, params ...queryParam) func() url.Values {
	values := make([]*string, len(params))
	for i, p := range params {
		values[i] = fs.String(p.flag, "", p.help)
	}
	return func() url.Values {
		q := url.Values{}
		for i, p := range params {
			if *values[i] != "" {
				q.Set(p.param, *values[i])
			}
		}
		return q
	}
}

// listResponse is the admin API's list shape.
type listResponse[T any] struct {
	Data []T `json:"data"`
}

// stringList is a repeatable flag; each use appends, and a value may also
// hold several, comma-separated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
