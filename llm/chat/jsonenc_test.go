package chat

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONArraysAndMembers(t *testing.T) {
	t.Parallel()
	check := func(what string, got []byte, want string) {
		t.Helper()
		if string(got) != want {
			t.Errorf("%s: got %s, want %s", what, got, want)
		}
	}
	check("no strings", AppendJSONStrings(nil, nil), `[]`)
	check("strings", AppendJSONStrings([]byte("x:"), []string{"a", `"b"`}), `x:["a","\"b\""]`)
	check("items", AppendJSONArray(nil, []int{1, 2}, func(dst []byte, n *int) []byte { return append(dst, byte('0'+*n)) }), `[1,2]`)
	members := map[string]json.RawMessage{"b": json.RawMessage(`2`), "a": json.RawMessage(`1`), "skip": json.RawMessage(`3`)}
	keep := func(k string, _ json.RawMessage) bool { return k != "skip" }
	raw := func(dst []byte, v json.RawMessage) []byte { return append(dst, v...) }
	check("members in key order", AppendJSONMembers([]byte("{"), members, keep, raw), `{,"a":1,"b":2`)
	check("no members", AppendJSONMembers(nil, nil, keep, raw), ``)
}
