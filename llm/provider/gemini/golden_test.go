package gemini

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
)

func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m)
}

// checkGolden compares got (JSON) with the golden file, indented; -update
// rewrites the file.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	testkit.CheckGolden(t, path, testkit.IndentJSON(t, got))
}

// mustJSON marshals v for a golden comparison.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
