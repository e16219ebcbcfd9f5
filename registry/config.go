package registry

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/junctionhq/junction/internal/glob"

	"github.com/mark3labs/mcp-go/mcp"

	"go.yaml.in/yaml/v3"
)

// Transports an upstream can be reached by.
const (
	// TransportStdio runs Command as a child process and speaks
	// newline-delimited JSON-RPC on its stdin and stdout.
	TransportStdio = "stdio"
	// TransportSSE is the legacy (2024-11-05) HTTP+SSE transport.
	TransportSSE = "sse"
	// TransportStreamableHTTP is the streamable HTTP transport.
	TransportStreamableHTTP = "streamable-http"
)

// Defaults of ServerConfig.
const (
	// DefaultTimeout bounds one call when ServerConfig.Timeout is zero.
	DefaultTimeout = 60 * time.Second
	// DefaultConnectTimeout bounds connecting and listing the catalog when
	// ServerConfig.ConnectTimeout is zero.
	DefaultConnectTimeout = 20 * time.Second
	// maxNameLen bounds a server name.
	maxNameLen = 64
)

// namePattern is what a server name may contain.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ServerConfig declares one upstream MCP server, in the configuration file
// (under servers:) or through the admin API (as JSON). The zero value of
// every optional field is a useful default.
type ServerConfig struct {
	// Name identifies the server: 1 to 64 characters from A-Z, a-z, 0-9,
	// '_', '.' and '-'. Required, unique, and it cannot be changed.
	Name string `yaml:"name" json:"name"`
	// Transport is stdio, sse or streamable-http. Required.
	Transport string `yaml:"transport" json:"transport"`

	// Command is the program a stdio server runs (looked up in PATH).
	// Required for stdio, not allowed otherwise.
	Command string `yaml:"command,omitempty" json:"command,omitempty"`
	// Args are Command's arguments.
	Args []string `yaml:"args,omitempty" json:"args,omitempty"`
	// Env sets environment variables for Command. Values are stored
	// encrypted. Command never inherits Junction's whole environment: it
	// gets Env, the variables named in EnvPassthrough, and from Junction's
	// own environment only PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG,
	// LC_*, TZ and TMPDIR (the official MCP SDKs' default set, with the
	// locale, time zone and temporary directory).
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// EnvPassthrough names further variables of Junction's own environment
	// that Command gets (when they are set): exact names, no patterns, and
	// never a JUNCTION_* variable (those configure the gateway and hold its
	// keys). Env wins for a name in both.
	EnvPassthrough []string `yaml:"env_passthrough,omitempty" json:"env_passthrough,omitempty"`
	// Cwd is Command's working directory. Default: Junction's.
	Cwd string `yaml:"cwd,omitempty" json:"cwd,omitempty"`

	// URL is the endpoint of an sse or streamable-http server (http or
	// https). Required for those transports, not allowed for stdio.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Headers are sent with every HTTP request to the server. Values are
	// stored encrypted and never shown by the admin API.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Bearer, when set, is sent as "Authorization: Bearer <Bearer>". It is
	// stored encrypted and never shown by the admin API. The caller's own
	// token is never sent to an upstream.
	Bearer string `yaml:"bearer,omitempty" json:"bearer,omitempty"`
	// Auth, when set, obtains the credentials from an authorization server
	// (OAuth 2.0 client credentials): the token is sent as a bearer token,
	// cached, replaced before it expires, and replaced once more when the
	// upstream answers 401. Not together with Bearer or an Authorization
	// header.
	Auth *AuthConfig `yaml:"auth,omitempty" json:"auth,omitempty"`

	// Timeout bounds one call (tools/call, resources/read, prompts/get).
	// Default DefaultTimeout.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// ConnectTimeout bounds connecting, the handshake and listing the
	// catalog. Default DefaultConnectTimeout.
	ConnectTimeout Duration `yaml:"connect_timeout,omitempty" json:"connect_timeout,omitempty"`
	// Disabled keeps the definition but does not connect.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`

	// IncludeTools, when not empty, keeps only the upstream tools whose
	// (upstream) name matches one of these patterns; '*' matches any run
	// of characters.
	IncludeTools []string `yaml:"include_tools,omitempty" json:"include_tools,omitempty"`
	// ExcludeTools drops the upstream tools whose name matches one of these
	// patterns (after IncludeTools).
	ExcludeTools []string `yaml:"exclude_tools,omitempty" json:"exclude_tools,omitempty"`
	// Prefix overrides the start of the public names of this server's
	// tools and prompts: nil means the server name, "" means no prefix.
	Prefix *string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	// ProtocolVersion pins the MCP revision Junction asks of this upstream.
	// Empty (the default) negotiates the newest one both support; set
	// "2025-11-25" for an upstream whose tools rely on that era's
	// server-initiated requests (sampling, elicitation).
	ProtocolVersion string `yaml:"protocol_version,omitempty" json:"protocol_version,omitempty"`
}

