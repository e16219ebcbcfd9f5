package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/secret"
)

// The admin API for LLM providers. Providers from the configuration file
// are read-only here; providers made through the API live in the store
// (resource kind "provider") with their key values and header values
// sealed (store/secret, under a key derived from the gateway's secret key),
// and every replica follows the store's change feed and swaps its provider
// set without a restart.

// kindProvider is the store resource kind of API-managed providers.
const kindProvider = "provider"

// providerReloadInterval is how often the providers are re-read from the
// store as a safety net beside the change feed.
const providerReloadInterval = time.Minute

// providerSealDomain binds every sealed provider secret to the providers.
const providerSealDomain = "junction.llm.provider"

// providerKeyPurpose is what the providers' sealing key is derived for
// from the secret key.
const providerKeyPurpose = "llm-provider-secrets"

var (
	errProviderNotFound = errors.New("provider not found")
	errProviderReadOnly = errors.New("this provider is managed by the configuration file and is read-only through the API")
	errProviderExists   = errors.New("provider already exists")
)

// providerSpec is a provider definition as the API takes it and the store
// keeps it (with values sealed there): the configuration file's fields.
type providerSpec struct {
	Name       string            `json:"name"`
	Type       string            `json:"type,omitempty"`
	BaseURL    string            `json:"base_url,omitempty"`
	APIVersion string            `json:"api_version,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Keys       []providerKeySpec `json:"keys"`
	Models     []string          `json:"models,omitempty"`
	Timeouts   providerTimeouts  `json:"timeouts,omitzero"`
}

type providerKeySpec struct {
	Name   string   `json:"name,omitempty"`
	Value  string   `json:"value,omitempty"`
	Weight float64  `json:"weight,omitempty"`
	Models []string `json:"models,omitempty"`
}

type providerTimeouts struct {
	Connect    registry.Duration `json:"connect,omitempty"`
	FirstByte  registry.Duration `json:"first_byte,omitempty"`
	StreamIdle registry.Duration `json:"stream_idle,omitempty"`
}

func (p providerSpec) config() llm.ProviderConfig {
	pc := llm.ProviderConfig{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIVersion: p.APIVersion, Headers: p.Headers,
		Models: p.Models, Timeouts: llm.TimeoutsConfig{Connect: time.Duration(p.Timeouts.Connect),
			FirstByte: time.Duration(p.Timeouts.FirstByte), StreamIdle: time.Duration(p.Timeouts.StreamIdle)}}
	for _, k := range p.Keys {
		pc.Keys = append(pc.Keys, llm.ProviderKeyConfig{Name: k.Name, Value: k.Value, Weight: k.Weight, Models: k.Models})
	}
	return pc
}

func specOf(pc llm.ProviderConfig) providerSpec {
	p := providerSpec{Name: pc.Name, Type: pc.Type, BaseURL: pc.BaseURL, APIVersion: pc.APIVersion, Headers: pc.Headers,
		Models: pc.Models, Timeouts: providerTimeouts{Connect: registry.Duration(pc.Timeouts.Connect),
			FirstByte: registry.Duration(pc.Timeouts.FirstByte), StreamIdle: registry.Duration(pc.Timeouts.StreamIdle)}}
	for _, k := range pc.Keys {
		p.Keys = append(p.Keys, providerKeySpec{Name: k.Name, Value: k.Value, Weight: k.Weight, Models: k.Models})
	}
	return p
}

// providerInfo is a provider as the admin API shows it: never a key value
// or a header value.
type providerInfo struct {
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	BaseURL    string            `json:"base_url,omitempty"`
	APIVersion string            `json:"api_version,omitempty"`
	Headers    []string          `json:"headers,omitempty"`
	Keys       []providerKeyInfo `json:"keys"`
	Models     []string          `json:"models,omitempty"`
	Timeouts   providerTimeouts  `json:"timeouts"`
	// Source is store.SourceFile or store.SourceAPI.
	Source    string     `json:"source"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

type providerKeyInfo struct {
	Name     string   `json:"name"`
	Weight   float64  `json:"weight"`
	Models   []string `json:"models"`
	ValueSet bool     `json:"value_set"`
}

// apiProvider is an API-managed provider as this replica holds it.
type apiProvider struct {
	cfg                  llm.ProviderConfig // as given, values in the clear
	createdAt, updatedAt time.Time
}

// providerAdmin owns the API-managed providers: the store rows, their
// encryption, and keeping the LLM service's provider set in step with the
// file's providers plus the store's.
type providerAdmin struct {
	store *store.Store
	llm   *llm.Service
	seal  *secret.Sealer
	log   zerolog.Logger
	file  []llm.ProviderConfig // the configuration file's, in order

	// mu serialises reloads and guards api and inForce.
	mu  sync.Mutex
	api map[string]apiProvider
	// inForce is what the last reload gave the LLM service, so a reload that
	// finds nothing new (this replica's own write, echoed by the change
	// feed) changes nothing.
	inForce []llm.ProviderConfig

	stop func()
	wg   sync.WaitGroup
}

// newProviderAdmin loads the API-managed providers into svc and follows
// the store's changes until Close. key is the process's secret key.
func newProviderAdmin(ctx context.Context, st *store.Store, svc *llm.Service, key []byte, file []llm.ProviderConfig, log zerolog.Logger) (*providerAdmin, error) {
	sealer, err := newProviderSealer(key)
	if err != nil {
		return nil, err
	}
	pa := &providerAdmin{store: st, llm: svc, seal: sealer, log: log, file: file, api: map[string]apiProvider{}}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	pa.stop = stop
	// Subscribe before the first load, so no change falls between them.
	changes, err := st.Subscribe(runCtx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("gateway: follow provider changes: %w", err)
	}
	if err := pa.reload(ctx); err != nil {
		stop()
		return nil, err
	}
	pa.wg.Add(1)
	go pa.follow(runCtx, changes)
	return pa, nil
}

// newProviderSealer seals provider secrets under a key derived from the
// secret key.
func newProviderSealer(key []byte) (*secret.Sealer, error) {
	s, err := secret.NewSealer(secret.Derive(key, providerKeyPurpose), providerSealDomain)
	if err != nil {
		return nil, fmt.Errorf("gateway: provider secrets: %w", err)
	}
	return s, nil
}

// Close stops following the store and waits for it.
func (pa *providerAdmin) Close(context.Context) error {
	pa.stop()
	pa.wg.Wait()
	return nil
}

func (pa *providerAdmin) follow(ctx context.Context, changes <-chan store.Change) {
	defer pa.wg.Done()
	store.Follow(ctx, changes, store.FollowOptions{Topic: store.ResourceTopic(kindProvider), Interval: providerReloadInterval,
		OnError: func(err error) {
			pa.log.Error().Err(err).Msg("gateway: reload providers failed; keeping the current ones")
		}}, pa.reload)
}

// reload reads the API-managed providers and gives the LLM service the
// file's providers plus them. A stored provider that cannot be decrypted,
// or that clashes with a file provider, is logged and left out.
func (pa *providerAdmin) reload(ctx context.Context) error {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	rows, err := pa.store.ListResources(ctx, kindProvider)
	if err != nil {
		return fmt.Errorf("gateway: load providers: %w", err)
	}
	api := make(map[string]apiProvider, len(rows))
	all := slices.Clone(pa.file)
	for _, row := range rows {
		pc, err := pa.decode(row)
		if err == nil && pa.isFile(pc.Name) {
			err = errors.New("a provider of the configuration file has the same name")
		}
		if err == nil {
			err = pa.llm.ValidateProvider(pc)
		}
		if err != nil {
			pa.log.Error().Err(err).Str("provider", row.Name).Msg("gateway: stored provider left out")
			continue
		}
		api[pc.Name] = apiProvider{cfg: pc, createdAt: row.CreatedAt, updatedAt: row.UpdatedAt}
		all = append(all, pc)
	}
	if reflect.DeepEqual(all, pa.inForce) {
		pa.api = api // timestamps may have moved
		return nil
	}
	if err := pa.llm.SetProviders(ctx, all); err != nil {
		return fmt.Errorf("gateway: set providers: %w", err)
	}
	pa.api, pa.inForce = api, all
	return nil
}

func (pa *providerAdmin) isFile(name string) bool {
	return slices.ContainsFunc(pa.file, func(p llm.ProviderConfig) bool { return p.Name == name })
}

// encode is the stored spec of pc: its secrets (key values and header
// values) sealed, each bound to its provider and field. Keys are sealed by
// position and name so one cannot be swapped for another.
func (pa *providerAdmin) encode(pc llm.ProviderConfig) (json.RawMessage, error) {
	sp := specOf(pc)
	sp.Keys = slices.Clone(sp.Keys)
	for i := range sp.Keys {
		sp.Keys[i].Value = pa.seal.Seal(pc.Name, fmt.Sprintf("keys.%d.%s", i, sp.Keys[i].Name), sp.Keys[i].Value)
	}
	if sp.Headers != nil {
		h := make(map[string]string, len(sp.Headers))
		for k, v := range sp.Headers {
			h[k] = pa.seal.Seal(pc.Name, "headers."+k, v)
		}
		sp.Headers = h
	}
	return json.Marshal(sp)
}

func (pa *providerAdmin) decode(row store.Resource) (llm.ProviderConfig, error) {
	var sp providerSpec
	if err := json.Unmarshal(row.Spec, &sp); err != nil {
		return llm.ProviderConfig{}, fmt.Errorf("decode: %w", err)
	}
	if sp.Name != row.Name {
		return llm.ProviderConfig{}, fmt.Errorf("spec names %q", sp.Name)
	}
	var err error
	for i := range sp.Keys {
		if sp.Keys[i].Value, err = pa.seal.Open(sp.Name, fmt.Sprintf("keys.%d.%s", i, sp.Keys[i].Name), sp.Keys[i].Value); err != nil {
			return llm.ProviderConfig{}, err
		}
	}
	for k, v := range sp.Headers {
		if sp.Headers[k], err = pa.seal.Open(sp.Name, "headers."+k, v); err != nil {
			return llm.ProviderConfig{}, err
		}
	}
	return sp.config(), nil
}

// info shows a provider with the defaults in force.
func (pa *providerAdmin) info(pc llm.ProviderConfig, source string, created, updated time.Time) providerInfo {
	eff := pa.llm.WithDefaults(pc)
	out := providerInfo{Name: eff.Name, Type: eff.Type, BaseURL: eff.BaseURL, APIVersion: eff.APIVersion,
		Models: eff.Models, Source: source, Keys: []providerKeyInfo{},
		Timeouts: providerTimeouts{Connect: registry.Duration(eff.Timeouts.Connect),
			FirstByte: registry.Duration(eff.Timeouts.FirstByte), StreamIdle: registry.Duration(eff.Timeouts.StreamIdle)}}
	for k := range eff.Headers {
		out.Headers = append(out.Headers, k)
	}
	slices.Sort(out.Headers)
	for _, k := range eff.Keys {
		out.Keys = append(out.Keys, providerKeyInfo{Name: k.Name, Weight: k.Weight, Models: k.Models, ValueSet: k.Value != ""})
	}
	if !created.IsZero() {
		out.CreatedAt, out.UpdatedAt = &created, &updated
	}
	return out
}

// list is every provider, the file's first (in the file's order), then
// the API's by name.
func (pa *providerAdmin) list() []providerInfo {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	out := make([]providerInfo, 0, len(pa.file)+len(pa.api))
	for _, pc := range pa.file {
		out = append(out, pa.info(pc, store.SourceFile, time.Time{}, time.Time{}))
	}
	names := make([]string, 0, len(pa.api))
	for n := range pa.api {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := pa.api[n]
		out = append(out, pa.info(p.cfg, store.SourceAPI, p.createdAt, p.updatedAt))
	}
	return out
}

func (pa *providerAdmin) get(name string) (providerInfo, error) {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	for _, pc := range pa.file {
		if pc.Name == name {
			return pa.info(pc, store.SourceFile, time.Time{}, time.Time{}), nil
		}
	}
	if p, ok := pa.api[name]; ok {
		return pa.info(p.cfg, store.SourceAPI, p.createdAt, p.updatedAt), nil
	}
	return providerInfo{}, fmt.Errorf("%w: %q", errProviderNotFound, name)
}

func (pa *providerAdmin) current(name string) (llm.ProviderConfig, error) {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	if pa.isFile(name) {
		return llm.ProviderConfig{}, errProviderReadOnly
	}
	p, ok := pa.api[name]
	if !ok {
		return llm.ProviderConfig{}, fmt.Errorf("%w: %q", errProviderNotFound, name)
	}
	return p.cfg, nil
}

// create stores a new provider and puts it in force on this replica.
func (pa *providerAdmin) create(ctx context.Context, pc llm.ProviderConfig) (providerInfo, error) {
	if err := pa.llm.ValidateProvider(pc); err != nil {
		return providerInfo{}, err
	}
	if pa.isFile(pc.Name) {
		return providerInfo{}, fmt.Errorf("%w: %q is a provider of the configuration file", errProviderExists, pc.Name)
	}
	spec, err := pa.encode(pc)
	if err != nil {
		return providerInfo{}, err
	}
	if _, err := pa.store.CreateResource(ctx, store.Resource{Kind: kindProvider, ID: pc.Name, Name: pc.Name, Spec: spec, Source: store.SourceAPI}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return providerInfo{}, fmt.Errorf("%w: %q", errProviderExists, pc.Name)
		}
		return providerInfo{}, err
	}
	return pa.afterWrite(ctx, pc.Name)
}

