package providerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/resource"
	"github.com/junctionhq/junction/store/secret"
)

// Kind is the store resource kind of API-managed providers.
const Kind = "provider"

// reloadInterval is how often the providers are re-read from the store as
// a safety net beside the change feed.
const reloadInterval = time.Minute

var (
	// ErrNotFound is the error of a provider that does not exist.
	ErrNotFound = errors.New("provider not found")
	// ErrReadOnly is the error of a change to a configuration file provider.
	ErrReadOnly = errors.New("this provider is managed by the configuration file and is read-only through the API")
	// ErrExists is the error of creating a provider whose name is taken.
	ErrExists = errors.New("provider already exists")
)

// Service is what the providers are put in force in: *llm.Service.
type Service interface {
	ValidateProvider(pc llm.ProviderConfig) error
	WithDefaults(pc llm.ProviderConfig) llm.ProviderConfig
	SetProviders(ctx context.Context, providers []llm.ProviderConfig) error
	Reconfigure(ctx context.Context, providers []llm.ProviderConfig, models []llm.ModelConfig) error
}

// Options configure Open.
type Options struct {
	Store     *store.Store
	Service   Service
	SecretKey []byte               // the process's secret key
	File      []llm.ProviderConfig // the configuration file's providers, in order
	Logger    zerolog.Logger
}

// apiProvider is an API-managed provider as this replica holds it.
type apiProvider struct {
	cfg                  llm.ProviderConfig // as given, values in the clear
	createdAt, updatedAt time.Time
}

// Store owns the API-managed providers: the store rows, their encryption,
// and keeping the LLM service's provider set in step with the file's
// providers plus the store's.
type Store struct {
	store *store.Store
	llm   Service
	seal  *secret.Sealer
	log   zerolog.Logger

	// mu serialises reloads and guards file, api and inForce.
	mu   sync.Mutex
	file []llm.ProviderConfig // the configuration file's, in order
	api  map[string]apiProvider
	// inForce is what the last reload gave the LLM service, so a reload that
	// finds nothing new (this replica's own write, echoed by the change
	// feed) changes nothing.
	inForce []llm.ProviderConfig

	stop func()
	wg   sync.WaitGroup
}

// Open loads the API-managed providers into the service and follows the
// store's changes until Close.
func Open(ctx context.Context, opts Options) (*Store, error) {
	sealer, err := newSealer(opts.SecretKey)
	if err != nil {
		return nil, err
	}
	ps := &Store{store: opts.Store, llm: opts.Service, seal: sealer, log: opts.Logger, file: opts.File, api: map[string]apiProvider{}}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ps.stop = stop
	// Subscribe before the first load, so no change falls between them.
	changes, err := opts.Store.Subscribe(runCtx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("providerstore: follow provider changes: %w", err)
	}
	if err := ps.reload(ctx); err != nil {
		stop()
		return nil, err
	}
	ps.wg.Go(func() { ps.follow(runCtx, changes) })
	return ps, nil
}

// Close stops following the store and waits for it.
func (ps *Store) Close(context.Context) error {
	ps.stop()
	ps.wg.Wait()
	return nil
}

func (ps *Store) follow(ctx context.Context, changes <-chan store.Change) {
	store.Follow(ctx, changes, store.FollowOptions{Topic: store.ResourceTopic(Kind), Interval: reloadInterval,
		OnError: func(err error) {
			ps.log.Error().Err(err).Msg("providerstore: reload providers failed; keeping the current ones")
		}}, ps.reload)
}

// reload reads the API-managed providers and gives the LLM service the
// file's providers plus them. A stored provider that cannot be decrypted,
// or that clashes with a file provider, is logged and left out.
func (ps *Store) reload(ctx context.Context) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	rows, err := ps.store.ListResources(ctx, Kind)
	if err != nil {
		return fmt.Errorf("providerstore: load providers: %w", err)
	}
	api := make(map[string]apiProvider, len(rows))
	all := slices.Clone(ps.file)
	for _, row := range rows {
		pc, err := decode(ps.seal, row.Name, row.Spec)
		if err == nil && ps.isFile(pc.Name) {
			err = errors.New("a provider of the configuration file has the same name")
		}
		if err == nil {
			err = ps.llm.ValidateProvider(pc)
		}
		if err != nil {
			ps.log.Error().Err(err).Str("provider", row.Name).Msg("providerstore: stored provider left out")
			continue
		}
		api[pc.Name] = apiProvider{cfg: pc, createdAt: row.CreatedAt, updatedAt: row.UpdatedAt}
		all = append(all, pc)
	}
	if reflect.DeepEqual(all, ps.inForce) {
		ps.api = api // timestamps may have moved
		return nil
	}
	if err := ps.llm.SetProviders(ctx, all); err != nil {
		return fmt.Errorf("providerstore: set providers: %w", err)
	}
	ps.api, ps.inForce = api, all
	return nil
}

// SetFile replaces the configuration file's providers and the model
// aliases (a reload of the file): the LLM service gets the new file
// providers plus the API's, together with the new aliases, or nothing
// changes.
func (ps *Store) SetFile(ctx context.Context, file []llm.ProviderConfig, models []llm.ModelConfig) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	all := slices.Clone(file)
	for _, name := range ps.apiNames() {
		if slices.ContainsFunc(file, func(p llm.ProviderConfig) bool { return p.Name == name }) {
			ps.log.Error().Str("provider", name).Msg("providerstore: stored provider left out: a provider of the configuration file has the same name")
			continue
		}
		all = append(all, ps.api[name].cfg)
	}
	if err := ps.llm.Reconfigure(ctx, all, models); err != nil {
		return err
	}
	ps.file, ps.inForce = file, all
	return nil
}

