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

func TestValueEndMatchesValid(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e+3`, `true`, `false`, `null`, ` {"a" : [1, 2, {"b": null}] } `,
		`{"a":1,}`, `[1,]`, `{,}`, `01`, `1.`, `.5`, `-`, `1e`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"\x01\"",
		`{"a"}`, `{"a":}`, `{1:2}`, `[1 2]`, `tru`, `nul`, `"abc`, `{"a":1`, `[`, ``, `   `, `{"a":1}}`,
		`"\ud800"`, "\"\xff\"", `[1e400]`,
		strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
		strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	}
	for _, c := range cases {
		_, _, err := documentEnd([]byte(c))
		if got, want := err == nil, json.Valid([]byte(c)); got != want {
			name := c
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("documentEnd(%q): valid %v (%v), encoding/json says %v", name, got, err, want)
		}
	}
}

func TestDecodeStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		`""`, `"abc"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u65E5"`, `"\ud83c\udf89"`, `"\ud800"`, `"\udc00x"`,
		`"\ud800\u0041"`, `"\ud800\ud800\udc00"`, "\"bad \xff\"", "\"ok \xc3\xa9\"",
	}
	for _, c := range cases {
		got, ok := decodeString([]byte(c))
		var want string
		if err := json.Unmarshal([]byte(c), &want); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !ok || got != want {
			t.Errorf("decodeString(%s) = %q, %v; want %q", c, got, ok, want)
		}
	}
}

func TestDecodeInt(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "42": 42, "-7": -7, "1e3": 1000, "100.0": 100} {
		if got, ok := decodeInt([]byte(in)); !ok || got != want {
			t.Errorf("decodeInt(%s) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"1.5", `"1"`, "true", "1e100", "null"} {
		if got, ok := decodeInt([]byte(in)); ok {
			t.Errorf("decodeInt(%s) = %d, want failure", in, got)
		}
	}
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

var skipCases = []string{
	`""`, `"a\\"`, `"\\\""`, `"\\\\"`, `"x\"y"`, `"}]"`, `{"a":"}","b":[1,"]",{"c":"\\"}]}`, `[[],{},[{}]]`,
	`-1.5e+10`, `true`, `null`, `{"k\"":"v\\\\\""}`, `[1 , 2 ,"\u0022"]`,
}

// skipValue (for validated values) ends where valueEnd does.
func TestSkipValueMatchesValueEnd(t *testing.T) {
	for _, c := range skipCases {
		checkSkip(t, []byte(c))
	}
}

func FuzzSkipValue(f *testing.F) {
	for _, c := range skipCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if json.Valid(data) {
			checkSkip(t, data)
		}
	})
}

func checkSkip(t *testing.T, data []byte) {
	t.Helper()
	start := skipSpace(data, 0)
	want, err := valueEnd(data, start, 0)
	if err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if got := skipValue(data, start); got != want {
		t.Fatalf("skipValue(%s) = %d, want %d", data, got, want)
	}
}