// update applies a JSON merge patch (RFC 7396) to an API-managed provider.
// The name cannot change. A key the patch lists without a value keeps the
// value of the key of the same name.
func (pa *providerAdmin) update(ctx context.Context, name string, patch json.RawMessage) (providerInfo, error) {
	cur, err := pa.current(name)
	if err != nil {
		return providerInfo{}, err
	}
	b, err := json.Marshal(specOf(cur))
	if err != nil {
		return providerInfo{}, err
	}
	merged, err := store.MergePatch(b, patch)
	if err != nil {
		return providerInfo{}, &llm.InvalidProviderError{Problems: []string{"patch must be a JSON object: " + err.Error()}}
	}
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	var sp providerSpec
	if err := dec.Decode(&sp); err != nil {
		return providerInfo{}, &llm.InvalidProviderError{Problems: []string{"patch: " + err.Error()}}
	}
	if sp.Name != name {
		return providerInfo{}, &llm.InvalidProviderError{Problems: []string{"name: cannot be changed"}}
	}
	next := sp.config()
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
	if err := pa.llm.ValidateProvider(next); err != nil {
		return providerInfo{}, err
	}
	spec, err := pa.encode(next)
	if err != nil {
		return providerInfo{}, err
	}
	if _, err := pa.store.UpdateResource(ctx, store.Resource{Kind: kindProvider, ID: name, Name: name, Spec: spec}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return providerInfo{}, fmt.Errorf("%w: %q", errProviderNotFound, name)
		}
		return providerInfo{}, err
	}
	return pa.afterWrite(ctx, name)
}

