package providerstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/secret"
	"github.com/junctionhq/junction/store/storetest"
)

// fakeService is an LLM service that records the provider sets it is given.
type fakeService struct {
	mu      sync.Mutex
	inForce []llm.ProviderConfig
	models  []llm.ModelConfig
}

func (f *fakeService) ValidateProvider(pc llm.ProviderConfig) error {
	if len(pc.Keys) == 0 {
		return &llm.InvalidProviderError{Problems: []string{"keys: at least one is required"}}
	}
	return nil
}

func (f *fakeService) WithDefaults(pc llm.ProviderConfig) llm.ProviderConfig {
	if pc.Type == "" {
		pc.Type = "openai"
	}
	return pc
}

func (f *fakeService) SetProviders(_ context.Context, providers []llm.ProviderConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inForce = providers
	return nil
}

func (f *fakeService) Reconfigure(_ context.Context, providers []llm.ProviderConfig, models []llm.ModelConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inForce, f.models = providers, models
	return nil
}

// names are the names of the providers in force.
func (f *fakeService) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	for _, p := range f.inForce {
		out = append(out, p.Name)
	}
	return out
}

func (f *fakeService) provider(name string) llm.ProviderConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.inForce {
		if p.Name == name {
			return p
		}
	}
	return llm.ProviderConfig{}
}

// TestStoreManagesAPIProvidersBesideTheFile: file providers are read-only
// and cannot be shadowed; API providers are stored sealed, patched with
// their key values kept, and put in force with the file's on every change,
// also when the file's providers are replaced.
func TestStoreManagesAPIProvidersBesideTheFile(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewStore(t)
	svc := &fakeService{}
	ps, err := Open(ctx, Options{Store: st, Service: svc, SecretKey: make([]byte, 32), Logger: zerolog.Nop(),
		File: []llm.ProviderConfig{{Name: "file", Keys: []llm.ProviderKeyConfig{{Value: "sk-file"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close(ctx) })
	if got := svc.names(); !slices.Equal(got, []string{"file"}) {
		t.Fatalf("in force at open: %v", got)
	}

	if _, err := ps.Create(ctx, llm.ProviderConfig{Name: "file", Keys: []llm.ProviderKeyConfig{{Value: "k"}}}); !errors.Is(err, ErrExists) {
		t.Errorf("shadow a file provider: %v", err)
	}
	if _, err := ps.Update(ctx, "file", json.RawMessage(`{"models":["m"]}`)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("patch a file provider: %v", err)
	}
	if err := ps.Delete(ctx, "file"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("delete a file provider: %v", err)
	}
	if _, err := ps.Create(ctx, llm.ProviderConfig{Name: "nokeys"}); !errors.Is(err, llm.ErrInvalidProvider) {
		t.Errorf("create an invalid provider: %v", err)
	}

	info, err := ps.Create(ctx, llm.ProviderConfig{Name: "dyn", Keys: []llm.ProviderKeyConfig{{Name: "k", Value: "sk-dyn-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	if info.Source != store.SourceAPI || info.Type != "openai" || !info.Keys[0].ValueSet || info.CreatedAt == nil {
		t.Errorf("created: %+v", info)
	}
	if got := svc.names(); !slices.Equal(got, []string{"file", "dyn"}) {
		t.Errorf("in force after create: %v", got)
	}
	row, err := st.GetResource(ctx, Kind, "dyn")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(row.Spec), "sk-dyn-secret") || !strings.Contains(string(row.Spec), secret.SealedPrefix) {
		t.Errorf("stored spec: %s", row.Spec)
	}
	if _, err := ps.Create(ctx, llm.ProviderConfig{Name: "dyn", Keys: []llm.ProviderKeyConfig{{Value: "k"}}}); !errors.Is(err, ErrExists) {
		t.Errorf("create twice: %v", err)
	}

	if _, err := ps.Update(ctx, "dyn", json.RawMessage(`{"keys":[{"name":"k"}],"models":["m"]}`)); err != nil {
		t.Fatal(err)
	}
	if p := svc.provider("dyn"); p.Keys[0].Value != "sk-dyn-secret" || !slices.Equal(p.Models, []string{"m"}) {
		t.Errorf("patched: %+v", p)
	}
	if _, err := ps.Update(ctx, "dyn", json.RawMessage(`{"name":"other"}`)); !errors.Is(err, llm.ErrInvalidProvider) {
		t.Errorf("rename: %v", err)
	}
	if _, err := ps.Update(ctx, "nope", json.RawMessage(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("patch unknown: %v", err)
	}
	var sources []string
	for _, p := range ps.List() {
		sources = append(sources, p.Name+"("+p.Source+")")
	}
	if !slices.Equal(sources, []string{"file(file)", "dyn(api)"}) {
		t.Errorf("list: %v", sources)
	}

	models := []llm.ModelConfig{{Name: "fast"}}
	if err := ps.SetFile(ctx, []llm.ProviderConfig{{Name: "file2", Keys: []llm.ProviderKeyConfig{{Value: "k"}}}}, models); err != nil {
		t.Fatal(err)
	}
	if got := svc.names(); !slices.Equal(got, []string{"file2", "dyn"}) || len(svc.models) != 1 {
		t.Errorf("in force after the file changed: %v %v", got, svc.models)
	}
	if _, err := ps.Get("file"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old file provider: %v", err)
	}
	if got := ps.APINames(); !slices.Equal(got, []string{"dyn"}) {
		t.Errorf("API names: %v", got)
	}

	if err := ps.Delete(ctx, "dyn"); err != nil {
		t.Fatal(err)
	}
	if got := svc.names(); !slices.Equal(got, []string{"file2"}) {
		t.Errorf("in force after delete: %v", got)
	}
	if _, err := ps.Get("dyn"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
}