// APINames lists the providers made through the API, by name.
func (ps *Store) APINames() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.apiNames()
}

// apiNames is APINames with ps.mu held.
func (ps *Store) apiNames() []string {
	return slices.Sorted(maps.Keys(ps.api))
}

func (ps *Store) isFile(name string) bool {
	return slices.ContainsFunc(ps.file, func(p llm.ProviderConfig) bool { return p.Name == name })
}

// info shows a provider with the defaults in force.
func (ps *Store) info(e resource.Entry[apiProvider]) Info {
	return infoOf(ps.llm.WithDefaults(e.Value.cfg), e.Source, e.Value.createdAt, e.Value.updatedAt)
}

// List is every provider, the file's first (in the file's order), then the
// API's by name.
func (ps *Store) List() []Info {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]Info, 0, len(ps.file)+len(ps.api))
	for _, pc := range ps.file {
		out = append(out, ps.info(fileEntry(pc)))
	}
	for _, n := range ps.apiNames() {
		out = append(out, ps.info(apiEntry(ps.api[n])))
	}
	return out
}

// Get shows the provider name, the file's or the API's.
func (ps *Store) Get(name string) (Info, error) {
	e, err := ps.providers().Get(name)
	if err != nil {
		return Info{}, err
	}
	return ps.info(e), nil
}

// providers is the file's providers and the API's, as the admin API
// changes them. A file provider has no timestamps.
func (ps *Store) providers() *resource.Kind[apiProvider] {
	return &resource.Kind[apiProvider]{
		Store:  ps.store,
		Kind:   Kind,
		Errors: resource.QuotedErrors(ErrNotFound, ErrExists, ErrReadOnly),
		Find:   ps.find,
		Reload: ps.reload,
	}
}

// find returns the provider name, the file's first.
func (ps *Store) find(name string) (resource.Entry[apiProvider], bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if i := slices.IndexFunc(ps.file, func(p llm.ProviderConfig) bool { return p.Name == name }); i >= 0 {
		return fileEntry(ps.file[i]), true
	}
	p, ok := ps.api[name]
	return apiEntry(p), ok
}

func fileEntry(pc llm.ProviderConfig) resource.Entry[apiProvider] {
	return resource.Entry[apiProvider]{ID: pc.Name, Name: pc.Name, Source: store.SourceFile, Value: apiProvider{cfg: pc}}
}

func apiEntry(p apiProvider) resource.Entry[apiProvider] {
	return resource.Entry[apiProvider]{ID: p.cfg.Name, Name: p.cfg.Name, Source: store.SourceAPI, Value: p}
}

// Create stores a new provider and puts it in force on this replica.
func (ps *Store) Create(ctx context.Context, pc llm.ProviderConfig) (Info, error) {
	if err := ps.llm.ValidateProvider(pc); err != nil {
		return Info{}, err
	}
	if e, ok := ps.find(pc.Name); ok && e.Source == store.SourceFile {
		return Info{}, fmt.Errorf("%w: %q is a provider of the configuration file", ErrExists, pc.Name)
	}
	spec, err := encode(ps.seal, pc)
	if err != nil {
		return Info{}, err
	}
	e, err := ps.providers().Create(ctx, pc.Name, pc.Name, spec)
	if err != nil {
		return Info{}, err
	}
	return ps.info(e), nil
}

// Update applies a JSON merge patch (RFC 7396) to an API-managed provider.
// The name cannot change. A key the patch lists without a value keeps the
// value of the key of the same name.
func (ps *Store) Update(ctx context.Context, name string, patch json.RawMessage) (Info, error) {
	e, err := ps.providers().Update(ctx, name, func(cur resource.Entry[apiProvider]) (json.RawMessage, error) {
		next, err := patched(cur.Value.cfg, patch)
		if err != nil {
			return nil, err
		}
		if err := ps.llm.ValidateProvider(next); err != nil {
			return nil, err
		}
		return encode(ps.seal, next)
	})
	if err != nil {
		return Info{}, err
	}
	return ps.info(e), nil
}

// patched is cur with patch applied; keys listed without a value keep the
// value of cur's key of the same name.
func patched(cur llm.ProviderConfig, patch json.RawMessage) (llm.ProviderConfig, error) {
	sp, err := resource.Patch[Spec](specOf(cur), patch, func(problem string) error {
		return &llm.InvalidProviderError{Problems: []string{problem}}
	})
	if err != nil {
		return llm.ProviderConfig{}, err
	}
	if sp.Name != cur.Name {
		return llm.ProviderConfig{}, &llm.InvalidProviderError{Problems: []string{"name: cannot be changed"}}
	}
	next := sp.Config()
	for i, k := range next.Keys {
		if k.Value != "" {
			continue
		}
		for _, old := range cur.Keys {
			if old.Name != "" && old.Name == k.Name {
				next.Keys[i].Value = old.Value
			}
		}
	}
	return next, nil
}

// Delete removes an API-managed provider; its routes go with it.
func (ps *Store) Delete(ctx context.Context, name string) error {
	return ps.providers().Delete(ctx, name, nil)
}
