package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/resource"
)

// The admin operations. Each writes the store and then reloads this
// replica, so a change is in force here when the call returns and on every
// other replica as soon as the store's change notification reaches it.
// Reads come from memory.

// ErrNotFound is returned for an unknown server.
var ErrNotFound = errors.New("registry: server not found")

// ErrConflict is returned when a server name is already taken.
var ErrConflict = errors.New("registry: server already exists")

// ErrReadOnly is returned when an API change targets a server that the
// configuration file manages.
var ErrReadOnly = errors.New("registry: this server is managed by the configuration file and is read-only through the API")

// ErrInvalid matches (with errors.Is) every *InvalidError.
var ErrInvalid = errors.New("registry: invalid server definition")

// InvalidError reports a server definition that is not valid, with every
// problem, each naming its field.
type InvalidError struct {
	Problems []string
}

// Error lists the problems.
func (e *InvalidError) Error() string { return resource.Problems(e.Problems).String() }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// invalidProblem is the *InvalidError of one problem.
func invalidProblem(problem string) error { return &InvalidError{Problems: []string{problem}} }

func invalid(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Problems: resource.ProblemsOf(errs)}
}

// ServerInfo is a server's definition as the admin API shows it: the
// configuration without credentials (which headers and variables are set,
// and whether a bearer token is, but never their values), plus its live
// status.
type ServerInfo struct {
	Name      string   `json:"name"`
	Transport string   `json:"transport"`
	Command   string   `json:"command,omitempty"`
	Args      []string `json:"args,omitempty"`
	// Env names the environment variables set for Command.
	Env []string `json:"env,omitempty"`
	// EnvPassthrough names the variables of the gateway's own environment
	// passed to Command.
	EnvPassthrough []string `json:"env_passthrough,omitempty"`
	Cwd            string   `json:"cwd,omitempty"`
	URL            string   `json:"url,omitempty"`
	// Headers names the headers sent to the server.
	Headers []string `json:"headers,omitempty"`
	// Bearer says whether a bearer token is configured.
	Bearer bool `json:"bearer"`
	// Auth is the OAuth configuration, without the client secret.
	Auth *AuthInfo `json:"auth,omitempty"`
	// Timeout and ConnectTimeout are the effective values (defaults applied).
	Timeout        Duration `json:"timeout"`
	ConnectTimeout Duration `json:"connect_timeout"`
	Disabled       bool     `json:"disabled"`
	IncludeTools   []string `json:"include_tools,omitempty"`
	ExcludeTools   []string `json:"exclude_tools,omitempty"`
	// Prefix is the effective public-name prefix.
	Prefix string `json:"prefix"`
	// Source is store.SourceFile or store.SourceAPI.
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Status    Status    `json:"status"`
}

func (u *upstream) info() ServerInfo {
	c := u.def.cfg
	st, _ := u.snapshot()
	return ServerInfo{
		Name: c.Name, Transport: c.Transport, Command: c.Command, Args: c.Args,
		Env: sortedKeys(c.Env), EnvPassthrough: c.EnvPassthrough, Cwd: c.Cwd, URL: c.URL, Headers: sortedKeys(c.Headers), Bearer: c.Bearer != "",
		Timeout: Duration(c.timeout()), ConnectTimeout: Duration(c.connectTimeout()), Disabled: c.Disabled,
		IncludeTools: c.IncludeTools, ExcludeTools: c.ExcludeTools, Prefix: c.prefix(),
		Source: u.def.source, CreatedAt: u.def.createdAt, UpdatedAt: u.def.updatedAt, Status: st,
		Auth: authInfo(c.Auth),
	}
}

// AuthInfo is an AuthConfig as the admin API shows it.
type AuthInfo struct {
	Type       string   `json:"type"`
	TokenURL   string   `json:"token_url"`
	ClientID   string   `json:"client_id"`
	Scopes     []string `json:"scopes,omitempty"`
	ClientAuth string   `json:"client_auth,omitempty"`
	// ClientSecret says whether a client secret is configured.
	ClientSecret bool `json:"client_secret"`
}

func authInfo(a *AuthConfig) *AuthInfo {
	if a == nil {
		return nil
	}
	return &AuthInfo{Type: a.Type, TokenURL: a.TokenURL, ClientID: a.ClientID, Scopes: a.Scopes,
		ClientAuth: a.ClientAuth, ClientSecret: a.ClientSecret != ""}
}

