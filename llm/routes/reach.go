package routes

import (
	"slices"

	"github.com/junctionhq/junction/llm/router"
)

// Reach is what a request may end up on: the routes of its model and of
// its own fallbacks, held until Release, and the provider/model of every
// target they can reach, which prices its admission.
type Reach struct {
	// Price is the provider/model of the first target of the model's route;
	// Alts are the other targets of its chain and of the request's
	// fallbacks' chains.
	Price string
	Alts  []string
	lease lease
}

// Reach makes sure model and every fallback have a route, holds them until
// rc is released, and lists in rc the targets they reach (rc is the
// caller's, kept in its request state: no allocation of its own). The caller
// checks the names first (access, count): every name given may make a
// route. Its errors are *router.UnknownModelError (a name no configured
// provider serves) and ErrBusy.
func (t *Table) Reach(rc *Reach, model string, fallbacks []string) error {
	var one [1]string
	names := one[:]
	one[0] = model
	if len(fallbacks) > 0 {
		names = append([]string{model}, fallbacks...)
	}
	if err := t.leaseRoutes(&rc.lease, names); err != nil {
		return err
	}
	route, ok := t.router.Route(model)
	if !ok { // the providers changed in between
		rc.Release()
		return &router.UnknownModelError{Model: model}
	}
	first := route.Targets[0].Target
	rc.Price = first.Provider + "/" + first.Model
	if len(fallbacks) == 0 && len(route.Fallbacks) == 0 {
		// The common case: one route, its keys mostly of one model.
		for i := range route.Targets {
			if t := &route.Targets[i].Target; t.Provider != first.Provider || t.Model != first.Model {
				if m := t.Provider + "/" + t.Model; !slices.Contains(rc.Alts, m) {
					rc.Alts = append(rc.Alts, m)
				}
			}
		}
		return nil
	}
	for _, m := range t.router.Reach(names...) {
		if m != rc.Price {
			rc.Alts = append(rc.Alts, m)
		}
	}
	return nil
}

// Release lets the request's on-demand routes go. It is idempotent.
func (rc *Reach) Release() { rc.lease.release() }
