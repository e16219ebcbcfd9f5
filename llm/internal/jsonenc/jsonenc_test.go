package jsonenc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// stdlib encodes s as encoding/json does with HTML escaping off, which is
// what AppendString promises to match.
func stdlib(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// stringCases are the strings AppendString is checked on, and the fuzz
// test's seeds.
var stringCases = []string{
	"", "plain", `quote " and \ back`, "tab\tnl\ncr\r", "\b\f\x00\x1f", "\x00\x01\x1f\x7f", "<a&b>", "<html> & </html>",
	"bad \xff utf8", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate bytes", "\xff\xfe", "line\u2028sep\u2029",
	"héllo 世界 🙂", "ünïcödé 日本語 🎉", strings.Repeat("long text ", 100),
	`quote " backslash \ slash /`, "\n\r\t\b\f\x00\x1f\x7f", "<html>&amp;</html>", "é漢字🙂", "\u2028\u2029",
	"\xed\xa0\x80 surrogate", "\x00\xff",
}

func TestAppendString(t *testing.T) {
	for _, s := range stringCases {
		got := AppendString([]byte("x"), s)
		want := append([]byte("x"), stdlib(t, s)...)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got[1:], &back); err != nil {
			t.Errorf("AppendString(%q) = %s: not valid JSON: %v", s, got, err)
		}
	}
	if got := AppendStringContent(nil, `a"b`); string(got) != `a\"b` {
		t.Errorf("AppendStringContent = %s", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range append(stringCases, "a\"b", "\u2028", "\x7f<>&") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString(nil, s)
		if want := stdlib(t, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, got, err)
		}
	})
}
