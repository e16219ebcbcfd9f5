package llm

import (
	"net/http"
	"slices"
)

// A provider/model name that is not an alias gets its route on demand, the
// first time a request that may use it names it. What is kept of those
// routes depends on whether the configuration lists the name:
//
//   - Listed names (an alias, an alias's target or fallback, a model in a
//     provider's models list, the cache's embedding model) are bounded by
//     the configuration: their routes stay until the providers change.
//   - Unlisted names are served only because a provider key's model
//     pattern (by default "*") matches them, so any string can be one. At
//     most maxDynamicRoutes of their routes are kept; a new one takes the
//     place of the least recently used one that no request holds. They
//     never push out a listed route, and names no provider serves never
//     get a route at all.
//
// Routes are cheap to rebuild, so an evicted route costs its next request
// nothing but its targets' health history. Access is checked before any
// route is made (reach.go), so a key cannot make routes for models it may
// not use.

// maxDynamicRoutes bounds the routes of unlisted provider/model names.
const maxDynamicRoutes = 1024

// onDemand is the bookkeeping of the routes made on demand; Service.mu
// guards it.
type onDemand struct {
	// listed are the on-demand routes of listed names.
	listed map[string]bool
	// unlisted are the routes of unlisted names, at most maxDynamicRoutes.
	unlisted map[string]*demandEntry
	// tick counts leases, to order unlisted routes by last use.
	tick uint64
}

func newOnDemand() onDemand {
	return onDemand{listed: map[string]bool{}, unlisted: map[string]*demandEntry{}}
}

// demandEntry is one unlisted route's use.
type demandEntry struct {
	used uint64 // onDemand.tick when last leased
	pins int    // requests holding the route (a held route is never evicted)
}

// routeLease is what a request holds of the unlisted routes it resolved:
// they stay in the route table until it is released. The zero lease holds
// nothing.
type routeLease struct {
	s      *Service
	pinned []*demandEntry
}

// release lets the lease's routes go. It is idempotent.
func (l *routeLease) release() {
	if l == nil || len(l.pinned) == 0 {
		return
	}
	l.s.mu.Lock()
	for _, e := range l.pinned {
		e.pins--
	}
	l.s.mu.Unlock()
	l.pinned = nil
}

// errRoutesBusy is the answer when every unlisted route is held by a
// request in flight and a request needs one more.
var errRoutesBusy = &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "routes_busy",
	Message: "too many different unlisted provider/model names are in use at this moment; try again shortly " +
		"(models listed in a provider's models are not limited this way)",
	Header: map[string]string{"Retry-After": "1"}}

