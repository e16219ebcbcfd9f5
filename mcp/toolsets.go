package mcp

import "errors"

// Toolsets can change while the hub runs (a configuration reload): the set
// in force is swapped whole, and every endpoint filters by the toolset of
// its name as it is now, so /mcp/{toolset} serves a changed toolset's tools
// at once (connected clients get notifications/tools/list_changed), an added
// toolset is served on first use, and a removed one answers 404, which ends
// its sessions.

// ValidateToolsets reports every problem with ts, each naming its entry
// (toolsets[i]...): what New and SetToolsets refuse.
func ValidateToolsets(ts []ToolsetConfig) []error { return validateToolsets(ts) }

// SetToolsets replaces the toolsets. It changes nothing and returns the
// problems, joined, when ts is invalid.
func (h *Hub) SetToolsets(ts []ToolsetConfig) error {
	if errs := validateToolsets(ts); len(errs) > 0 {
		return errors.Join(errs...)
	}
	h.toolsets.Store(toolsetMap(ts))
	h.refresh() // endpoints re-filter the catalog with the new toolsets
	return nil
}

// toolset returns the toolset in force named name, or nil.
func (h *Hub) toolset(name string) *ToolsetConfig { return (*h.toolsets.Load())[name] }

// filter is the toolset a toolset endpoint serves: the one of its name in
// force, or one matching nothing once that toolset was removed.
func (e *endpoint) filter() *ToolsetConfig {
	if ts := e.h.toolset(e.toolset); ts != nil {
		return ts
	}
	return &ToolsetConfig{Name: e.toolset}
}

// toolsetMap indexes copies of ts by name.
func toolsetMap(ts []ToolsetConfig) *map[string]*ToolsetConfig {
	m := make(map[string]*ToolsetConfig, len(ts))
	for i := range ts {
		t := ts[i]
		t.Tools = append([]string(nil), t.Tools...)
		m[t.Name] = &t
	}
	return &m
}