// Validate returns every problem with c, each naming its field under path
// (for example "servers[2].url: ...").
func (c ServerConfig) Validate(path string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", join(path, field), fmt.Sprintf(format, args...)))
	}
	switch {
	case c.Name == "":
		bad("name", "required")
	case len(c.Name) > maxNameLen || !namePattern.MatchString(c.Name):
		bad("name", "%q must be 1 to %d characters from A-Z, a-z, 0-9, '_', '.' and '-'", c.Name, maxNameLen)
	}
	if c.ProtocolVersion != "" && !slices.Contains(mcp.ValidProtocolVersions, c.ProtocolVersion) {
		bad("protocol_version", "%q is not a protocol revision this gateway speaks (%s)", c.ProtocolVersion, strings.Join(mcp.ValidProtocolVersions, ", "))
	}
	switch c.Transport {
	case TransportStdio:
		if c.Command == "" {
			bad("command", "required for transport stdio")
		}
		if c.URL != "" {
			bad("url", "not used by transport stdio")
		}
		if len(c.Headers) > 0 {
			bad("headers", "not used by transport stdio")
		}
		if c.Bearer != "" {
			bad("bearer", "not used by transport stdio")
		}
		if c.Auth != nil {
			bad("auth", "not used by transport stdio")
		}
		for k := range c.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				bad("env", "invalid variable name %q", k)
			}
		}
		c.validatePassthrough(bad)
	case TransportSSE, TransportStreamableHTTP:
		if c.URL == "" {
			bad("url", "required for transport %s", c.Transport)
		} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url", "%q is not an http or https URL", c.URL)
		}
		if c.Command != "" {
			bad("command", "only used by transport stdio")
		}
		if len(c.Args) > 0 {
			bad("args", "only used by transport stdio")
		}
		if len(c.Env) > 0 {
			bad("env", "only used by transport stdio")
		}
		if len(c.EnvPassthrough) > 0 {
			bad("env_passthrough", "only used by transport stdio")
		}
		if c.Cwd != "" {
			bad("cwd", "only used by transport stdio")
		}
		for k := range c.Headers {
			if !validHeaderName(k) {
				bad("headers", "invalid header name %q", k)
			}
		}
		if c.Bearer != "" && hasHeader(c.Headers, "Authorization") {
			bad("bearer", "set bearer or an Authorization header, not both")
		}
		if c.Auth != nil {
			c.Auth.validate(bad)
			if c.Bearer != "" || hasHeader(c.Headers, "Authorization") {
				bad("auth", "set auth, bearer or an Authorization header, only one")
			}
		}
	case "":
		bad("transport", "required (stdio, sse or streamable-http)")
	default:
		bad("transport", "%q is not stdio, sse or streamable-http", c.Transport)
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	if c.ConnectTimeout < 0 {
		bad("connect_timeout", "must not be negative")
	}
	for i, p := range c.IncludeTools {
		if p == "" {
			bad(fmt.Sprintf("include_tools[%d]", i), "empty pattern")
		}
	}
	for i, p := range c.ExcludeTools {
		if p == "" {
			bad(fmt.Sprintf("exclude_tools[%d]", i), "empty pattern")
		}
	}
	if c.Prefix != nil && *c.Prefix != "" && !namePattern.MatchString(*c.Prefix) {
		bad("prefix", "%q must be at most %d characters from A-Z, a-z, 0-9, '_', '.' and '-'", *c.Prefix, maxNameLen)
	}
	return errs
}

// envNamePattern is what a passed-through variable name may be: a portable
// environment variable name, exactly.
var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validatePassthrough checks EnvPassthrough: exact, portable names, each
// once, none of Junction's own.
func (c ServerConfig) validatePassthrough(bad func(field, format string, args ...any)) {
	seen := map[string]bool{}
	for i, name := range c.EnvPassthrough {
		field := fmt.Sprintf("env_passthrough[%d]", i)
		switch {
		case strings.ContainsAny(name, "*?[]{}"):
			bad(field, "%q is a pattern; name each variable exactly", name)
		case !envNamePattern.MatchString(name):
			bad(field, "%q is not a variable name (letters, digits and '_', not starting with a digit)", name)
		case strings.HasPrefix(strings.ToUpper(name), "JUNCTION_"):
			bad(field, "%q is refused: JUNCTION_* variables configure the gateway and hold its keys, and never reach a server", name)
		case seen[name]:
			bad(field, "%q is named twice", name)
		default:
			if _, ok := c.Env[name]; ok {
				bad(field, "%q is also set in env, whose value would win; keep one", name)
			}
		}
		seen[name] = true
	}
}

// timeout is the effective per-call timeout.
func (c ServerConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return time.Duration(c.Timeout)
	}
	return DefaultTimeout
}

// connectTimeout is the effective connect timeout.
func (c ServerConfig) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return time.Duration(c.ConnectTimeout)
	}
	return DefaultConnectTimeout
}

// prefix is the effective public-name prefix.
func (c ServerConfig) prefix() string {
	if c.Prefix == nil {
		return c.Name
	}
	return *c.Prefix
}

// keepTool applies IncludeTools and ExcludeTools to an upstream tool name.
func (c ServerConfig) keepTool(name string) bool {
	if len(c.IncludeTools) > 0 {
		in := false
		for _, p := range c.IncludeTools {
			if glob.Match(name, p) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, p := range c.ExcludeTools {
		if glob.Match(name, p) {
			return false
		}
	}
	return true
}

// validHeaderName reports whether k is an HTTP header field name (a token).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}

// hasHeader reports whether headers has key, case-insensitively.
func hasHeader(headers map[string]string, key string) bool {
	for k := range headers {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// Duration is a time.Duration written as a Go duration string ("60s",
// "1m30s") in YAML and JSON; JSON also accepts a number of seconds.
type Duration time.Duration

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"60s\" or a number of seconds: %s", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// IsZero reports whether d is zero (for omitzero and omitempty).
func (d Duration) IsZero() bool { return d == 0 }
