package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"

	"github.com/junctionhq/junction/gateway"
)

// junction usage

var usageCommand = adminCommand{
	synopsis: "[--key K] [--team T] [--model M] [--tool T] [--from DATE] [--to DATE] [--group-by G]",
	summary:  "aggregate recorded usage: requests, errors, tokens and cost",
	setup:    usageReport,
}

func usageReport(fs *flag.FlagSet) adminAction {
	query := queryFlags(fs,
		queryParam{"key", "key", "only this key (id or name)"},
		queryParam{"team", "team", "only this team"},
		queryParam{"model", "model", "only this model"},
		queryParam{"tool", "tool", "only this tool"},
		queryParam{"from", "from", "from this YYYY-MM-DD date or RFC 3339 time"},
		queryParam{"to", "to", "up to this YYYY-MM-DD date or RFC 3339 time"},
		queryParam{"group-by", "group_by", "group by key, team, model, tool or day"},
	)
	render := listTable("No usage recorded.",
		[]string{"GROUP", "REQUESTS", "ERRORS", "PROMPT_TOKENS", "COMPLETION_TOKENS", "CACHED_TOKENS", "COST_USD"},
		func(r gateway.UsageRow) []string {
			group := r.Group
			if group == "" {
				group = "(all)"
			}
			return []string{group, fmt.Sprint(r.Requests), fmt.Sprint(r.Errors), fmt.Sprint(r.PromptTokens),
				fmt.Sprint(r.CompletionTokens), fmt.Sprint(r.CachedTokens), fmt.Sprintf("%.6f", r.CostUSD)}
		})
	return func(ctx context.Context, a *admin, _ []string) error {
		return call(ctx, a, http.MethodGet, "/admin/v1/usage", query(), nil, render)
	}
}
