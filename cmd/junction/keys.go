package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/junctionhq/junction/policy"
)

// junction keys create|list|revoke|show

var keysCommands = map[string]adminCommand{
	"create": {synopsis: "--name N [flags]", summary: "create a virtual key and print its secret (shown only once)", setup: keysCreate},
	"list":   {synopsis: "[--team T]", summary: "list the virtual keys", setup: keysList},
	"revoke": {synopsis: "ID_OR_NAME", summary: "revoke a key: it stops authenticating at once", nargs: 1, setup: keysRevoke},
	"show":   {synopsis: "ID_OR_NAME", summary: "show a key with its live budget and rate-limit state", nargs: 1, setup: keysShow},
}

// createdKey is the create-key response: the key plus its secret.
type createdKey struct {
	policy.Key
	Secret string `json:"key"`
}

func keysCreate(fs *flag.FlagSet) adminAction {
	var in policy.KeyInput
	var roles, models, tools stringList
	fs.StringVar(&in.Name, "name", "", "name of the key (required)")
	fs.StringVar(&in.Team, "team", "", "team that owns the key")
	fs.Var(&roles, "role", "role the key holds in its team (repeatable)")
	fs.Var(&models, "model", "model pattern the key may use (repeatable; default *)")
	fs.Var(&tools, "tool", "tool pattern the key may call (repeatable; default *)")
	fs.StringVar(&in.Customer, "customer", "", "customer to tag the key's usage with")
	budget := budgetFlags(fs)
	limitFlags(fs, &in.Limits)
	expiresIn := fs.Duration("expires-in", 0, "expire the key after this long, e.g. 720h")
	expiresAt := fs.String("expires-at", "", "expire the key at this RFC 3339 time")
	return func(ctx context.Context, a *admin, _ []string) error {
		if in.Name == "" {
			return usageErrorf("--name is required")
		}
		in.Roles, in.Models, in.Tools = roles, models, tools
		var err error
		if in.Budget, err = budget(); err != nil {
			return err
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		switch {
		case set["expires-in"] && *expiresAt != "":
			return usageErrorf("use --expires-in or --expires-at, not both")
		case set["expires-in"] && *expiresIn <= 0:
			return usageErrorf("--expires-in must be a positive duration such as 720h, not %s: a key cannot be created already expired", *expiresIn)
		case set["expires-in"]:
			t := time.Now().Add(*expiresIn).UTC().Truncate(time.Second)
			in.ExpiresAt = &t
		case *expiresAt != "":
			t, err := time.Parse(time.RFC3339, *expiresAt)
			if err != nil {
				return usageErrorf("--expires-at %q is not an RFC 3339 time such as 2030-01-02T15:04:05Z", *expiresAt)
			}
			in.ExpiresAt = &t
		}
		return call(ctx, a, http.MethodPost, "/admin/v1/keys", nil, in, func(w io.Writer, k createdKey) error {
			team := ""
			if k.Team != "" {
				team = fmt.Sprintf(" in team %q", k.Team)
			}
			_, err := fmt.Fprintf(w, "Created key %q%s, id %s.\n\n    %s\n\n"+
				"This is the key's secret. Save it now: it is not stored and cannot be shown again.\n",
				k.Name, team, k.ID, k.Secret)
			return err
		})
	}
}

func keysList(fs *flag.FlagSet) adminAction {
	query := queryFlags(fs, queryParam{"team", "team", "only the keys of this team"})
	render := listTable("", []string{"ID", "NAME", "TEAM", "ENABLED", "EXPIRES", "HINT", "SOURCE"}, func(k policy.Key) []string {
		return []string{k.ID, k.Name, orDash(k.Team), fmt.Sprint(k.Enabled), formatTime(k.ExpiresAt), k.Hint, k.Source}
	})
	return func(ctx context.Context, a *admin, _ []string) error {
		return call(ctx, a, http.MethodGet, "/admin/v1/keys", query(), nil, render)
	}
}

var keysRevoke = deleteAction("/admin/v1/keys", "Revoked key")

func keysShow(fs *flag.FlagSet) adminAction {
	return func(ctx context.Context, a *admin, args []string) error {
		return call(ctx, a, http.MethodGet, "/admin/v1/keys/"+url.PathEscape(args[0])+"/state", nil, nil, printKeyState)
	}
}

func printKeyState(w io.Writer, st policy.KeyState) error {
	k := st.Key
	if err := fieldTable(w, "KEY", k.Name, [][2]string{
		{"ID", k.ID},
		{"TEAM", orDash(k.Team)},
		{"CUSTOMER", orDash(k.Customer)},
		{"ENABLED", fmt.Sprint(k.Enabled)},
		{"EXPIRES", formatTime(k.ExpiresAt)},
		{"ROLES", formatList(k.Roles)},
		{"MODELS", formatList(k.Models)},
		{"TOOLS", formatList(k.Tools)},
		{"HINT", k.Hint},
		{"SOURCE", k.Source},
	}); err != nil {
		return err
	}
	if len(st.Budgets) == 0 {
		fmt.Fprintln(w, "No budgets.")
	} else {
		t := newTable(w, "BUDGET", "LIMIT_USD", "SPENT_USD", "REMAINING_USD", "PERIOD", "RESETS")
		for _, b := range st.Budgets {
			t.row(string(b.Scope), formatUSD(b.LimitUSD), formatUSD(b.SpentUSD), formatUSD(b.RemainingUSD),
				orDash(string(b.Period)), formatTime(b.ResetsAt))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if len(st.Limits) == 0 {
		_, err := fmt.Fprintln(w, "No rate limits.")
		return err
	}
	t := newTable(w, "RATE_LIMIT", "PER_MINUTE", "LIMIT", "USED", "REMAINING", "RESETS")
	for _, l := range st.Limits {
		t.row(string(l.Scope), string(l.Dimension), fmt.Sprint(l.Limit), fmt.Sprint(l.Used), fmt.Sprint(l.Remaining),
			formatTime(&l.ResetsAt))
	}
	return t.flush()
}

// budgetFlags registers --budget-usd and --budget-period; the returned
// function gives the budget they describe, or nil when --budget-usd is unset.
func budgetFlags(fs *flag.FlagSet) func() (*policy.Budget, error) {
	usd := fs.Float64("budget-usd", 0, "budget in USD per period")
	period := fs.String("budget-period", "", "when the budget resets: 1h, 1d, 1w, 1mo, or none (with --budget-usd)")
	return func() (*policy.Budget, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["budget-usd"] {
			if set["budget-period"] {
				return nil, usageErrorf("--budget-period needs --budget-usd")
			}
			return nil, nil
		}
		return &policy.Budget{USD: *usd, Period: policy.Period(*period)}, nil
	}
}

// limitFlags registers the per-minute rate-limit flags into l.
func limitFlags(fs *flag.FlagSet, l *policy.Limits) {
	fs.Int64Var(&l.RPM, "rpm", 0, "LLM requests per minute (0: unlimited)")
	fs.Int64Var(&l.TPM, "tpm", 0, "LLM tokens per minute (0: unlimited)")
	fs.Int64Var(&l.ToolCallsPerMin, "tool-calls-per-min", 0, "tool calls per minute (0: unlimited)")
}
