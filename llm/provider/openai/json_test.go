package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// stdString encodes s as encoding/json does, without HTML escaping.
func stdString(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

var stringCases = []string{
	"", "plain", `quote " and backslash \`, "new\nline\r\ttab", "\b\f", "\x00\x01\x1f\x7f",
	"<html> & </html>", "ünïcödé 日本語 🎉", "\u2028\u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate bytes",
	strings.Repeat("long text ", 100),
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range stringCases {
		got := string(appendString(nil, s))
		if want := stdString(t, s); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("appendString(%q) = %s: not valid JSON: %v", s, got, err)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := string(appendString(nil, s))
		if want := stdString(t, s); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendRawInvalidIsNull(t *testing.T) {
	for raw, want := range map[string]string{`{"a": 1}`: `{"a": 1}`, ` [1] `: ` [1] `, `{`: `null`, ``: `null`, `1 2`: `null`} {
		if got := string(appendRaw(nil, json.RawMessage(raw))); got != want {
			t.Errorf("appendRaw(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestAppendBase64Vector(t *testing.T) {
	for _, n := range []int{0, 1, 11, 12, 13, 24, 100} {
		v := make([]float32, n)
		raw := make([]byte, 4*n)
		for i := range v {
			v[i] = float32(i)*0.25 - 3
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v[i]))
		}
		want := `"` + base64.StdEncoding.EncodeToString(raw) + `"`
		if got := string(appendBase64Vector(nil, v)); got != want {
			t.Errorf("%d floats: got %s, want %s", n, got, want)
		}
	}
}

func TestAppendFloatNonFinite(t *testing.T) {
	got := string(appendFloatVector(nil, []float32{1.5, float32(math.NaN()), float32(math.Inf(-1)), 1e-7}))
	if got != "[1.5,0,0,1e-07]" {
		t.Errorf("got %s", got)
	}
	if !json.Valid([]byte(got)) {
		t.Errorf("%s is not valid JSON", got)
	}
}
