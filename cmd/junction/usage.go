package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	params := []struct{ flag, param, help string }{
		{"key", "key", "only this key (id or name)"},
		{"team", "team", "only this team"},
		{"model", "model", "only this model"},
		{"tool", "tool", "only this tool"},
		{"from", "from", "from this YYYY-MM-DD date or RFC 3339 time"},
		{"to", "to", "up to this YYYY-MM-DD date or RFC 3339 time"},
		{"group-by", "group_by", "group by key, team, model, tool or day"},
	}
	values := make([]*string, len(params))
	for i, p := range params {
		values[i] = fs.String(p.flag, "", p.help)
	}
	return func(ctx context.Context, a *admin, _ []string) error {
		q := url.Values{}
		for i, p := range params {
			if *values[i] != "" {
				q.Set(p.param, *values[i])
			}
		}
		raw, err := a.do(ctx, http.MethodGet, "/admin/v1/usage", q, nil)
		if err != nil {
			return err
		}
		return respond(a, raw, func(w io.Writer, l listResponse[usageRow]) error {
			if len(l.Data) == 0 {
				_, err := fmt.Fprintln(w, "No usage recorded.")
				return err
			}
			t := newTable(w, "GROUP", "REQUESTS", "ERRORS", "PROMPT_TOKENS", "COMPLETION_TOKENS", "CACHED_TOKENS", "COST_USD")
			for _, r := range l.Data {
				group := r.Group
				if group == "" {
					group = "(all)"
				}
				t.row(group, fmt.Sprint(r.Requests), fmt.Sprint(r.Errors), fmt.Sprint(r.PromptTokens),
					fmt.Sprint(r.CompletionTokens), fmt.Sprint(r.CachedTokens), fmt.Sprintf("%.6f", r.CostUSD))
			}
			return t.flush()
		})
	}
}
