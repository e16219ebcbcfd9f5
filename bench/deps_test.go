package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// gatewayModule is the module bench measures, required through go.mod's
// replace directive.
const gatewayModule = "github.com/junctionhq/junction"

// TestBenchImportsOnlyPublicGatewayPackages enforces DESIGN.md's rule for
// bench: it uses the gateway module's public API only. Go's internal rule
// goes by import path, not by module, and bench's path lies under the
// gateway's, so the compiler would let bench import the gateway's top-level
// internal packages (github.com/junctionhq/junction/internal/...); and the
// gateway's own dependency test (gateway/deps_test.go) does not see bench,
// a module of its own.
func TestBenchImportsOnlyPublicGatewayPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-test",
		"-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, gatewayModule+"/") || strings.HasPrefix(imp, gatewayModule+"/bench/") {
				continue
			}
			seen++
			if slices.Contains(strings.Split(imp, "/"), "internal") {
				t.Errorf("%s imports %s, an internal package of the gateway module", fields[0], imp)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no import of the gateway module found; the test lists nothing")
	}
}
