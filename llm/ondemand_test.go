package llm

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/policy"
)

const chatPath = "/v1/chat/completions"

// madeUp returns n model names of provider that no configuration lists.
func madeUp(provider string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s/made-up-%d", provider, from+i)
	}
	return out
}

// unlistedRoutes counts the on-demand routes of unlisted names.
func unlistedRoutes(s *Service) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.demand.unlisted)
}

// TestRoutePoisoningByMadeUpFallbacks replays the report: a key with no
// model access names 1,100 made-up fallbacks. Nothing of it reaches the
// route table, and afterwards another key's new provider/model and a
// provider added later are served.
func TestRoutePoisoningByMadeUpFallbacks(t *testing.T) {
	e := newTestEnv(t, nil)
	none := e.key(t, policy.KeyInput{Name: "no-models", Models: []string{}})
	before := e.s.router.Routes()

	names := madeUp("mock", 0, 1100)
	if rec := e.post(none, chatPath, chatBody(chatPath, "mock/gpt-4o-mini", names...)); rec.Code != http.StatusBadRequest {
		t.Fatalf("1,100 fallbacks in one request: %d %s", rec.Code, rec.Body)
	}
	for i := 0; i < len(names); i += maxRequestFallbacks {
		batch := names[i:min(i+maxRequestFallbacks, len(names))]
		if rec := e.post(none, chatPath, chatBody(chatPath, batch[0], batch[1:]...)); rec.Code != http.StatusForbidden {
			t.Fatalf("made-up names from a key without access: %d %s", rec.Code, rec.Body)
		}
	}
	if after := e.s.router.Routes(); !slices.Equal(after, before) {
		t.Fatalf("the refused requests made %d routes", len(after)-len(before))
	}

	caller := e.key(t, policy.KeyInput{Name: "caller"})
	if rec := e.post(caller, chatPath, chatBody(chatPath, "mock/gpt-4o")); rec.Code != http.StatusOK {
		t.Fatalf("another key's new provider/model: %d %s", rec.Code, rec.Body)
	}
	providers := append(slices.Clone(e.s.Providers()), ProviderConfig{Name: "late", BaseURL: e.up.URL + "/v1",
		Keys: []ProviderKeyConfig{{Value: "sk-late-0123456789abcd"}}})
	if err := e.s.SetProviders(context.Background(), providers); err != nil {
		t.Fatal(err)
	}
	if rec := e.post(caller, chatPath, chatBody(chatPath, "late/gpt-4o")); rec.Code != http.StatusOK {
		t.Fatalf("a provider added later: %d %s", rec.Code, rec.Body)
	}
}

