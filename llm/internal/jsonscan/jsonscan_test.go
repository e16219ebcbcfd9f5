package jsonscan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestValueEndMatchesValid(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e+3`, `true`, `false`, `null`, ` {"a" : [1, 2, {"b": null}] } `,
		`{"a":1,}`, `[1,]`, `{,}`, `01`, `1.`, `.5`, `-`, `1e`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"\x01\"",
		`{"a"}`, `{"a":}`, `{1:2}`, `[1 2]`, `tru`, `nul`, `"abc`, `{"a":1`, `[`, ``, `   `, `{"a":1}}`,
		`"\ud800"`, "\"\xff\"", `[1e400]`,
		strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth),
		strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1),
	}
	for _, c := range cases {
		_, _, err := DocumentEnd([]byte(c))
		if got, want := err == nil, json.Valid([]byte(c)); got != want {
			name := c
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("DocumentEnd(%q): valid %v (%v), encoding/json says %v", name, got, err, want)
		}
	}
}

func TestDecodeStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		`""`, `"abc"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u65E5"`, `"\ud83c\udf89"`, `"\ud800"`, `"\udc00x"`,
		`"\ud800\u0041"`, `"\ud800\ud800\udc00"`, "\"bad \xff\"", "\"ok \xc3\xa9\"",
	}
	for _, c := range cases {
		got, ok := DecodeString([]byte(c))
		var want string
		if err := json.Unmarshal([]byte(c), &want); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !ok || got != want {
			t.Errorf("DecodeString(%s) = %q, %v; want %q", c, got, ok, want)
		}
	}
}

func TestDecodeInt(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "42": 42, "-7": -7, "1e3": 1000, "100.0": 100} {
		if got, ok := DecodeInt([]byte(in)); !ok || got != want {
			t.Errorf("DecodeInt(%s) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"1.5", `"1"`, "true", "1e100", "null"} {
		if got, ok := DecodeInt([]byte(in)); ok {
			t.Errorf("DecodeInt(%s) = %d, want failure", in, got)
		}
	}
}

var skipCases = []string{
	`""`, `"a\\"`, `"\\\""`, `"\\\\"`, `"x\"y"`, `"}]"`, `{"a":"}","b":[1,"]",{"c":"\\"}]}`, `[[],{},[{}]]`,
	`-1.5e+10`, `true`, `null`, `{"k\"":"v\\\\\""}`, `[1 , 2 ,"\u0022"]`,
}

// SkipValue (for validated values) ends where ValueEnd does.
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
	start := SkipSpace(data, 0)
	want, err := ValueEnd(data, start, 0)
	if err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if got := SkipValue(data, start); got != want {
		t.Fatalf("SkipValue(%s) = %d, want %d", data, got, want)
	}
}

func TestMember(t *testing.T) {
	cases := []struct{ obj, key, want string }{
		{`{"a":1,"b":{"c":2}}`, "b", `{"c":2}`},
		{`{"a":1,"a":"x"}`, "a", `"x"`},
		{`{"k\u0065y":true}`, "key", `true`},
		{`{"a":1}`, "b", ""},
		{`[1]`, "a", ""},
		{``, "a", ""},
	}
	for _, c := range cases {
		if got := string(Member([]byte(c.obj), c.key)); got != c.want {
			t.Errorf("Member(%s, %q) = %q, want %q", c.obj, c.key, got, c.want)
		}
	}
}

func TestMembersAndElements(t *testing.T) {
	var got []string
	for k, v := range Members([]byte(`{"a":1, "b\u0021":[2,{"c":3}] ,"d":"x"}`)) {
		got = append(got, string(k)+"="+string(v))
		if string(k) == "b!" {
			for i, e := range Elements(v) {
				got = append(got, fmt.Sprint(i)+":"+string(e))
			}
		}
	}
	want := `a=1 b!=[2,{"c":3}] 0:2 1:{"c":3} d="x"`
	if s := strings.Join(got, " "); s != want {
		t.Errorf("walk = %s, want %s", s, want)
	}
	n := 0
	for range Elements([]byte(`[1,2,3]`)) {
		n++
		break
	}
	for range Members([]byte(`{}`)) {
		n++
	}
	if n != 1 {
		t.Errorf("stopped after %d elements, want 1", n)
	}
}
