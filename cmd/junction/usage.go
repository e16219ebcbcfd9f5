package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
)

// junction usage

var usageCommand = adminCommand{
	synopsis: "[--key K] [--team T] [--model M] [--tool T] [--from DATE] [--to DATE] [--group-by G]",
	summary:  "aggregate recorded usage: requests, errors, tokens and cost",
	setup:    usageReport,
}

// usageRow is one row of the usage response.
type usageRow struct {
	Group            string  `json:"group"`
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CostUSD          float64 `json:"cost_usd"`
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
		func(r usageRow) []string {
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