// TestUnlistedRoutesDoNotLockOutNewNames: a key that may use any model of
// a provider whose keys serve any name makes more than maxDynamicRoutes
// routes; new names keep working, the table stays bounded, and listed
// names keep their routes.
func TestUnlistedRoutesDoNotLockOutNewNames(t *testing.T) {
	e := newTestEnv(t, nil)
	caller := e.key(t, policy.KeyInput{Name: "caller", Models: []string{"mock/*"}})
	// mock lists text-embedding-3-small: its route is made on demand and kept.
	const listedName = "mock/text-embedding-3-small"
	if rec := e.post(caller, "/v1/embeddings", chatBody("/v1/embeddings", listedName)); rec.Code != http.StatusOK {
		t.Fatalf("listed model: %d %s", rec.Code, rec.Body)
	}
	listed, _ := e.s.router.Route(listedName)

	names := madeUp("mock", 0, 1100)
	for i := 0; i < len(names); i += maxRequestFallbacks + 1 {
		batch := names[i:min(i+maxRequestFallbacks+1, len(names))]
		if rec := e.post(caller, chatPath, chatBody(chatPath, batch[0], batch[1:]...)); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if n := unlistedRoutes(e.s); n != maxDynamicRoutes {
		t.Errorf("%d unlisted routes, want the bound %d", n, maxDynamicRoutes)
	}
	if got, _ := e.s.router.Route(listedName); got != listed || listed == nil {
		t.Error("the listed route was evicted")
	}
	if _, ok := e.s.router.Route(names[0]); ok {
		t.Error("the least recently used unlisted route is still there")
	}
	for _, m := range []string{"mock/gpt-4.1", names[0], "mock/gpt-4o-mini"} {
		if rec := e.post(caller, chatPath, chatBody(chatPath, m)); rec.Code != http.StatusOK {
			t.Errorf("%s with a full table: %d %s", m, rec.Code, rec.Body)
		}
	}
	if n := len(e.s.router.Routes()); n > maxDynamicRoutes+10 {
		t.Errorf("%d routes", n)
	}
	backends := e.s.router.TrackedTargets()
	if backends > maxDynamicRoutes+10 {
		t.Errorf("%d target health entries kept for evicted routes", backends)
	}
}

// TestHeldRoutesAreNotEvicted: an unlisted route a request holds stays
// until the request lets it go; when every one is held, a new name is a
// 503 with Retry-After, not a 404, and it works once one is released.
func TestHeldRoutesAreNotEvicted(t *testing.T) {
	e := newTestEnv(t, nil)
	var leases []*routeLease
	for _, n := range madeUp("mock", 0, maxDynamicRoutes) {
		l := &routeLease{}
		if err := e.s.leaseRoutes(l, []string{n}); err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	err := e.s.leaseRoutes(&routeLease{}, []string{"mock/one-more"})
	ae := classify(err)
	if ae.Status != http.StatusServiceUnavailable || ae.Header["Retry-After"] == "" {
		t.Fatalf("every route held: %v", err)
	}
	for _, n := range madeUp("mock", 0, maxDynamicRoutes) {
		if _, ok := e.s.router.Route(n); !ok {
			t.Fatalf("held route %s was evicted", n)
		}
	}
	// A listed name is never limited by the unlisted routes.
	if rec := e.post(policy.AdminIdentity(), chatPath, chatBody(chatPath, "mock/gpt-4o-mini")); rec.Code != http.StatusOK {
		t.Errorf("listed model while every unlisted route is held: %d %s", rec.Code, rec.Body)
	}
	leases[7].release()
	leases[7].release() // idempotent
	l := &routeLease{}
	if err := e.s.leaseRoutes(l, []string{"mock/one-more"}); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	l.release()
	if _, ok := e.s.router.Route("mock/made-up-7"); ok {
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
	e := newTestEnv(t, nil)
	admin := policy.AdminIdentity()
	for _, m := range []string{"mock/gpt-4.1", "claude/claude-haiku-4-5", "cheap/x-1"} {
		if rec := e.post(admin, chatPath, chatBody(chatPath, m)); rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", m, rec.Code, rec.Body)
		}
	}
	if n := unlistedRoutes(e.s); n != 3 {
		t.Fatalf("%d unlisted routes", n)
	}
	providers := slices.Clone(e.s.Providers())
	providers[0].Models = append(slices.Clone(providers[0].Models), "gpt-4.1") // mock now lists gpt-4.1
	providers = slices.DeleteFunc(providers, func(p ProviderConfig) bool { return p.Name == "cheap" })
	if err := e.s.SetProviders(context.Background(), providers); err != nil {
		t.Fatal(err)
	}
	e.s.mu.Lock()
	listed, unlisted := e.s.demand.listed["mock/gpt-4.1"], e.s.demand.unlisted["claude/claude-haiku-4-5"] != nil
	gone := e.s.demand.unlisted["cheap/x-1"] == nil
	e.s.mu.Unlock()
	if !listed || !unlisted || !gone {
		t.Errorf("after the change: mock/gpt-4.1 listed %v, claude unlisted %v, cheap gone %v", listed, unlisted, gone)
	}
	if _, ok := e.s.router.Route("cheap/x-1"); ok {
		t.Error("the removed provider's route is still there")
	}
	if rec := e.post(admin, chatPath, chatBody(chatPath, "cheap/x-1")); rec.Code != http.StatusNotFound {
		t.Errorf("removed provider: %d %s", rec.Code, rec.Body)
	}
}

// TestUnknownModelsMakeNoMetricLabels: names that no provider serves, that
// the key may not use, or that no upstream answered count under "other";
// the requests metric holds only listed names and names an upstream served.
func TestUnknownModelsMakeNoMetricLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestEnv(t, func(o *Options) { o.Registerer = reg })
	limited := e.key(t, policy.KeyInput{Name: "limited", Models: []string{"fast"}})
	admin := policy.AdminIdentity()
	for i := range 50 {
		e.post(admin, chatPath, chatBody(chatPath, fmt.Sprintf("nowhere/model-%d", i)))
		e.post(limited, chatPath, chatBody(chatPath, fmt.Sprintf("mock/denied-%d", i)))
	}
	e.post(limited, chatPath, chatBody(chatPath, "fast"))
	e.post(admin, chatPath, chatBody(chatPath, "mock/served"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, mf := range mfs {
		if mf.GetName() != "junction_llm_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "model" && !slices.Contains(labels, lp.GetValue()) {
					labels = append(labels, lp.GetValue())
				}
			}
		}
	}
	slices.Sort(labels)
	if want := []string{"fast", "mock/served", "other"}; !slices.Equal(labels, want) {
		t.Errorf("model labels %v, want %v", labels, want)
	}
	for _, l := range labels {
		if strings.Contains(l, "nowhere") || strings.Contains(l, "denied") {
			t.Errorf("label %q", l)
		}
	}
}

// TestHeldRoutesSurviveConcurrentEviction: requests leasing unlisted names
// from a pool larger than the bound, at once, always find their routes in
// the table while they hold them, and the table stays bounded.
func TestHeldRoutesSurviveConcurrentEviction(t *testing.T) {
	e := newTestEnv(t, nil)
	pool := madeUp("mock", 0, maxDynamicRoutes+maxDynamicRoutes/2)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				names := []string{pool[(g*7919+i*31)%len(pool)], pool[(g*104729+i*17)%len(pool)]}
				l := &routeLease{}
				if err := e.s.leaseRoutes(l, names); err != nil {
					t.Errorf("lease %v: %v", names, err)
					return
				}
				for _, n := range names {
					if r, ok := e.s.router.Route(n); !ok || r.Demand == nil || r.Demand.(*demandEntry).pins.Load() <= 0 {
						t.Errorf("%s is not held in the table while leased", n)
					}
				}
				l.release()
			}
		}()
	}
	wg.Wait()
	if n := unlistedRoutes(e.s); n > maxDynamicRoutes {
		t.Errorf("%d unlisted routes", n)
	}
}
