package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
)

// junction reload: what SIGHUP does, through the admin API, for a gateway
// that is not a child of this shell (another host, a container).

var reloadCommand = adminCommand{
	synopsis: "[flags]",
	summary:  "reload the configuration file of a running gateway (as SIGHUP does)",
	setup:    reloadSetup,
}

// reloadReport is the body of a successful POST /admin/v1/reload.
type reloadReport struct {
	Changed      []string `json:"changed"`
	NeedsRestart []string `json:"needs_restart"`
}

func reloadSetup(*flag.FlagSet) adminAction {
	return func(ctx context.Context, a *admin, _ []string) error {
		return call(ctx, a, http.MethodPost, "/admin/v1/reload", nil, nil, func(w io.Writer, r reloadReport) error {
			if len(r.Changed) == 0 {
				fmt.Fprintln(w, "Reloaded: nothing changed.")
			} else {
				fmt.Fprintln(w, "Reloaded:")
				for _, c := range r.Changed {
					fmt.Fprintf(w, "  %s\n", c)
				}
			}
			if len(r.NeedsRestart) > 0 {
				fmt.Fprintln(w, "Changed in the file, but take effect only after a restart:")
				for _, s := range r.NeedsRestart {
					fmt.Fprintf(w, "  %s\n", s)
				}
			}
			return nil
		})
	}
}
