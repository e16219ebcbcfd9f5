package agent

import (
	"encoding/json"
	"testing"
)

func TestAppendJunction(t *testing.T) {
	got := AppendJunction([]byte(`{"id":"x","usage":{"a":1}}`), Summary{Iterations: 2, StopReason: "final", ToolCalls: []ToolRecord{}})
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	j := v["junction"].(map[string]any)
	if v["id"] != "x" || j["iterations"] != float64(2) || j["stop_reason"] != "final" {
		t.Errorf("%s", got)
	}
	if got := PauseTurn([]byte(`{"stop_reason":"max_tokens","content":[]}`)); string(got) != `{"stop_reason":"pause_turn","content":[]}` {
		t.Errorf("pauseTurn: %s", got)
	}
}
