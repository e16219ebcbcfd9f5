package mcp

import (
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/registry"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func TestBaseName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 80)
	tests := []struct {
		prefix, server, tool, want string
	}{
		{"files", "files", "read_file", "files__read_file"},
		{"", "files", "read_file", "read_file"},
		{"my files", "files", "read file", "my_files__read_file"},
		{"fs", "fs", "lire_fichier_é", "fs__lire_fichier___"}, // é is two bytes
		{"fs", "fs", "a/b:c", "fs__a_b_c"},
		{"fs", "fs", "v1.2-x", "fs__v1.2-x"},
		{"fs", "fs", long, "fs__" + strings.Repeat("x", 64-9-4) + "-" + nameHash("fs", long)},
	}
	for _, tt := range tests {
		got := baseName(tt.prefix, tt.server, tt.tool)
		if got != tt.want {
			t.Errorf("baseName(%q, %q, %q) = %q, want %q", tt.prefix, tt.server, tt.tool, got, tt.want)
		}
		if !validName.MatchString(got) {
			t.Errorf("baseName(%q, %q, %q) = %q is not a valid public name", tt.prefix, tt.server, tt.tool, got)
		}
	}
}

func TestAssignNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", 70)
	entries := []namedEntry{
		{prefix: "x", server: "b", name: "run"},   // collides with a's x__run: b is later, gets a hash
		{prefix: "x", server: "a", name: "run"},   // keeps x__run
		{prefix: "a", server: "a", name: "do it"}, // a__do_it
		{prefix: "a", server: "a", name: "do_it"}, // same base: "do it" < "do_it", so this one is hashed
		{prefix: "", server: "c", name: "x__run"}, // also x__run: c is later still
		{prefix: "p", server: "d", name: long},    // long, hashed
		{prefix: "p", server: "e", name: long},    // same long name, other server: a different hash
		{prefix: "", server: "f", name: "日本語ツール"}, // all bytes replaced
	}
	got := assignNames(entries)
	if n := got[nameKey{"a", "run"}]; n != "x__run" {
		t.Errorf("a/run = %q, want x__run", n)
	}
	if n := got[nameKey{"a", "do it"}]; n != "a__do_it" {
		t.Errorf("a/do it = %q, want a__do_it", n)
	}
	seen := map[string]nameKey{}
	for k, n := range got {
		if !validName.MatchString(n) {
			t.Errorf("%v: %q is not a valid public name", k, n)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("%q given to both %v and %v", n, k, other)
		}
		seen[n] = k
	}
	for _, k := range []nameKey{{"b", "run"}, {"c", "x__run"}, {"a", "do_it"}} {
		if n := got[k]; !strings.HasSuffix(n, "-"+nameHash(k.server, k.name)) {
			t.Errorf("%v = %q, want a hash suffix", k, n)
		}
	}
	if len(got) != len(entries) {
		t.Errorf("got %d names for %d entries", len(got), len(entries))
	}

	// Stable whatever the order: reversed input gives the same names.
	rev := make([]namedEntry, len(entries))
	for i, e := range entries {
		rev[len(entries)-1-i] = e
	}
	again := assignNames(rev)
	for k, n := range got {
		if again[k] != n {
			t.Errorf("%v: %q in one order, %q in another", k, n, again[k])
		}
	}
	// Stable across "restarts": pinned values.
	if n := got[nameKey{"b", "run"}]; n != "x__run-"+nameHash("b", "run") {
		t.Errorf("b/run = %q", n)
	}
}

func TestBuildMergedOrderAndStability(t *testing.T) {
	t.Parallel()
	a := registry.ServerCatalog{Name: "alpha", Prefix: "alpha", Tools: []registry.Tool{tool("alpha", "zeta", objSchema), tool("alpha", "beta", objSchema)}}
	b := registry.ServerCatalog{Name: "bravo", Prefix: "", Tools: []registry.Tool{tool("bravo", "alpha__zeta", objSchema), tool("bravo", "aaa", objSchema)},
		Resources: []registry.Resource{{Server: "bravo", URI: "file:///x", Name: "x", Raw: []byte(`{"uri":"file:///x","name":"x"}`)}}}
	c := registry.ServerCatalog{Name: "charlie", Prefix: "c",
		Resources: []registry.Resource{{Server: "charlie", URI: "file:///x", Name: "x2", Raw: []byte(`{"uri":"file:///x","name":"x2"}`)}}}
	m1 := buildMerged(&registry.Catalog{Servers: []registry.ServerCatalog{a, b, c}}, zerolog.Nop())
	m2 := buildMerged(&registry.Catalog{Servers: []registry.ServerCatalog{c, b, a}}, zerolog.Nop())
	names := func(m *merged) []string {
		var out []string
		for _, e := range m.tools {
			out = append(out, e.public+"="+e.tool.Server+"/"+e.tool.Name)
		}
		return out
	}
	n1, n2 := names(m1), names(m2)
	if strings.Join(n1, ",") != strings.Join(n2, ",") {
		t.Fatalf("order-dependent names:\n%v\n%v", n1, n2)
	}
	want := []string{"aaa=bravo/aaa", "alpha__beta=alpha/beta", "alpha__zeta=alpha/zeta",
		"alpha__zeta-" + nameHash("bravo", "alpha__zeta") + "=bravo/alpha__zeta"}
	if strings.Join(n1, ",") != strings.Join(want, ",") {
		t.Errorf("tools = %v, want %v", n1, want)
	}
	if r := m1.resourcesByURI["file:///x"]; r == nil || r.server != "bravo" {
		t.Errorf("resource file:///x should come from bravo (first by name), got %+v", r)
	}
}
