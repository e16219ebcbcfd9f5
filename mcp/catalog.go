package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/registry"
)

// merged is the hub's view of every upstream's catalog: public names mapped
// to (server, upstream name), and the mcp-go values to serve, built once per
// catalog change so that nothing on a request's path decodes a catalog.
// A merged is immutable once built.
type merged struct {
	version uint64

	tools       []*toolEntry // sorted by public name
	toolsByName map[string]*toolEntry

	prompts       []*promptEntry // sorted by public name
	promptsByName map[string]*promptEntry

	resources      []*resourceEntry // sorted by URI
	resourcesByURI map[string]*resourceEntry

	templates      []*templateEntry // sorted by URI template
	templatesByURI map[string]*templateEntry

	// subscribable holds the servers that offer resource subscriptions,
	// subscribableServers the same in name order.
	subscribable        map[string]bool
	subscribableServers []string

	// modern holds the servers that speak the 2026-07-28 protocol.
	modern map[string]bool
}

// resourceServer returns the server that serves uri: the one listing it,
// else the one of the first resource template (in URI template order) that
// matches it.
func (m *merged) resourceServer(uri string) (string, bool) {
	if r := m.resourcesByURI[uri]; r != nil {
		return r.server, true
	}
	for _, t := range m.templates {
		if t.served.URITemplate != nil && t.served.URITemplate.Template != nil && t.served.URITemplate.Regexp().MatchString(uri) {
			return t.server, true
		}
	}
	return "", false
}

// toolEntry is one federated tool.
type toolEntry struct {
	public string
	tool   registry.Tool
	// inputSchema and outputSchema are the upstream's schemas, byte for byte.
	inputSchema, outputSchema json.RawMessage
	// served is what tools/list returns for the tool.
	served mcp.Tool
}

// promptEntry is one federated prompt.
type promptEntry struct {
	public string
	prompt registry.Prompt
	served mcp.Prompt
}

// resourceEntry is one federated resource; resources keep their URIs.
type resourceEntry struct {
	server string
	served mcp.Resource
}

// templateEntry is one federated resource template.
type templateEntry struct {
	server string
	uri    string
	served mcp.ResourceTemplate
}

// defaultInputSchema is served for a tool that declared none.
var defaultInputSchema = json.RawMessage(`{"type":"object"}`)

// buildMerged merges cat. Entries whose upstream JSON cannot be served are
// left out and logged: one bad upstream entry never breaks the catalog.
func buildMerged(cat *registry.Catalog, log zerolog.Logger) *merged {
	m := &merged{
		toolsByName:    map[string]*toolEntry{},
		promptsByName:  map[string]*promptEntry{},
		resourcesByURI: map[string]*resourceEntry{},
		templatesByURI: map[string]*templateEntry{},
		subscribable:   map[string]bool{},
		modern:         map[string]bool{},
	}
	if cat == nil {
		return m
	}
	m.version = cat.Version
	servers := slices.Clone(cat.Servers)
	slices.SortStableFunc(servers, func(a, b registry.ServerCatalog) int { return strings.Compare(a.Name, b.Name) })

	var toolNames, promptNames []namedEntry
	for _, sc := range servers {
		for _, t := range sc.Tools {
			toolNames = append(toolNames, namedEntry{prefix: sc.Prefix, server: sc.Name, name: t.Name})
		}
		for _, p := range sc.Prompts {
			promptNames = append(promptNames, namedEntry{prefix: sc.Prefix, server: sc.Name, name: p.Name})
		}
	}
	toolPublic := assignNames(toolNames)
	promptPublic := assignNames(promptNames)

	for _, sc := range servers {
		if mcp.IsModernProtocol(sc.ProtocolVersion) {
			m.modern[sc.Name] = true
		}
		if sc.ResourceSubscribe && !m.subscribable[sc.Name] {
			m.subscribable[sc.Name] = true
			m.subscribableServers = append(m.subscribableServers, sc.Name)
		}
		for _, t := range sc.Tools {
			if t.Server == "" {
				t.Server = sc.Name
			}
			public := toolPublic[nameKey{sc.Name, t.Name}]
			if _, dup := m.toolsByName[public]; dup {
				continue
			}
			e, err := newToolEntry(public, t)
			if err != nil {
				log.Warn().Err(err).Str("server", sc.Name).Str("tool", t.Name).Msg("mcp: upstream tool left out of the catalog")
				continue
			}
			m.tools = append(m.tools, e)
			m.toolsByName[public] = e
		}
		for _, p := range sc.Prompts {
			if p.Server == "" {
				p.Server = sc.Name
			}
			public := promptPublic[nameKey{sc.Name, p.Name}]
			if _, dup := m.promptsByName[public]; dup {
				continue
			}
			e, err := newPromptEntry(public, p)
			if err != nil {
				log.Warn().Err(err).Str("server", sc.Name).Str("prompt", p.Name).Msg("mcp: upstream prompt left out of the catalog")
				continue
			}
			m.prompts = append(m.prompts, e)
			m.promptsByName[public] = e
		}
		// Resources and templates keep their URIs, which are meaningful to
		// clients. When two servers offer the same URI, the server that
		// sorts first by name wins (servers are visited in name order) and
		// the other's entry is left out, so the choice is the same on every
		// replica and after every restart.
		for _, r := range sc.Resources {
			if _, dup := m.resourcesByURI[r.URI]; dup {
				log.Debug().Str("server", sc.Name).Str("uri", r.URI).Msg("mcp: resource URI already offered by another server; left out")
				continue
			}
			e, err := newResourceEntry(sc.Name, r)
			if err != nil {
				log.Warn().Err(err).Str("server", sc.Name).Str("uri", r.URI).Msg("mcp: upstream resource left out of the catalog")
				continue
			}
			m.resources = append(m.resources, e)
			m.resourcesByURI[r.URI] = e
		}
		for _, rt := range sc.Templates {
			if _, dup := m.templatesByURI[rt.URITemplate]; dup {
				log.Debug().Str("server", sc.Name).Str("uri_template", rt.URITemplate).Msg("mcp: resource template already offered by another server; left out")
				continue
			}
			e, err := newTemplateEntry(sc.Name, rt)
			if err != nil {
				log.Warn().Err(err).Str("server", sc.Name).Str("uri_template", rt.URITemplate).Msg("mcp: upstream resource template left out of the catalog")
				continue
			}
			m.templates = append(m.templates, e)
			m.templatesByURI[rt.URITemplate] = e
		}
	}
	slices.SortFunc(m.tools, func(a, b *toolEntry) int { return strings.Compare(a.public, b.public) })
	slices.SortFunc(m.prompts, func(a, b *promptEntry) int { return strings.Compare(a.public, b.public) })
	slices.SortFunc(m.resources, func(a, b *resourceEntry) int { return strings.Compare(a.served.URI, b.served.URI) })
	slices.SortFunc(m.templates, func(a, b *templateEntry) int { return strings.Compare(a.uri, b.uri) })
	return m
}

