package jsonenc

import (
	"bytes"
	"encoding/json"
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

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ back`, "tab\tnl\ncr\r", "\b\f\x00\x1f", "<a&b>",
		"bad \xff utf8", "line\u2028sep\u2029", "héllo 世界 🙂"} {
		got := AppendString([]byte("x"), s)
		want := append([]byte("x"), stdlib(t, s)...)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
	if got := AppendStringContent(nil, `a"b`); string(got) != `a\"b` {
		t.Errorf("AppendStringContent = %s", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff\xfe", "\u2028", "\x7f<>&"} {
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
