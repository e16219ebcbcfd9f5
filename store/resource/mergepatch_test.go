package resource

import (
	"errors"
	"testing"
)

func TestMergePatch(t *testing.T) {
	cases := []struct{ doc, patch, want string }{
		{`{"a":1,"b":{"c":2,"d":3}}`, `{"b":{"c":null,"e":4},"f":"x"}`, `{"a":1,"b":{"d":3,"e":4},"f":"x"}`},
		{`{"a":[1,2]}`, `{"a":[3]}`, `{"a":[3]}`},
		{`{"a":1}`, `{"a":null}`, `{}`},
		{`{"a":"s"}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`},
	}
	for _, c := range cases {
		got, err := MergePatch([]byte(c.doc), []byte(c.patch))
		if err != nil || string(got) != c.want {
			t.Errorf("MergePatch(%s, %s) = %s, %v; want %s", c.doc, c.patch, got, err, c.want)
		}
	}
	if _, err := MergePatch([]byte(`{}`), []byte(`[1]`)); !errors.Is(err, ErrPatchNotObject) {
		t.Errorf("array patch: %v", err)
	}
	if _, err := MergePatch([]byte(`{}`), []byte(`{`)); err == nil {
		t.Error("invalid patch accepted")
	}
}
