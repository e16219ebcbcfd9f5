package llm

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/llm/routes"
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

// TestRoutesBusyIsRetryable: when every unlisted route is held
// (routes.ErrBusy, see llm/routes), the client gets a 503 with Retry-After,
// not a 404.
func TestRoutesBusyIsRetryable(t *testing.T) {
	ae := classify(fmt.Errorf("lease: %w", routes.ErrBusy))
	if ae.Status != http.StatusServiceUnavailable || ae.Header["Retry-After"] == "" || ae.Code != "routes_busy" {
		t.Fatalf("routes busy: %+v", ae)
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
