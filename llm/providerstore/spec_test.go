package providerstore

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/store/secret"
)

// TestProviderSpecSealedByOldCodeOpens: a provider row whose key and header
// values were sealed by the gateway's own sealer, before sealing moved to
// store/secret, still opens under the same secret key.
func TestProviderSpecSealedByOldCodeOpens(t *testing.T) {
	key, err := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	spec := `{"name":"openai","type":"openai","headers":{"X-Org":"enc:v1:6qDu1rONL9+Cu0tRMI2k3PDwpx43ermZnI14fc4/zdlc"},` +
		`"keys":[{"name":"main","value":"enc:v1:qimpEvRnA11uW4KLC/pppcr4TZefjkLsJU3rlg2vCsDHTzc"},` +
		`{"name":"spare","value":"enc:v1:akX031oA9Nee39ozK7Pa1Yhg8ZbcEf7sfwGhpHaM4MkWqjsE"}]}`
	got, err := decode(sealer, "openai", json.RawMessage(spec))
	if err != nil {
		t.Fatal(err)
	}
	if got.Headers["X-Org"] != "org-1" || len(got.Keys) != 2 || got.Keys[0].Value != "sk-main" || got.Keys[1].Value != "sk-spare" {
		t.Fatalf("opened %+v", got)
	}
	// Keys stay bound to their position: swapped, neither opens.
	swapped := strings.Replace(strings.Replace(spec, `"main"`, `"tmp"`, 1), `"spare"`, `"main"`, 1)
	swapped = strings.Replace(swapped, `"tmp"`, `"spare"`, 1)
	if _, err := decode(sealer, "openai", json.RawMessage(swapped)); !errors.Is(err, secret.ErrOpen) {
		t.Fatalf("swapped keys: %v, want secret.ErrOpen", err)
	}
}

// TestSpecRoundTripsThroughTheStoreFormat: a provider encoded for the
// store opens to the same configuration, with no value in the clear, and
// its timeouts are duration strings (the format rows already hold).
func TestSpecRoundTripsThroughTheStoreFormat(t *testing.T) {
	sealer, err := newSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	pc := Spec{Name: "p", Type: "openai", Headers: map[string]string{"X-Org": "org-secret"},
		Keys:     []KeySpec{{Name: "a", Value: "sk-secret-a", Weight: 2}, {Value: "sk-secret-b"}},
		Timeouts: Timeouts{FirstByte: Duration(20 * time.Second)}}.Config()
	raw, err := encode(sealer, pc)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"org-secret", "sk-secret-a", "sk-secret-b"} {
		if strings.Contains(string(raw), v) {
			t.Errorf("stored spec shows %q: %s", v, raw)
		}
	}
	if !strings.Contains(string(raw), `"first_byte":"20s"`) {
		t.Errorf("stored timeouts: %s", raw)
	}
	got, err := decode(sealer, "p", raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Headers["X-Org"] != "org-secret" || got.Keys[0].Value != "sk-secret-a" || got.Keys[1].Value != "sk-secret-b" ||
		got.Timeouts.FirstByte != 20*time.Second {
		t.Errorf("opened %+v", got)
	}
	if _, err := decode(sealer, "q", raw); err == nil {
		t.Error("a spec stored under another name opened")
	}
}

// TestDurationJSON: durations read a duration string or a number of
// seconds and refuse anything else.
func TestDurationJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{`"1m30s"`: 90 * time.Second, `2.5`: 2500 * time.Millisecond} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s: %v %v", in, time.Duration(d), err)
		}
	}
	for _, in := range []string{`"soon"`, `true`, `null`} {
		var d Duration
		if err := d.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}
