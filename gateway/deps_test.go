package gateway

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/junctionhq/junction"

// allowedImports is DESIGN.md's layout table: the Junction packages each
// package may import directly (besides its own subtree). A package not listed
// takes the rule of its nearest listed parent. "*" allows everything.
var allowedImports = map[string][]string{
	"cmd":                   {"*"},
	"gateway":               {"llm", "mcp", "registry", "policy", "apierror", "cache", "store", "telemetry", "web"},
	"llm":                   {"policy", "apierror", "cache", "mcp", "telemetry"},
	"llm/provider":          {"llm"},
	"llm/provider/internal": {"llm/chat", "llm/internal"},
	"llm/router":            {"llm/chat"},
	"llm/routes":            {"llm/chat", "llm/router", "llm/provider", "policy"},
	"llm/agent":             {"llm/chat", "llm/provider", "llm/internal", "mcp", "apierror", "policy", "telemetry"},
	"llm/respcache":         {"llm/chat", "llm/provider", "llm/internal", "cache", "policy", "apierror"},
	"llm/providerstore":     {"llm", "store"},
	"llm/internal":          {},
	"llm/llmtest":           {"llm/internal"},
	"mcp":                   {"registry", "policy", "apierror", "telemetry"},
	"apierror":              {"policy"},
	"registry":              {"store", "telemetry", "internal/glob"},
	"registry/mcptest":      {},
	"policy":                {"store", "telemetry", "internal/glob"},
	"cache":                 {"store", "telemetry"},
	"cache/qdranttest":      {},
	"store":                 {},
	"store/secret":          {},
	"store/resource":        {"store"},
	"telemetry":             {"store"},
	"web":                   {},
	"internal/testkit":      {},
	"internal/glob":         {},
	"examples":              {"llm/llmtest", "registry/mcptest"},
}

// TestDependencyDirection fails when a package imports against the
// architecture: arrows point down DESIGN.md's table, nothing imports
// gateway, web or cmd but the composition root, and mcp never imports llm.
func TestDependencyDirection(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		rule, ruleName := ruleFor(pkg)
		if rule == nil {
			t.Errorf("%s: no import rule; add it to allowedImports (and DESIGN.md)", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if within(dep, ruleName) || allowed(dep, rule) {
				continue
			}
			t.Errorf("%s imports %s, against the layout (allowed: %v)", pkg, dep, rule)
		}
	}
}

func ruleFor(pkg string) ([]string, string) {
	for p := pkg; p != "" && p != "."; {
		if r, ok := allowedImports[p]; ok {
			if r == nil {
				r = []string{}
			}
			return r, p
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return nil, ""
}

func within(dep, root string) bool { return dep == root || strings.HasPrefix(dep, root+"/") }

func allowed(dep string, rule []string) bool {
	for _, r := range rule {
		if r == "*" || within(dep, r) {
			return true
		}
	}
	return false
}
