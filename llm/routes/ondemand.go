package routes

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/junctionhq/junction/llm/router"
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
// nothing but its targets' health history. The llm package checks access
// before it asks for any route (its reach.go), so a key cannot make routes
// for models it may not use.

// maxDynamicRoutes bounds the routes of unlisted provider/model names.
const maxDynamicRoutes = 1024

// onDemand is the bookkeeping of the routes made on demand; Table.mu
// guards its maps. Requests hold unlisted routes through the demandEntry
// their Route carries, without the lock.
type onDemand struct {
	// listed are the on-demand routes of listed names.
	listed map[string]bool
	// unlisted are the routes of unlisted names, at most maxDynamicRoutes.
	unlisted map[string]*demandEntry
}

func newOnDemand() onDemand {
	return onDemand{listed: map[string]bool{}, unlisted: map[string]*demandEntry{}}
}

// demandEntry is the use of one unlisted route.
type demandEntry struct {
	used atomic.Uint64 // Table.leases when last held
	// pins counts the requests holding the route, or is -1 once the route
	// is evicted: a held route is never evicted, an evicted one never held.
	pins atomic.Int32
}

// hold pins the route for a request at tick; false when it was evicted.
func (e *demandEntry) hold(tick uint64) bool {
	for {
		p := e.pins.Load()
		if p < 0 {
			return false
		}
		if e.pins.CompareAndSwap(p, p+1) {
			e.used.Store(tick)
			return true
		}
	}
}

// evict claims an unheld route for eviction.
func (e *demandEntry) evict() bool { return e.pins.CompareAndSwap(0, -1) }

// lease is what a request holds of the unlisted routes it resolved: they
// stay in the route table until it is released.
type lease struct {
	pinned []*demandEntry
}

// hold holds route r (ok: it exists) in the lease at tick, and reports
// whether the request may use it: a route made for a listed name, or an
// unlisted one that was not evicted (now pinned).
func (l *lease) hold(r *router.Route, ok bool, tick uint64) bool {
	if !ok {
		return false
	}
	e, _ := r.Demand.(*demandEntry)
	if e == nil {
		return true
	}
	if !e.hold(tick) {
		return false
	}
	l.pinned = append(l.pinned, e)
	return true
}

// release lets the lease's routes go. It is idempotent.
func (l *lease) release() {
	for _, e := range l.pinned {
		e.pins.Add(-1)
	}
	l.pinned = nil
}

// ErrBusy is the error when every unlisted route is held by a request in
// flight and a request needs one more: the request may try again shortly.
var ErrBusy = errors.New("llm: every route of an unlisted provider/model name is in use")

// leaseRoutes makes sure every name has a route and holds the unlisted
// ones in l until it is released. A name no configured provider serves is
// a *router.UnknownModelError and makes no route; ErrBusy says no unlisted
// route could be evicted for a new one. Names whose routes exist
// take no lock.
func (t *Table) leaseRoutes(l *lease, names []string) error {
	tick := t.leases.Add(1)
	for i, n := range names {
		r, ok := t.router.Route(n)
		if l.hold(r, ok, tick) {
			continue
		}
		t.mu.Lock()
		err := t.leaseLocked(l, names[i:], tick)
		t.mu.Unlock()
		if err != nil {
			l.release()
			return err
		}
		break
	}
	return nil
}

