package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/junctionhq/junction/cache"
)

// junction cache stats|purge

var cacheCommands = map[string]adminCommand{
	"stats": {synopsis: "", summary: "show the response cache's entries, hits, misses and savings", setup: cacheStats},
	"purge": {synopsis: "[--team T | --key K | --tenant T] [--model M]", summary: "delete cached answers (all of them without a filter)", setup: cachePurge},
}

var cacheStats = requestAction(http.MethodGet, "/admin/v1/cache", printCacheStats)

func printCacheStats(w io.Writer, st cache.Stats) error {
	if !st.Enabled {
		_, err := fmt.Fprintln(w, "The response cache is disabled (cache.enabled in the configuration).")
		return err
	}
	t := newTable(w, "TIER", "BACKEND", "ENTRIES", "BYTES", "HITS", "MISSES")
	for _, tier := range []struct {
		name string
		s    cache.TierStats
	}{{"exact", st.Exact}, {"semantic", st.Semantic}} {
		if tier.s.Backend == "" {
			t.row(tier.name, "off", "-", "-", "-", "-")
			continue
		}
		t.row(tier.name, tier.s.Backend, count(tier.s.Entries), count(tier.s.Bytes), fmt.Sprint(tier.s.Hits), fmt.Sprint(tier.s.Misses))
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nSaved since start: %d tokens, $%.6f.\n", st.TokensSaved, st.CostSavedUSD)
	return err
}

// count renders a size the back-end may not know (-1).
func count(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

func cachePurge(fs *flag.FlagSet) adminAction {
	var in struct {
		Team   string `json:"team,omitempty"`
		Key    string `json:"key,omitempty"`
		Tenant string `json:"tenant,omitempty"`
		Model  string `json:"model,omitempty"`
	}
	fs.StringVar(&in.Team, "team", "", "only this team's entries")
	fs.StringVar(&in.Key, "key", "", "only this key's entries (id or name; for keys without a team, or cache.scope key)")
	fs.StringVar(&in.Tenant, "tenant", "", `only this tenant ("team:<name>" or "key:<id>")`)
	fs.StringVar(&in.Model, "model", "", "only entries for this model, as requested")
	return func(ctx context.Context, a *admin, _ []string) error {
		set := 0
		for _, v := range []string{in.Team, in.Key, in.Tenant} {
			if v != "" {
				set++
			}
		}
		if set > 1 {
			return usageErrorf("give at most one of --team, --key and --tenant")
		}
		return call(ctx, a, http.MethodPost, "/admin/v1/cache/purge", nil, in, func(w io.Writer, r struct {
			Deleted int64 `json:"deleted"`
		}) error {
			_, err := fmt.Fprintf(w, "Deleted %d cached answers.\n", r.Deleted)
			return err
		})
	}
}
