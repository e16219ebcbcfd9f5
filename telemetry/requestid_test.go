package telemetry

import (
	"strings"
	"testing"
)

func TestValidRequestIDAcceptsOnlyIDCharacters(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"":                          false,
		"a":                         true,
		"A-z_0.9:x":                 true,
		strings.Repeat("a", 128):    true,
		strings.Repeat("a", 129):    false,
		"<script>":                  false,
		"a b":                       false,
		"a\tb":                      false,
		"a\x00b":                    false,
		"a/b":                       false,
		"a=b":                       false,
		"é":                         false,
		"0f8fad5b-d9cb-469f-a165-7": true,
	} {
		if got := ValidRequestID(id); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", id, got, want)
		}
	}
	if id := NewRequestID(); len(id) != 32 || !ValidRequestID(id) {
		t.Errorf("NewRequestID() = %q", id)
	}
}
