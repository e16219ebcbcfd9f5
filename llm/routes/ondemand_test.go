package routes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/junctionhq/junction/llm/router"
)

// madeUp returns n model names of provider that no configuration lists.
func madeUp(provider string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s/made-up-%d", provider, from+i)
	}
	return out
}

// unlistedRoutes counts the on-demand routes of unlisted names.
func unlistedRoutes(tab *Table) int {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return len(tab.demand.unlisted)
}

// TestUnlistedRoutesDoNotLockOutNewNames: requests naming any model of a
// provider whose keys serve any name make more than maxDynamicRoutes
// routes; new names keep working, the table stays bounded, and listed
// names keep their routes.
func TestUnlistedRoutesDoNotLockOutNewNames(t *testing.T) {
	tab := newTestTable(t)
	// mock lists text-embedding-3-small: its route is made on demand and kept.
	const listedName = "mock/text-embedding-3-small"
	if err := request(t, tab, listedName); err != nil {
		t.Fatalf("listed model: %v", err)
	}
	rt := tab.Router()
	listed, _ := rt.Route(listedName)

	names := madeUp("mock", 0, 1100)
	const perRequest = 17 // a model and 16 fallbacks
	for i := 0; i < len(names); i += perRequest {
		batch := names[i:min(i+perRequest, len(names))]
		if err := request(t, tab, batch[0], batch[1:]...); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := unlistedRoutes(tab); n != maxDynamicRoutes {
		t.Errorf("%d unlisted routes, want the bound %d", n, maxDynamicRoutes)
	}
	if got, _ := rt.Route(listedName); got != listed || listed == nil {
		t.Error("the listed route was evicted")
	}
	if _, ok := rt.Route(names[0]); ok {
		t.Error("the least recently used unlisted route is still there")
	}
	for _, m := range []string{"mock/gpt-4.1", names[0], "mock/gpt-4o-mini"} {
		if err := request(t, tab, m); err != nil {
			t.Errorf("%s with a full table: %v", m, err)
		}
	}
	if n := len(rt.Routes()); n > maxDynamicRoutes+10 {
		t.Errorf("%d routes", n)
	}
	if backends := rt.TrackedTargets(); backends > maxDynamicRoutes+10 {
		t.Errorf("%d target health entries kept for evicted routes", backends)
	}
}

// TestHeldRoutesAreNotEvicted: an unlisted route a request holds stays
// until the request lets it go; when every one is held, a new name is
// ErrBusy (the client's 503 with Retry-After), not an unknown model, and
// it works once one is released.
func TestHeldRoutesAreNotEvicted(t *testing.T) {
	tab := newTestTable(t)
	var leases []*lease
	for _, n := range madeUp("mock", 0, maxDynamicRoutes) {
		l := &lease{}
		if err := tab.leaseRoutes(l, []string{n}); err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	if err := tab.leaseRoutes(&lease{}, []string{"mock/one-more"}); !errors.Is(err, ErrBusy) {
		t.Fatalf("every route held: %v", err)
	}
	if err := tab.Reach(&Reach{}, "mock/one-more", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("every route held, Reach: %v", err)
	}
	for _, n := range madeUp("mock", 0, maxDynamicRoutes) {
		if _, ok := tab.Router().Route(n); !ok {
			t.Fatalf("held route %s was evicted", n)
		}
	}
	// A listed name is never limited by the unlisted routes.
	if err := request(t, tab, "mock/gpt-4o-mini"); err != nil {
		t.Errorf("listed model while every unlisted route is held: %v", err)
	}
	leases[7].release()
	leases[7].release() // idempotent
	l := &lease{}
	if err := tab.leaseRoutes(l, []string{"mock/one-more"}); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	l.release()
	if _, ok := tab.Router().Route("mock/made-up-7"); ok {
		t.Error("the released route should have made room")
	}
	for _, l := range leases {
		l.release()
	}
}

// TestSetProvidersKeepsOnDemandRoutesCorrect: a change of providers keeps
// the on-demand routes the new set serves, sorts them again into listed
// and unlisted names, and drops those of a removed provider.
func TestSetProvidersKeepsOnDemandRoutesCorrect(t *testing.T) {
	tab := newTestTable(t)
	for _, m := range []string{"mock/gpt-4.1", "claude/claude-haiku-4-5", "cheap/x-1"} {
		if err := request(t, tab, m); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
	if n := unlistedRoutes(tab); n != 3 {
		t.Fatalf("%d unlisted routes", n)
	}
	providers := slices.Clone(tab.Providers())
	providers[0].Models = append(slices.Clone(providers[0].Models), "gpt-4.1") // mock now lists gpt-4.1
	providers = slices.DeleteFunc(providers, func(p ProviderConfig) bool { return p.Name == "cheap" })
	if err := tab.SetProviders(context.Background(), providers); err != nil {
		t.Fatal(err)
	}
	tab.mu.Lock()
	listed, unlisted := tab.demand.listed["mock/gpt-4.1"], tab.demand.unlisted["claude/claude-haiku-4-5"] != nil
	gone := tab.demand.unlisted["cheap/x-1"] == nil
	tab.mu.Unlock()
	if !listed || !unlisted || !gone {
		t.Errorf("after the change: mock/gpt-4.1 listed %v, claude unlisted %v, cheap gone %v", listed, unlisted, gone)
	}
	if _, ok := tab.Router().Route("cheap/x-1"); ok {
		t.Error("the removed provider's route is still there")
	}
	var unk *router.UnknownModelError
	if err := request(t, tab, "cheap/x-1"); !errors.As(err, &unk) {
		t.Errorf("removed provider: %v", err)
	}
}

// TestHeldRoutesSurviveConcurrentEviction: requests leasing unlisted names
// from a pool larger than the bound, at once, always find their routes in
// the table while they hold them, and the table stays bounded.
func TestHeldRoutesSurviveConcurrentEviction(t *testing.T) {
	tab := newTestTable(t)
	pool := madeUp("mock", 0, maxDynamicRoutes+maxDynamicRoutes/2)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 400 {
				names := []string{pool[(g*7919+i*31)%len(pool)], pool[(g*104729+i*17)%len(pool)]}
				l := &lease{}
				if err := tab.leaseRoutes(l, names); err != nil {
					t.Errorf("lease %v: %v", names, err)
					return
				}
				for _, n := range names {
					if r, ok := tab.Router().Route(n); !ok || r.Demand == nil || r.Demand.(*demandEntry).pins.Load() <= 0 {
						t.Errorf("%s is not held in the table while leased", n)
					}
				}
				l.release()
			}
		})
	}
	wg.Wait()
	if n := unlistedRoutes(tab); n > maxDynamicRoutes {
		t.Errorf("%d unlisted routes", n)
	}
}
