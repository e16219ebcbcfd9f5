package providerstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/store/secret"
)

// Spec is a provider definition as the admin API takes it and the store
// keeps it (with its values sealed there): the configuration file's fields.
type Spec struct {
	Name       string            `json:"name"`
	Type       string            `json:"type,omitempty"`
	BaseURL    string            `json:"base_url,omitempty"`
	APIVersion string            `json:"api_version,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Keys       []KeySpec         `json:"keys"`
	Models     []string          `json:"models,omitempty"`
	// ModelPatterns route bare model names here (ProviderConfig.ModelPatterns).
	ModelPatterns []string `json:"model_patterns,omitempty"`
	Timeouts      Timeouts `json:"timeouts,omitzero"`
}

// KeySpec is one key of a Spec.
type KeySpec struct {
	Name   string   `json:"name,omitempty"`
	Value  string   `json:"value,omitempty"`
	Weight float64  `json:"weight,omitempty"`
	Models []string `json:"models,omitempty"`
}

// Timeouts are a provider's timeouts as the admin API shows and takes them.
type Timeouts struct {
	Connect    Duration `json:"connect,omitempty"`
	FirstByte  Duration `json:"first_byte,omitempty"`
	StreamIdle Duration `json:"stream_idle,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("60s"); it also reads a number of seconds.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var text string
	if json.Unmarshal(b, &text) == nil {
		v, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("duration %q: %w", text, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if json.Unmarshal(b, &secs) != nil {
		return fmt.Errorf("duration must be a string like \"60s\" or a number of seconds: %s", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

func timeoutsOf(t llm.TimeoutsConfig) Timeouts {
	return Timeouts{Connect: Duration(t.Connect), FirstByte: Duration(t.FirstByte), StreamIdle: Duration(t.StreamIdle)}
}

// Config is the provider configuration s defines.
func (s Spec) Config() llm.ProviderConfig {
	pc := llm.ProviderConfig{Name: s.Name, Type: s.Type, BaseURL: s.BaseURL, APIVersion: s.APIVersion, Headers: s.Headers,
		Models: s.Models, ModelPatterns: s.ModelPatterns, Timeouts: llm.TimeoutsConfig{Connect: time.Duration(s.Timeouts.Connect),
			FirstByte: time.Duration(s.Timeouts.FirstByte), StreamIdle: time.Duration(s.Timeouts.StreamIdle)}}
	for _, k := range s.Keys {
		pc.Keys = append(pc.Keys, llm.ProviderKeyConfig{Name: k.Name, Value: k.Value, Weight: k.Weight, Models: k.Models})
	}
	return pc
}

func specOf(pc llm.ProviderConfig) Spec {
	s := Spec{Name: pc.Name, Type: pc.Type, BaseURL: pc.BaseURL, APIVersion: pc.APIVersion, Headers: pc.Headers,
		Models: pc.Models, ModelPatterns: pc.ModelPatterns, Timeouts: timeoutsOf(pc.Timeouts)}
	for _, k := range pc.Keys {
		s.Keys = append(s.Keys, KeySpec{Name: k.Name, Value: k.Value, Weight: k.Weight, Models: k.Models})
	}
	return s
}

// Info is a provider as the admin API shows it: never a key value or a
// header value.
type Info struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	BaseURL    string    `json:"base_url,omitempty"`
	APIVersion string    `json:"api_version,omitempty"`
	Headers    []string  `json:"headers,omitempty"`
	Keys       []KeyInfo `json:"keys"`
	Models     []string  `json:"models,omitempty"`
	// ModelPatterns route bare model names here.
	ModelPatterns []string `json:"model_patterns,omitempty"`
	Timeouts      Timeouts `json:"timeouts"`
	// Source is store.SourceFile or store.SourceAPI.
	Source    string     `json:"source"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// KeyInfo is one key of an Info: whether it has a value, never the value.
type KeyInfo struct {
	Name     string   `json:"name"`
	Weight   float64  `json:"weight"`
	Models   []string `json:"models"`
	ValueSet bool     `json:"value_set"`
}

// infoOf shows eff (a provider with the defaults in force).
func infoOf(eff llm.ProviderConfig, source string, created, updated time.Time) Info {
	out := Info{Name: eff.Name, Type: eff.Type, BaseURL: eff.BaseURL, APIVersion: eff.APIVersion,
		Models: eff.Models, ModelPatterns: eff.ModelPatterns, Source: source, Keys: []KeyInfo{}, Timeouts: timeoutsOf(eff.Timeouts)}
	for k := range eff.Headers {
		out.Headers = append(out.Headers, k)
	}
	slices.Sort(out.Headers)
	for _, k := range eff.Keys {
		out.Keys = append(out.Keys, KeyInfo{Name: k.Name, Weight: k.Weight, Models: k.Models, ValueSet: k.Value != ""})
	}
	if !created.IsZero() {
		out.CreatedAt, out.UpdatedAt = &created, &updated
	}
	return out
}

// sealDomain binds every sealed provider secret to the providers.
const sealDomain = "junction.llm.provider"

// keyPurpose is what the providers' sealing key is derived for from the
// secret key.
const keyPurpose = "llm-provider-secrets"

// newSealer seals provider secrets under a key derived from the secret key.
func newSealer(key []byte) (*secret.Sealer, error) {
	s, err := secret.NewSealer(secret.Derive(key, keyPurpose), sealDomain)
	if err != nil {
		return nil, fmt.Errorf("providerstore: provider secrets: %w", err)
	}
	return s, nil
}

// encode is the stored spec of pc: its secrets (key values and header
// values) sealed, each bound to its provider and field. Keys are sealed by
// position and name so one cannot be swapped for another.
func encode(seal *secret.Sealer, pc llm.ProviderConfig) (json.RawMessage, error) {
	sp := specOf(pc)
	sp.Keys = slices.Clone(sp.Keys)
	for i := range sp.Keys {
		sp.Keys[i].Value = seal.Seal(pc.Name, keyField(i, sp.Keys[i].Name), sp.Keys[i].Value)
	}
	if sp.Headers != nil {
		h := make(map[string]string, len(sp.Headers))
		for k, v := range sp.Headers {
			h[k] = seal.Seal(pc.Name, "headers."+k, v)
		}
		sp.Headers = h
	}
	return json.Marshal(sp)
}

// decode opens the stored spec of the provider name.
func decode(seal *secret.Sealer, name string, spec json.RawMessage) (llm.ProviderConfig, error) {
	var sp Spec
	if err := json.Unmarshal(spec, &sp); err != nil {
		return llm.ProviderConfig{}, fmt.Errorf("decode: %w", err)
	}
	if sp.Name != name {
		return llm.ProviderConfig{}, fmt.Errorf("spec names %q", sp.Name)
	}
	var err error
	for i := range sp.Keys {
		if sp.Keys[i].Value, err = seal.Open(sp.Name, keyField(i, sp.Keys[i].Name), sp.Keys[i].Value); err != nil {
			return llm.ProviderConfig{}, err
		}
	}
	for k, v := range sp.Headers {
		if sp.Headers[k], err = seal.Open(sp.Name, "headers."+k, v); err != nil {
			return llm.ProviderConfig{}, err
		}
	}
	return sp.Config(), nil
}

func keyField(i int, name string) string { return fmt.Sprintf("keys.%d.%s", i, name) }
