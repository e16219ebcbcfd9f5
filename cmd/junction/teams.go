package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/junctionhq/junction/policy"
)

// junction teams create|list

var teamsCommands = map[string]adminCommand{
	"create": {synopsis: "--name N [flags]", summary: "create a team with an optional budget and rate limits", setup: teamsCreate},
	"list":   {synopsis: "", summary: "list the teams", setup: teamsList},
}

func teamsCreate(fs *flag.FlagSet) adminAction {
	var in policy.TeamInput
	fs.StringVar(&in.Name, "name", "", "name of the team (required)")
	budget := budgetFlags(fs)
	limitFlags(fs, &in.Limits)
	return func(ctx context.Context, a *admin, _ []string) error {
		if in.Name == "" {
			return usageErrorf("--name is required")
		}
		var err error
		if in.Budget, err = budget(); err != nil {
			return err
		}
		return call(ctx, a, http.MethodPost, "/admin/v1/teams", nil, in, func(w io.Writer, t policy.Team) error {
			_, err := fmt.Fprintf(w, "Created team %q.\n", t.Name)
			return err
		})
	}
}

var teamsList = requestAction(http.MethodGet, "/admin/v1/teams", listTable("",
	[]string{"NAME", "BUDGET", "RPM", "TPM", "TOOL_CALLS/MIN", "SOURCE"},
	func(team policy.Team) []string {
		return []string{team.Name, formatBudget(team.Budget), formatLimit(team.Limits.RPM), formatLimit(team.Limits.TPM),
			formatLimit(team.Limits.ToolCallsPerMin), team.Source}
	}))
