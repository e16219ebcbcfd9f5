package registry

import (
	"fmt"

	"github.com/junctionhq/junction/store/secret"
)

// sealDomain binds every sealed credential to the registry's servers.
const sealDomain = "junction.registry.server"

// sealer encrypts and decrypts the credentials of server definitions. Each
// value is bound to its server and field, so a sealed value cannot be
// moved to another server or field.
type sealer struct {
	*secret.Sealer
}

func newSealer(key []byte) (*sealer, error) {
	s, err := secret.NewSealer(key, sealDomain)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return &sealer{s}, nil
}

// sealConfig returns c with its credentials (bearer, header values, env
// values and the OAuth client secret) encrypted, for the store.
func (s *sealer) sealConfig(c ServerConfig) ServerConfig {
	out := c
	if c.Bearer != "" {
		out.Bearer = s.Seal(c.Name, "bearer", c.Bearer)
	}
	out.Headers = sealMap(c.Headers, func(k, v string) string { return s.Seal(c.Name, "headers."+k, v) })
	out.Env = sealMap(c.Env, func(k, v string) string { return s.Seal(c.Name, "env."+k, v) })
	if c.Auth != nil {
		a := *c.Auth
		if a.ClientSecret != "" {
			a.ClientSecret = s.Seal(c.Name, "auth.client_secret", a.ClientSecret)
		}
		out.Auth = &a
	}
	return out
}

// openConfig reverses sealConfig.
func (s *sealer) openConfig(c ServerConfig) (ServerConfig, error) {
	out := c
	var err error
	if c.Bearer != "" {
		if out.Bearer, err = s.Open(c.Name, "bearer", c.Bearer); err != nil {
			return ServerConfig{}, err
		}
	}
	var firstErr error
	open := func(prefix string) func(k, v string) string {
		return func(k, v string) string {
			plain, err := s.Open(c.Name, prefix+k, v)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			return plain
		}
	}
	out.Headers = sealMap(c.Headers, open("headers."))
	out.Env = sealMap(c.Env, open("env."))
	if c.Auth != nil {
		a := *c.Auth
		if a.ClientSecret != "" {
			a.ClientSecret = open("auth.")("client_secret", a.ClientSecret)
		}
		out.Auth = &a
	}
	if firstErr != nil {
		return ServerConfig{}, firstErr
	}
	return out, nil
}

func sealMap(m map[string]string, f func(k, v string) string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = f(k, v)
	}
	return out
}

// DeriveKey returns a 32-byte key for purpose, derived from the secret key
// (see [secret.Derive]), so that other parts of the gateway can protect
// what they hand out (for example the hub's MAC'd request states) with a
// key that every replica shares and that is not the encryption key itself.
func (r *Registry) DeriveKey(purpose string) []byte {
	return secret.Derive(r.secret, purpose)
}
