package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

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