// upstreamTool is the part of an upstream's tool object that is served
// besides the schemas, which are kept raw.
type upstreamTool struct {
	Meta         *mcp.Meta          `json:"_meta,omitempty"`
	Title        string             `json:"title,omitempty"`
	Description  string             `json:"description,omitempty"`
	InputSchema  json.RawMessage    `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage    `json:"outputSchema,omitempty"`
	Annotations  mcp.ToolAnnotation `json:"annotations"`
	Icons        []mcp.Icon         `json:"icons,omitempty"`
}

func newToolEntry(public string, t registry.Tool) (*toolEntry, error) {
	var u upstreamTool
	if len(bytes.TrimSpace(t.Raw)) > 0 {
		if err := json.Unmarshal(t.Raw, &u); err != nil {
			return nil, fmt.Errorf("decode tool: %w", err)
		}
	}
	if u.Description == "" {
		u.Description = t.Description
	}
	in := u.InputSchema
	if len(bytes.TrimSpace(in)) == 0 || bytes.Equal(bytes.TrimSpace(in), []byte("null")) {
		in = defaultInputSchema
	}
	out := u.OutputSchema
	if bytes.Equal(bytes.TrimSpace(out), []byte("null")) {
		out = nil
	}
	served := mcp.Tool{
		Meta:           u.Meta,
		Name:           public,
		Title:          u.Title,
		Description:    u.Description,
		RawInputSchema: in,
		Annotations:    u.Annotations,
		Icons:          u.Icons,
		// Execution (task support) is not forwarded: the hub calls every
		// upstream tool synchronously.
	}
	if len(out) > 0 {
		served.RawOutputSchema = out
	}
	if err := mcp.ValidateParamHeaderAnnotations(&served); err != nil {
		return nil, err
	}
	return &toolEntry{public: public, tool: t, inputSchema: in, outputSchema: out, served: served}, nil
}

func newPromptEntry(public string, p registry.Prompt) (*promptEntry, error) {
	var served mcp.Prompt
	if len(bytes.TrimSpace(p.Raw)) > 0 {
		if err := json.Unmarshal(p.Raw, &served); err != nil {
			return nil, fmt.Errorf("decode prompt: %w", err)
		}
	}
	served.Name = public
	return &promptEntry{public: public, prompt: p, served: served}, nil
}

func newResourceEntry(server string, r registry.Resource) (*resourceEntry, error) {
	var served mcp.Resource
	if len(bytes.TrimSpace(r.Raw)) > 0 {
		if err := json.Unmarshal(r.Raw, &served); err != nil {
			return nil, fmt.Errorf("decode resource: %w", err)
		}
	}
	served.URI = r.URI
	if served.Name == "" {
		served.Name = r.Name
	}
	return &resourceEntry{server: server, served: served}, nil
}

func newTemplateEntry(server string, rt registry.ResourceTemplate) (*templateEntry, error) {
	var served mcp.ResourceTemplate
	if len(bytes.TrimSpace(rt.Raw)) > 0 {
		if err := json.Unmarshal(rt.Raw, &served); err != nil {
			return nil, fmt.Errorf("decode resource template: %w", err)
		}
	}
	if served.URITemplate == nil {
		var t mcp.URITemplate
		if err := json.Unmarshal(mustJSON(rt.URITemplate), &t); err != nil {
			return nil, fmt.Errorf("parse uri template: %w", err)
		}
		served.URITemplate = &t
	}
	if served.Name == "" {
		served.Name = rt.Name
	}
	return &templateEntry{server: server, uri: rt.URITemplate, served: served}, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
