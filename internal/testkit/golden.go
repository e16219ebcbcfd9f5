package testkit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the -update flag of every test binary that imports testkit.
var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// CheckGolden compares got with the golden file at path; run the tests with
// -update to rewrite the file after a deliberate change (and review the diff).
func CheckGolden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// IndentJSON indents b for a golden file, with a final newline; it fails the
// test when b is not valid JSON. json.Indent changes only whitespace between
// tokens, so key order, escapes and numbers are still compared byte for byte.
func IndentJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// GoldenCases returns the input files of dir whose names end in ext, without
// the golden files (those with ".golden." in their name) kept next to them;
// it fails the test when there is none.
func GoldenCases(t testing.TB, dir, ext string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, p := range paths {
		if !strings.Contains(filepath.Base(p), ".golden.") {
			inputs = append(inputs, p)
		}
	}
	if len(inputs) == 0 {
		t.Fatalf("no *%s inputs in %s", ext, dir)
	}
	return inputs
}

// GoldenPath returns the golden file of input: input with its extension
// replaced by ".golden" and ext (ext ".json": a/b.json → a/b.golden.json).
func GoldenPath(input, ext string) string {
	return strings.TrimSuffix(input, filepath.Ext(input)) + ".golden" + ext
}

// ReadFile returns the content of the file at path, failing the test when it
// cannot be read.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// AddSeeds adds the inputs of dir with extension ext (GoldenCases: golden
// files left out) to f's seed corpus.
func AddSeeds(f *testing.F, dir, ext string) {
	f.Helper()
	for _, p := range GoldenCases(f, dir, ext) {
		f.Add(ReadFile(f, p))
	}
}

// RunGoldenCases runs check as a subtest, named after the file, for each
// input of dir with extension ext (GoldenCases).
func RunGoldenCases(t *testing.T, dir, ext string, check func(t *testing.T, input string)) {
	t.Helper()
	for _, in := range GoldenCases(t, dir, ext) {
		t.Run(filepath.Base(in), func(t *testing.T) { check(t, in) })
	}
}
