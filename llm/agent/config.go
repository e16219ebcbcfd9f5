package agent

import (
	"cmp"
	"fmt"
	"time"
)

// Config tunes the agent loop (the gateway's agent: section).
type Config struct {
	// MaxIterations bounds the model calls of one request. A request may
	// lower it with the X-Junction-Max-Iterations header. Default 10.
	MaxIterations int `yaml:"max_iterations,omitempty"`
	// Timeout bounds the whole loop, model and tool calls together. Default 5m.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// ToolTimeout bounds each tool call (the upstream's own timeout may be
	// shorter). Default 60s.
	ToolTimeout time.Duration `yaml:"tool_timeout,omitempty"`
	// MaxTools is the most MCP tools offered to the model at once; with more
	// permitted, the most relevant are offered with a search_tools tool to
	// find the others. Default 40.
	MaxTools int `yaml:"max_tools,omitempty"`
}

// Agent defaults.
const (
	DefaultMaxIterations = 10
	DefaultTimeout       = 5 * time.Minute
	DefaultToolTimeout   = 60 * time.Second
	DefaultMaxTools      = 40
)

// ApplyDefaults fills unset fields.
func (c *Config) ApplyDefaults() {
	c.MaxIterations = cmp.Or(c.MaxIterations, DefaultMaxIterations)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.ToolTimeout = cmp.Or(c.ToolTimeout, DefaultToolTimeout)
	c.MaxTools = cmp.Or(c.MaxTools, DefaultMaxTools)
}

// Validate reports every problem, each under path ("agent").
func (c *Config) Validate(path string) []error {
	var errs []error
	if c.MaxIterations < 0 || c.MaxIterations > 1000 {
		errs = append(errs, fmt.Errorf("%s.max_iterations: %d is not within 1 to 1000", path, c.MaxIterations))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must not be negative", path))
	}
	if c.ToolTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s.tool_timeout: must not be negative", path))
	}
	if c.Timeout > 0 && c.ToolTimeout > c.Timeout {
		errs = append(errs, fmt.Errorf("%s.tool_timeout: %v is longer than the whole loop's timeout %v", path, c.ToolTimeout, c.Timeout))
	}
	if c.MaxTools < 0 || c.MaxTools > 1000 {
		errs = append(errs, fmt.Errorf("%s.max_tools: %d is not within 1 to 1000", path, c.MaxTools))
	}
	return errs
}
