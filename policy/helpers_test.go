package policy

import (
	"context"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/counters"
	"github.com/junctionhq/junction/store/storetest"
)

// testEngine is an Engine on a fresh SQLite store with in-memory counters
// on the given clock.
func testEngine(t testing.TB, clk *testkit.Clock) (*Engine, *store.Store) {
	t.Helper()
	st := storetest.NewStore(t)
	return engineOn(t, st, counters.NewMemory(counters.MemoryOptions{Now: clk.Now}), clk), st
}

func engineOn(t testing.TB, st *store.Store, c counters.Counters, clk *testkit.Clock) *Engine {
	t.Helper()
	e, err := New(context.Background(), Options{Store: st, Counters: c, Now: clk.Now,
		Admin: NewAdminAuth("admin-key-for-tests-0123")})
	if err != nil {
		t.Fatalf("policy.New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func mustTeam(t testing.TB, e *Engine, in TeamInput) Team {
	t.Helper()
	tm, err := e.CreateTeam(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateTeam(%s): %v", in.Name, err)
	}
	return tm
}

// mustKey creates a key and returns its identity.
func mustKey(t testing.TB, e *Engine, in KeyInput) *Identity {
	t.Helper()
	_, secret, err := e.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", in.Name, err)
	}
	id, err := e.Authenticate(secret)
	if err != nil {
		t.Fatalf("Authenticate(%s): %v", in.Name, err)
	}
	return id
}

func mustRule(t testing.TB, e *Engine, line ...string) {
	t.Helper()
	r, err := RuleFromLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddRule(context.Background(), r); err != nil {
		t.Fatalf("AddRule(%v): %v", line, err)
	}
}

var t0 = time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)

func newTestStore(t testing.TB) *store.Store { return storetest.NewStore(t) }