// remove deletes an API-managed provider; its routes go with it.
func (pa *providerAdmin) remove(ctx context.Context, name string) error {
	if _, err := pa.current(name); err != nil {
		return err
	}
	if err := pa.store.DeleteResource(ctx, kindProvider, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", errProviderNotFound, name)
		}
		return err
	}
	return pa.reload(ctx)
}

func (pa *providerAdmin) afterWrite(ctx context.Context, name string) (providerInfo, error) {
	if err := pa.reload(ctx); err != nil {
		return providerInfo{}, err
	}
	return pa.get(name)
}

func providerError(err error) error {
	var inv *llm.InvalidProviderError
	switch {
	case errors.As(err, &inv):
		return apierror.Invalid(inv.Error())
	case errors.Is(err, errProviderNotFound):
		return apierror.NotFound(err.Error())
	case errors.Is(err, errProviderReadOnly):
		return apierror.ReadOnly(err.Error())
	case errors.Is(err, errProviderExists):
		return apierror.Conflict(err.Error())
	}
	return err
}

func (g *Gateway) listProviders(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, listBody[providerInfo]{Data: g.providers.list()})
	return nil
}

func (g *Gateway) createProvider(w http.ResponseWriter, r *http.Request) error {
	var sp providerSpec
	if err := decodeJSON(r, &sp); err != nil {
		return err
	}
	info, err := g.providers.create(r.Context(), sp.config())
	if err != nil {
		return providerError(err)
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (g *Gateway) getProvider(w http.ResponseWriter, r *http.Request) error {
	info, err := g.providers.get(pathParam(r, "name"))
	if err != nil {
		return providerError(err)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (g *Gateway) patchProvider(w http.ResponseWriter, r *http.Request) error {
	patch, err := readPatch(r)
	if err != nil {
		return err
	}
	info, err := g.providers.update(r.Context(), pathParam(r, "name"), patch)
	if err != nil {
		return providerError(err)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (g *Gateway) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	if err := g.providers.remove(r.Context(), pathParam(r, "name")); err != nil {
		return providerError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
