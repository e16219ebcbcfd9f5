package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAgentLoopExample builds Junction and the example tool server and runs
// the example against them.
func TestAgentLoopExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	dir := t.TempDir()
	bins := map[string]string{"junction": "../../cmd/junction", "toolserver": "../toolserver"}
	var wg sync.WaitGroup
	for name, pkg := range bins { // the two builds run at once
		wg.Go(func() {
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
			if err != nil {
				t.Errorf("go build %s: %v\n%s", pkg, err, out)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--junction", filepath.Join(dir, "junction"), "--toolserver", filepath.Join(dir, "toolserver")}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
	}
	for _, want := range []string{
		"step 1: tools__add → ok",
		"step 1: tools__echo → ok",
		"answer: 2 + 3 = 5, and the echo tool said: computed by Junction's agent loop.",
		"finish_reason: stop, iterations: 2 (stop: final)",
		"<call tools__add>",
		`[junction.tool_result {"type":"junction.tool_result","iteration":1`,
		`"content":"5"`,
		"[junction.done",
		"<finish_reason stop>",
		"[DONE]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
