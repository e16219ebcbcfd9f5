package agent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	var c Config
	c.ApplyDefaults()
	if c.MaxIterations != 10 || c.Timeout != 5*time.Minute || c.ToolTimeout != time.Minute || c.MaxTools != 40 {
		t.Errorf("defaults %+v", c)
	}
	if errs := c.Validate("agent"); len(errs) != 0 {
		t.Errorf("defaults invalid: %v", errs)
	}
	bad := Config{MaxIterations: -1, Timeout: time.Second, ToolTimeout: time.Minute, MaxTools: 5000}
	errs := bad.Validate("agent")
	joined := errors.Join(errs...).Error()
	for _, want := range []string{"agent.max_iterations", "agent.tool_timeout", "agent.max_tools"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %s in %v", want, joined)
		}
	}
}
