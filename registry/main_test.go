package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/storetest"
)

// toolserverBuild is examples/toolserver, built once for the stdio tests.
var toolserverBuild = testkit.NewBinary("./examples/toolserver")

func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m, toolserverBuild.Remove)
}

func toolserver(t *testing.T) string {
	t.Helper()
	return toolserverBuild.Path(t)
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// newRegistry starts a Registry on st with fast reconnects and health
// checks, closed when the test ends.
func newRegistry(t *testing.T, st *store.Store) *Registry {
	t.Helper()
	return startRegistry(t, Options{Store: st, HealthInterval: 300 * time.Millisecond})
}

// startRegistry starts a Registry with opts, the test secret key and fast
// reconnects, closed when the test ends.
func startRegistry(t *testing.T, opts Options) *Registry {
	t.Helper()
	opts.SecretKey = testKey
	opts.backoffMin, opts.backoffMax = 100*time.Millisecond, 500*time.Millisecond
	r, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return r
}

func newStore(t *testing.T) *store.Store { return storetest.NewStore(t) }

func status(r *Registry, name string) Status {
	for _, s := range r.Statuses() {
		if s.Name == name {
			return s
		}
	}
	return Status{}
}

func waitReady(t *testing.T, r *Registry, name string) {
	t.Helper()
	testkit.EventuallyNoError(t, 20*time.Second, name+" to be ready", func() error {
		if status(r, name).State != StateReady {
			return fmt.Errorf("status %s", fmtStatus(r, name))
		}
		return nil
	})
}

func serverCatalog(r *Registry, name string) *ServerCatalog {
	for _, s := range r.Catalog().Servers {
		if s.Name == name {
			return &s
		}
	}
	return nil
}

func mustCreate(t *testing.T, r *Registry, cfg ServerConfig) ServerInfo {
	t.Helper()
	info, err := r.CreateServer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("create %s: %v", cfg.Name, err)
	}
	return info
}

func fmtStatus(r *Registry, name string) string {
	return fmt.Sprintf("%+v", status(r, name))
}