// leaseRoutes makes sure every name has a route and holds the unlisted
// ones until the lease is released. A name no configured provider serves
// is an *UnknownModelError and makes no route. Listed names that are
// routed already take no lock.
func (s *Service) leaseRoutes(names []string) (*routeLease, error) {
	ps := s.provs.Load()
	fast := true
	for _, n := range names {
		if _, ok := s.router.Route(n); !ok || !ps.listed[n] {
			fast = false
			break
		}
	}
	if fast {
		return &routeLease{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaseLocked(names)
}

// leaseLocked is leaseRoutes with s.mu held.
func (s *Service) leaseLocked(names []string) (*routeLease, error) {
	ps := s.provs.Load()
	d := &s.demand
	d.tick++
	lease := &routeLease{s: s}
	var (
		add      []Route
		fresh    = map[string]*demandEntry{} // unlisted routes this call adds
		listed   []string                    // listed routes this call adds
		adding   = map[string]bool{}
		unlisted = 0
	)
	for _, n := range names {
		if _, ok := s.router.Route(n); ok || adding[n] {
			if e := d.unlisted[n]; e != nil {
				lease.pin(e, d.tick)
			} else if e := fresh[n]; e != nil {
				lease.pin(e, d.tick)
			}
			continue
		}
		r, ok := ps.directRoute(n)
		if !ok || !ps.isDirect(n) {
			lease.unpin()
			return nil, &UnknownModelError{Model: n}
		}
		add = append(add, r)
		adding[n] = true
		if ps.listed[n] {
			listed = append(listed, n)
			continue
		}
		e := &demandEntry{}
		fresh[n] = e
		lease.pin(e, d.tick)
		unlisted++
	}
	if len(add) == 0 {
		return lease, nil
	}
	victims, ok := d.victims(len(d.unlisted) + unlisted - maxDynamicRoutes)
	if !ok {
		lease.unpin()
		return nil, errRoutesBusy
	}
	if err := s.router.editRoutes(add, victims); err != nil {
		lease.unpin()
		return nil, &apiError{Status: http.StatusInternalServerError, Type: "server_error", Code: "internal_error",
			Message: "internal error; the request id identifies it in the gateway's log", Err: err}
	}
	for _, v := range victims {
		delete(d.unlisted, v)
	}
	for n, e := range fresh {
		d.unlisted[n] = e
	}
	for _, n := range listed {
		d.listed[n] = true
	}
	return lease, nil
}

// pin holds e for the lease.
func (l *routeLease) pin(e *demandEntry, tick uint64) {
	e.pins++
	e.used = tick
	l.pinned = append(l.pinned, e)
}

// unpin gives back what the lease pinned, with Service.mu held.
func (l *routeLease) unpin() {
	for _, e := range l.pinned {
		e.pins--
	}
	l.pinned = nil
}

// victims picks n unlisted routes to evict, least recently used first,
// never one a request holds; ok is false when there are not n such routes.
func (d *onDemand) victims(n int) (names []string, ok bool) {
	if n <= 0 {
		return nil, true
	}
	type cand struct {
		name string
		used uint64
	}
	var free []cand
	for name, e := range d.unlisted {
		if e.pins == 0 {
			free = append(free, cand{name, e.used})
		}
	}
	if len(free) < n {
		return nil, false
	}
	slices.SortFunc(free, func(a, b cand) int {
		switch {
		case a.used < b.used:
			return -1
		case a.used > b.used:
			return 1
		}
		return 0
	})
	for _, c := range free[:n] {
		names = append(names, c.name)
	}
	return names, true
}

// carryOver keeps, across a change of providers, the on-demand routes the
// new provider set ps still serves, sorted again into listed and unlisted.
// have are the routes already built (aliases and their fallbacks); it
// returns the routes to add. Unlisted routes held by requests come first,
// then the most recently used, up to maxDynamicRoutes.
func (d *onDemand) carryOver(ps *providerSet, have map[string]bool) ([]Route, onDemand) {
	next := newOnDemand()
	next.tick = d.tick
	var routes []Route
	keep := func(name string) bool {
		if have[name] {
			return false
		}
		r, ok := ps.directRoute(name)
		if !ok {
			return false
		}
		routes = append(routes, r)
		have[name] = true
		return true
	}
	type old struct {
		name string
		e    *demandEntry
	}
	var unlisted []old
	for name := range d.listed {
		if ps.listed[name] {
			if keep(name) {
				next.listed[name] = true
			}
			continue
		}
		unlisted = append(unlisted, old{name, &demandEntry{}})
	}
	for name, e := range d.unlisted {
		if ps.listed[name] {
			if keep(name) {
				next.listed[name] = true
			}
			continue
		}
		unlisted = append(unlisted, old{name, e})
	}
	slices.SortFunc(unlisted, func(a, b old) int {
		if (a.e.pins > 0) != (b.e.pins > 0) {
			if a.e.pins > 0 {
				return -1
			}
			return 1
		}
		switch {
		case a.e.used > b.e.used:
			return -1
		case a.e.used < b.e.used:
			return 1
		}
		return 0
	})
	for _, o := range unlisted {
		if len(next.unlisted) >= maxDynamicRoutes {
			break
		}
		if keep(o.name) {
			next.unlisted[o.name] = o.e
		}
	}
	return routes, next
}
