package mcptest

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"

	"github.com/mark3labs/mcp-go/server"
)

// Defaults used when an option is not given.
const (
	// DefaultName is the server name reported in serverInfo.
	DefaultName = "mcptest"
	// DefaultVersion is the server version reported in serverInfo.
	DefaultVersion = "1.0.0"
	// MaxGeneratedTools bounds WithGeneratedTools.
	MaxGeneratedTools = 10000
	// maxToolNameLen is the longest tool name MCP allows.
	maxToolNameLen = 128
)

// toolNamePattern is the set of tool names MCP (2025-11-25) allows: 1 to 128
// characters from A-Z, a-z, 0-9, underscore, hyphen and dot.
var toolNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,128}$`)

// prefixPattern is toolNamePattern without the length floor, for prefixes.
var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]*$`)

// Option configures a Server built by NewServer.
type Option func(*config)

// config collects the options of one NewServer call. Its zero value is not
// used directly: newConfig fills in the defaults.
type config struct {
	name      string
	version   string
	toolNames []string // built-in tools to serve; nil means CoreTools()
	prefix    string
	generated int
	extra     []server.ServerTool
	pageSize  int
	control   bool
	subscribe bool
	logger    *slog.Logger
}

func newConfig(opts []Option) *config {
	c := &config{name: DefaultName, version: DefaultVersion}
	for _, opt := range opts {
		if opt != nil {
			opt(c)
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate returns every problem in the configuration at once.
func (c *config) validate() error {
	var errs []error
	if c.name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if c.version == "" {
		errs = append(errs, errors.New("version: must not be empty"))
	}
	if !prefixPattern.MatchString(c.prefix) {
		errs = append(errs, fmt.Errorf("tool prefix %q: only A-Z, a-z, 0-9, '_', '-' and '.' are allowed", c.prefix))
	}
	for _, name := range c.toolNames {
		if !slices.Contains(builtinToolNames, name) {
			errs = append(errs, fmt.Errorf("tools: unknown built-in tool %q (known: %v)", name, builtinToolNames))
		}
	}
	if c.generated < 0 || c.generated > MaxGeneratedTools {
		errs = append(errs, fmt.Errorf("generated tools: %d is outside [0, %d]", c.generated, MaxGeneratedTools))
	}
	if c.pageSize < 0 {
		errs = append(errs, fmt.Errorf("page size: %d must not be negative", c.pageSize))
	}
	for i, tool := range c.extra {
		if err := validateServerTool(tool); err != nil {
			errs = append(errs, fmt.Errorf("extra tools[%d]: %w", i, err))
		}
	}
	// The longest name the prefix is applied to decides whether it fits.
	longest := 0
	for _, name := range c.prefixedBaseNames() {
		longest = max(longest, len(name))
	}
	if len(c.prefix)+longest > maxToolNameLen {
		errs = append(errs, fmt.Errorf("tool prefix %q: prefixed names would exceed %d characters", c.prefix, maxToolNameLen))
	}
	return errors.Join(errs...)
}

// builtinSelection returns the built-in tool names to serve, unprefixed.
func (c *config) builtinSelection() []string {
	names := CoreTools()
	if c.toolNames != nil {
		names = slices.Clone(c.toolNames)
	}
	if c.control {
		names = append(names, ToolControlAddTool, ToolControlRemoveTool)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// prefixedBaseNames returns every name the prefix is applied to.
func (c *config) prefixedBaseNames() []string {
	names := c.builtinSelection()
	if c.generated > 0 {
		names = append(names, generatedToolName(c.generated))
	}
	return names
}

// WithName sets the server name reported in serverInfo. Default DefaultName.
func WithName(name string) Option {
	return func(c *config) { c.name = name }
}

// WithVersion sets the server version reported in serverInfo. Default
// DefaultVersion.
func WithVersion(version string) Option {
	return func(c *config) { c.version = version }
}

// WithTools limits the built-in tools to the named ones (see the Tool*
// constants). With no names the server starts without built-in tools. Unknown
// names make NewServer fail. Without this option all CoreTools are served.
func WithTools(names ...string) Option {
	return func(c *config) {
		if names == nil {
			names = []string{}
		}
		c.toolNames = slices.Clone(names)
	}
}

// WithToolPrefix prepends prefix to the name of every tool this package
// defines: the built-in tools, the control tools and the generated tools.
// Tools supplied by the caller (WithExtraTools, AddTools, control_add_tool)
// are served under exactly the names they carry.
func WithToolPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithGeneratedTools adds n echo tools named gen_00001, gen_00002, ... (after
// the prefix), each with its own description, for catalog-size tests and
// benchmarks. n must be in [0, MaxGeneratedTools].
func WithGeneratedTools(n int) Option {
	return func(c *config) { c.generated = n }
}

// WithExtraTools serves the given tools in addition to the built-in ones,
// under their own names. A tool with the name of a built-in tool replaces it.
func WithExtraTools(tools ...server.ServerTool) Option {
	return func(c *config) { c.extra = append(c.extra, tools...) }
}

// WithPageSize makes tools/list, resources/list and prompts/list return at
// most n items per page, with a cursor for the rest. Zero (the default)
// returns everything in one page.
func WithPageSize(n int) Option {
	return func(c *config) { c.pageSize = n }
}

// WithControlTools adds the control_add_tool and control_remove_tool tools,
// which add an echo tool or remove any tool from inside a tool call. They let
// a client change the catalog of a server it can only reach over the wire
// (for example the example binary over stdio) and so trigger
// notifications/tools/list_changed.
func WithControlTools() Option {
	return func(c *config) { c.control = true }
}

// WithLogger sets where the server logs transport problems (write failures,
// malformed input). The default discards them.
func WithLogger(logger *slog.Logger) Option {
	return func(c *config) { c.logger = logger }
}
