package chat

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONArrays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"no strings", AppendJSONStrings(nil, nil), `[]`},
		{"strings", AppendJSONStrings([]byte("x:"), []string{"a", `"b"`}), `x:["a","\"b\""]`},
		{"items", AppendJSONArray(nil, []int{1, 2}, func(dst []byte, n *int) []byte { return append(dst, byte('0'+*n)) }), `[1,2]`},
		{"members in key order", AppendJSONMembers([]byte("{"),
			map[string]json.RawMessage{"b": json.RawMessage(`2`), "a": json.RawMessage(`1`), "skip": json.RawMessage(`3`)},
			func(k string, _ json.RawMessage) bool { return k != "skip" },
			func(dst []byte, v json.RawMessage) []byte { return append(dst, v...) }), `{,"a":1,"b":2`},
		{"no members", AppendJSONMembers(nil, nil, nil, nil), ``},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}
