// Command junction runs the Junction gateway and talks to a running one.
//
//	junction [serve] [--config FILE] [--listen ADDR] [--data-dir DIR] [--log-format json|pretty] [--log-level LEVEL]
//	junction version
//	junction keys create|list|revoke|show [flags]
//	junction teams create|list [flags]
//	junction servers add|list|show|rm|refresh [flags]
//	junction providers add|list|rm [flags]
//	junction tools list|call [flags]
//	junction usage [flags]
//	junction cache stats|purge [flags]
//	junction reload [flags]
//
// SIGHUP makes a running `junction serve` reload its configuration file.
//
// It parses flags, loads the configuration, builds the gateway and maps the
// outcome to an exit code; everything else lives in the packages. The admin
// subcommands are thin clients of a running gateway's admin API.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the gateway failed at run time, or an admin request failed
	exitUsage  = 2 // bad command line or configuration
)

// adminGroups are the admin commands with subcommands ("keys create"),
// adminSingles those without ("usage").
var (
	adminGroups = map[string]map[string]adminCommand{
		"keys":      keysCommands,
		"teams":     teamsCommands,
		"servers":   serversCommands,
		"providers": providersCommands,
		"tools":     toolsCommands,
		"cache":     cacheCommands,
	}
	adminSingles = map[string]adminCommand{
		"usage":  usageCommand,
		"reload": reloadCommand,
	}
)

// run dispatches a command line; it is main without the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if group, ok := adminGroups[cmd]; ok {
		return runAdminGroup(ctx, cmd, group, args, stdout, stderr, lookupEnv)
	}
	if single, ok := adminSingles[cmd]; ok {
		return runAdmin(ctx, cmd, single, args, stdout, stderr, lookupEnv)
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stderr, lookupEnv)
	case "version":
		fmt.Fprintln(stdout, "junction", version())
		return exitOK
	case "help":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "junction: unknown command %q\n\n", cmd)
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  junction [serve] [flags]                         run the gateway (the default command)
  junction version                                 print the version
  junction keys create|list|revoke|show            manage the virtual keys of a running gateway
  junction teams create|list                       manage the teams of a running gateway
  junction servers add|list|show|rm|refresh        manage the upstream MCP servers of a running gateway
  junction providers add|list|rm                   manage the LLM providers of a running gateway
  junction tools list|call                         list and call the federated tools of a running gateway
  junction usage [flags]                           report the usage a running gateway recorded
  junction cache stats|purge                       inspect or empty the response cache of a running gateway
  junction reload                                  reload the configuration file of a running gateway (as SIGHUP does)
  junction help                                    show this help

The admin commands (keys, teams, servers, providers, tools, usage, cache, reload) take --url (default `+defaultAdminURL+`),
--admin-key (default $JUNCTION_ADMIN_KEY) and --json (print the raw JSON response).
Run "junction <command> --help" for a command's flags.
`)
}