func sortedKeys(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Servers lists every registered server, by name.
func (r *Registry) Servers() []ServerInfo {
	ups := r.upstreams()
	out := make([]ServerInfo, 0, len(ups))
	for _, u := range ups {
		out = append(out, u.info())
	}
	return out
}

// Server returns the named server, or an error matching ErrNotFound.
func (r *Registry) Server(name string) (ServerInfo, error) {
	e, err := r.servers().Get(name)
	if err != nil {
		return ServerInfo{}, err
	}
	return e.Value.info(), nil
}

// ServerTools returns the tools the named server offers now (after its
// include and exclude patterns): none while it is not ready.
func (r *Registry) ServerTools(name string) ([]Tool, error) {
	if _, err := r.servers().Get(name); err != nil {
		return nil, err
	}
	for _, s := range r.Catalog().Servers {
		if s.Name == name {
			return s.Tools, nil
		}
	}
	return nil, nil
}

// servers is the admin API's view of the server definitions: the file's
// and the API's, as this replica runs them.
func (r *Registry) servers() *resource.Kind[*upstream] {
	return &resource.Kind[*upstream]{
		Store:  r.store,
		Kind:   kindServer,
		Errors: resource.QuotedErrors(ErrNotFound, ErrConflict, ErrReadOnly),
		Find: func(name string) (resource.Entry[*upstream], bool) {
			u, ok := r.lookup(name)
			if !ok {
				return resource.Entry[*upstream]{}, false
			}
			return resource.Entry[*upstream]{ID: name, Name: name, Source: u.def.source, Value: u}, true
		},
		Reload: r.Reload,
	}
}

// CreateServer registers a server through the API. Registering a stdio
// server runs a command: callers must allow it to admins only.
func (r *Registry) CreateServer(ctx context.Context, cfg ServerConfig) (ServerInfo, error) {
	if err := invalid(cfg.Validate("")); err != nil {
		return ServerInfo{}, err
	}
	spec, err := json.Marshal(r.sealer.sealConfig(cfg))
	if err != nil {
		return ServerInfo{}, err
	}
	e, err := r.servers().Create(ctx, cfg.Name, cfg.Name, spec)
	if err != nil {
		return ServerInfo{}, err
	}
	return e.Value.info(), nil
}

// UpdateServer applies a JSON merge patch (RFC 7396) to an API-managed
// server's configuration (its name cannot change) and reconnects it.
// Credentials the patch does not mention are kept.
func (r *Registry) UpdateServer(ctx context.Context, name string, patch json.RawMessage) (ServerInfo, error) {
	e, err := r.servers().Update(ctx, name, func(cur resource.Entry[*upstream]) (json.RawMessage, error) {
		next, err := resource.Patch[ServerConfig](cur.Value.def.cfg, patch, invalidProblem)
		if err != nil {
			return nil, err
		}
		if next.Name != name {
			return nil, invalidProblem("name: cannot be changed")
		}
		if err := invalid(next.Validate("")); err != nil {
			return nil, err
		}
		return json.Marshal(r.sealer.sealConfig(next))
	})
	if err != nil {
		return ServerInfo{}, err
	}
	return e.Value.info(), nil
}

// DeleteServer removes an API-managed server and disconnects it.
func (r *Registry) DeleteServer(ctx context.Context, name string) error {
	return r.servers().Delete(ctx, name, nil)
}

// Refresh re-lists the named server's catalog now and waits for it. It
// fails with an *UnavailableError if the server is not ready.
func (r *Registry) Refresh(ctx context.Context, name string) error {
	e, err := r.servers().Get(name)
	if err != nil {
		return err
	}
	u := e.Value
	if _, err := u.ready(); err != nil {
		return err
	}
	reply := make(chan error, 1)
	select {
	case u.refresh <- reply:
	case <-u.done:
		return &UnavailableError{Server: name, State: StateFailed, Reason: "disconnected"}
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		if err != nil {
			return fmt.Errorf("registry: refresh %s: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SyncConfig makes the file-managed servers in the store exactly servers
// (adding, changing and removing), then reloads. Servers made through the
// API are left alone; a file server whose name an API server has taken is
// an error matching ErrConflict. Unchanged servers keep their stored spec
// (and connection).
func (r *Registry) SyncConfig(ctx context.Context, servers []ServerConfig) error {
	var errs []error
	seen := map[string]bool{}
	for i, s := range servers {
		path := fmt.Sprintf("servers[%d]", i)
		errs = append(errs, s.Validate(path)...)
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is declared twice", path, s.Name))
		}
		seen[s.Name] = true
	}
	if err := invalid(errs); err != nil {
		return fmt.Errorf("registry: configuration: %w", err)
	}
	existing, err := r.store.ListResources(ctx, kindServer)
	if err != nil {
		return fmt.Errorf("registry: sync servers: %w", err)
	}
	current := map[string]store.Resource{}
	for _, row := range existing {
		current[row.Name] = row
	}
	rows := make([]store.Resource, 0, len(servers))
	for _, s := range servers {
		var spec json.RawMessage
		if row, ok := current[s.Name]; ok && row.Source == store.SourceFile {
			// Re-sealing uses fresh nonces; keep the stored bytes when the
			// definition is the same, so nothing reconnects.
			if def := r.decode(row); def.err == nil && sameConfig(def.cfg, s) {
				spec = row.Spec
			}
		}
		if spec == nil {
			if spec, err = json.Marshal(r.sealer.sealConfig(s)); err != nil {
				return err
			}
		}
		rows = append(rows, store.Resource{Kind: kindServer, ID: s.Name, Name: s.Name, Spec: spec, Source: store.SourceFile})
	}
	if err := r.store.SyncFileResources(ctx, kindServer, rows); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("registry: sync servers: %w: %w", ErrConflict, err)
		}
		return fmt.Errorf("registry: sync servers: %w", err)
	}
	return r.Reload(ctx)
}

// sameConfig compares two configurations by their JSON.
func sameConfig(a, b ServerConfig) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