// leaseLocked adds the routes of names that have none (or whose route was
// just evicted) to the table, evicting the least recently used unheld
// unlisted routes as needed, and holds the unlisted ones in l. t.mu is
// held.
func (t *Table) leaseLocked(l *lease, names []string, tick uint64) error {
	ps := t.provs.Load()
	d := &t.demand
	var (
		add      []router.Route
		fresh    = map[string]*demandEntry{} // unlisted routes this call adds
		listed   []string                    // listed routes this call adds
		adding   = map[string]bool{}
		replaced []string // evicted routes this call makes again
	)
	for _, n := range names {
		if e := fresh[n]; e != nil {
			e.pins.Add(1)
			l.pinned = append(l.pinned, e)
			continue
		}
		if adding[n] {
			continue
		}
		r, ok := t.router.Route(n)
		if l.hold(r, ok, tick) {
			continue
		}
		if ok { // evicted since it was looked up, but not yet out of the table
			replaced = append(replaced, n)
		}
		if !ps.isDirect(n) {
			return &router.UnknownModelError{Model: n}
		}
		rt, found := ps.directRoute(n)
		if !found {
			return &router.UnknownModelError{Model: n}
		}
		adding[n] = true
		if ps.listed[n] {
			add = append(add, rt)
			listed = append(listed, n)
			continue
		}
		e := &demandEntry{}
		e.pins.Store(1)
		e.used.Store(tick)
		rt.Demand = e
		add = append(add, rt)
		fresh[n] = e
		l.pinned = append(l.pinned, e)
	}
	if len(add) == 0 {
		return nil
	}
	victims, claimed, ok := d.victims(len(d.unlisted) + len(fresh) - maxDynamicRoutes)
	if !ok {
		return ErrBusy
	}
	if err := t.router.EditRoutes(add, append(victims, replaced...)); err != nil {
		for _, e := range claimed {
			e.pins.Store(0) // not evicted after all
		}
		return fmt.Errorf("llm: routes: %w", err)
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
	return nil
}

// victims claims n unlisted routes for eviction, least recently used
// first, never one a request holds; ok is false (and nothing is claimed)
// when there are not n such routes. Table.mu is held.
func (d *onDemand) victims(n int) (names []string, claimed []*demandEntry, ok bool) {
	if n <= 0 {
		return nil, nil, true
	}
	type cand struct {
		name string
		e    *demandEntry
		used uint64
	}
	var free []cand
	for name, e := range d.unlisted {
		if e.pins.Load() == 0 {
			free = append(free, cand{name, e, e.used.Load()})
		}
	}
	slices.SortFunc(free, func(a, b cand) int { return cmp.Compare(a.used, b.used) })
	for _, c := range free {
		if len(names) == n {
			break
		}
		if c.e.evict() {
			names = append(names, c.name)
			claimed = append(claimed, c.e)
		}
	}
	if len(names) < n {
		for _, e := range claimed {
			e.pins.Store(0) // give them back: nothing is evicted
		}
		return nil, nil, false
	}
	return names, claimed, true
}

// carryOver keeps, across a change of providers, the on-demand routes the
// new provider set ps still serves, sorted again into listed and unlisted
// names. have are the routes already built (aliases and their fallbacks);
// it returns the routes to add. Unlisted routes held by requests come
// first, then the most recently used, up to maxDynamicRoutes; the others
// are evicted. Table.mu is held.
func (d *onDemand) carryOver(ps *providerSet, have map[string]bool) ([]router.Route, onDemand) {
	next := newOnDemand()
	var routes []router.Route
	route := func(name string) (router.Route, bool) {
		if have[name] {
			return router.Route{}, false
		}
		r, ok := ps.directRoute(name)
		if ok && ps.isDirect(name) {
			have[name] = true
			return r, true
		}
		return router.Route{}, false
	}
	type old struct {
		name string
		e    *demandEntry
	}
	var unlisted []old
	for name := range d.listed {
		if !ps.listed[name] {
			unlisted = append(unlisted, old{name, &demandEntry{}})
		} else if r, ok := route(name); ok {
			routes = append(routes, r)
			next.listed[name] = true
		}
	}
	for name, e := range d.unlisted {
		if !ps.listed[name] {
			unlisted = append(unlisted, old{name, e})
			continue
		}
		// Listed from now on: the route needs no holding (requests that
		// hold it still let go of their entry).
		e.evict()
		if r, ok := route(name); ok {
			routes = append(routes, r)
			next.listed[name] = true
		}
	}
	slices.SortFunc(unlisted, func(a, b old) int {
		if ha, hb := a.e.pins.Load() > 0, b.e.pins.Load() > 0; ha != hb {
			if ha {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.e.used.Load(), a.e.used.Load())
	})
	for _, o := range unlisted {
		if len(next.unlisted) >= maxDynamicRoutes {
			o.e.evict()
			continue
		}
		r, ok := route(o.name)
		if !ok {
			o.e.evict()
			continue
		}
		r.Demand = o.e
		routes = append(routes, r)
		next.unlisted[o.name] = o.e
	}
	return routes, next
}
