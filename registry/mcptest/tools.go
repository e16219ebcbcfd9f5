package mcptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Names of the built-in tools, before any prefix (see WithToolPrefix).
const (
	// ToolAdd adds numbers a and b; the sum comes back as text and as
	// structuredContent {"sum": a+b} described by an outputSchema.
	ToolAdd = "add"
	// ToolEcho returns its message argument unchanged as text.
	ToolEcho = "echo"
	// ToolFail fails on purpose: with kind "tool" (the default) it returns a
	// result with isError true, with kind "protocol" a JSON-RPC error.
	ToolFail = "fail"
	// ToolImage returns an 8x8 PNG image content block.
	ToolImage = "image"
	// ToolLarge returns exactly bytes bytes of text (at most MaxLargeBytes).
	ToolLarge = "large"
	// ToolSleep sleeps ms milliseconds, reports progress to the caller's
	// progress token and stops early when the request is cancelled.
	ToolSleep = "sleep"
	// ToolStructured returns structuredContent matching its outputSchema,
	// with the same JSON as a text fallback.
	ToolStructured = "structured"
	// ToolEnv returns the server process's environment as structuredContent
	// {"env": {NAME: value}} (EnvOutput), with the same JSON as text. Not a
	// core tool: serve it with WithTools, only where the environment may be
	// shown.
	ToolEnv = "env"
	// ToolRoots returns the client's roots (RootsOutput), asking the client
	// once per session and keeping the answer until the client sends
	// notifications/roots/list_changed, as many servers do. Not a core
	// tool: serve it with WithTools.
	ToolRoots = "roots"
	// ToolControlAddTool adds an echo tool with the given name (only with
	// WithControlTools).
	ToolControlAddTool = "control_add_tool"
	// ToolControlRemoveTool removes the named tool (only with
	// WithControlTools).
	ToolControlRemoveTool = "control_remove_tool"
)

// coreToolNames are the tools served by default, sorted as tools/list serves
// them.
var coreToolNames = []string{ToolAdd, ToolEcho, ToolFail, ToolImage, ToolLarge, ToolSleep, ToolStructured}

// builtinToolNames are all the tools this package defines.
var builtinToolNames = append(slices.Clone(coreToolNames), ToolEnv, ToolRoots, ToolControlAddTool, ToolControlRemoveTool)

// CoreTools returns the names of the tools a Server serves by default, in the
// order tools/list serves them.
func CoreTools() []string { return slices.Clone(coreToolNames) }

// toolSpec is the static definition of a built-in tool. Schemas are written
// readably here and compacted once when a server registers the tool.
type toolSpec struct {
	title        string
	description  string
	inputSchema  string
	outputSchema string
	annotations  mcp.ToolAnnotation
	handler      func(s *Server) server.ToolHandlerFunc
}

// annotate builds tool annotations from the four MCP hints.
func annotate(readOnly, destructive, idempotent, openWorld bool) mcp.ToolAnnotation {
	return mcp.ToolAnnotation{
		ReadOnlyHint:    mcp.ToBoolPtr(readOnly),
		DestructiveHint: mcp.ToBoolPtr(destructive),
		IdempotentHint:  mcp.ToBoolPtr(idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(openWorld),
	}
}

// Schemas are kept free of '<', '>' and '&': encoding/json escapes those
// inside raw messages, which would make the served bytes differ from these.
const (
	echoInputSchema = `{
		"type": "object",
		"properties": {
			"message": {"type": "string", "description": "Text to return unchanged."}
		},
		"required": ["message"],
		"additionalProperties": false
	}`

	addInputSchema = `{
		"type": "object",
		"properties": {
			"a": {"type": "number", "description": "First addend."},
			"b": {"type": "number", "description": "Second addend."}
		},
		"required": ["a", "b"],
		"additionalProperties": false
	}`
	addOutputSchema = `{
		"type": "object",
		"properties": {
			"sum": {"type": "number", "description": "The sum a + b."}
		},
		"required": ["sum"],
		"additionalProperties": false
	}`

	sleepInputSchema = `{
		"type": "object",
		"properties": {
			"ms": {"type": "integer", "minimum": 0, "maximum": 300000, "description": "How long to sleep, in milliseconds."},
			"progress_interval_ms": {"type": "integer", "minimum": 10, "maximum": 60000, "default": 100, "description": "How often to send notifications/progress when the request carries a progress token."}
		},
		"required": ["ms"],
		"additionalProperties": false
	}`

	failInputSchema = `{
		"type": "object",
		"properties": {
			"message": {"type": "string", "default": "requested failure", "description": "The error message to return."},
			"kind": {"type": "string", "enum": ["tool", "protocol"], "default": "tool", "description": "tool: a result with isError true; protocol: a JSON-RPC error response."}
		},
		"additionalProperties": false
	}`

	largeInputSchema = `{
		"type": "object",
		"properties": {
			"bytes": {"type": "integer", "minimum": 0, "maximum": 8388608, "description": "Exact size of the returned text, in bytes."}
		},
		"required": ["bytes"],
		"additionalProperties": false
	}`

	imageInputSchema = `{
		"type": "object",
		"properties": {
			"color": {"type": "string", "enum": ["red", "green", "blue"], "default": "red", "description": "Fill colour of the image."}
		},
		"additionalProperties": false
	}`

	structuredInputSchema = `{
		"type": "object",
		"properties": {
			"query": {
				"type": "object",
				"description": "What to search for.",
				"properties": {
					"text": {"type": "string", "minLength": 1, "description": "Search text."},
					"limit": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3, "description": "Number of results."}
				},
				"required": ["text"],
				"additionalProperties": false
			},
			"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10, "description": "Labels copied into every result."}
		},
		"required": ["query"],
		"additionalProperties": false
	}`
	structuredOutputSchema = `{
		"type": "object",
		"properties": {
			"query": {"type": "string"},
			"total": {"type": "integer"},
			"results": {
				"type": "array",
				"items": {
					"type": "object",
					"properties": {
						"rank": {"type": "integer"},
						"title": {"type": "string"},
						"tags": {"type": "array", "items": {"type": "string"}}
					},
					"required": ["rank", "title", "tags"],
					"additionalProperties": false
				}
			}
		},
		"required": ["query", "total", "results"],
		"additionalProperties": false
	}`

	noInputSchema = `{
		"type": "object",
		"properties": {},
		"additionalProperties": false
	}`

	controlAddInputSchema = `{
		"type": "object",
		"properties": {
			"name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$", "description": "Name of the echo tool to add; served exactly as given."},
			"description": {"type": "string", "description": "Description of the new tool."}
		},
		"required": ["name"],
		"additionalProperties": false
	}`
	controlRemoveInputSchema = `{
		"type": "object",
		"properties": {
			"name": {"type": "string", "description": "Name of the tool to remove, as served."}
		},
		"required": ["name"],
		"additionalProperties": false
	}`
)

// builtinSpecs maps each built-in tool name to its definition.
func builtinSpecs() map[string]toolSpec {
	return map[string]toolSpec{
		ToolEcho: {
			title:       "Echo",
			description: "Returns the message argument unchanged as text.",
			inputSchema: echoInputSchema,
			annotations: annotate(true, false, true, false),
			handler:     func(*Server) server.ToolHandlerFunc { return handleEcho },
		},
		ToolAdd: {
			title:        "Add",
			description:  "Adds two numbers. The sum is returned as text and as structured content.",
			inputSchema:  addInputSchema,
			outputSchema: addOutputSchema,
			annotations:  annotate(true, false, true, false),
			handler:      func(*Server) server.ToolHandlerFunc { return handleAdd },
		},
		ToolSleep: {
			title:       "Sleep",
			description: "Sleeps for ms milliseconds, reporting progress when asked; stops when the request is cancelled.",
			inputSchema: sleepInputSchema,
			annotations: annotate(true, false, true, false),
			handler:     func(*Server) server.ToolHandlerFunc { return handleSleep },
		},
		ToolFail: {
			title:       "Fail",
			description: "Always fails: with a tool error result (kind tool) or a JSON-RPC error (kind protocol).",
			inputSchema: failInputSchema,
			annotations: annotate(true, false, true, false),
			handler:     func(*Server) server.ToolHandlerFunc { return handleFail },
		},
		ToolLarge: {
			title:       "Large",
			description: "Returns exactly the requested number of bytes of text.",
			inputSchema: largeInputSchema,
			annotations: annotate(true, false, true, false),
			handler:     func(*Server) server.ToolHandlerFunc { return handleLarge },
		},
		ToolImage: {
			title:       "Image",
			description: "Returns a small PNG image as an image content block.",
			inputSchema: imageInputSchema,
			annotations: annotate(true, false, true, false),
			handler:     func(*Server) server.ToolHandlerFunc { return handleImage },
		},
		ToolStructured: {
			title:        "Structured",
			description:  "Returns search-like structured content matching its output schema, with a JSON text fallback.",
			inputSchema:  structuredInputSchema,
			outputSchema: structuredOutputSchema,
			annotations:  annotate(true, false, true, false),
			handler:      func(*Server) server.ToolHandlerFunc { return handleStructured },
		},
		ToolEnv: {
			title:       "Environment",
			description: "Returns the server process's environment variables and their values.",
			inputSchema: noInputSchema,
			annotations: annotate(true, false, true, false),
			handler:     func(*Server) server.ToolHandlerFunc { return handleEnv },
		},
		ToolRoots: {
			title:       "Roots",
			description: "Returns the client's roots, asked once per session and kept until the client says they changed.",
			inputSchema: noInputSchema,
			annotations: annotate(true, false, true, false),
			handler:     (*Server).handleRoots,
		},
		ToolControlAddTool: {
			title:       "Add a tool",
			description: "Adds an echo tool with the given name, which emits notifications/tools/list_changed.",
			inputSchema: controlAddInputSchema,
			annotations: annotate(false, false, true, false),
			handler:     (*Server).handleControlAdd,
		},
		ToolControlRemoveTool: {
			title:       "Remove a tool",
			description: "Removes the named tool, which emits notifications/tools/list_changed.",
			inputSchema: controlRemoveInputSchema,
			annotations: annotate(false, true, true, false),
			handler:     (*Server).handleControlRemove,
		},
	}
}

// builtinTool returns the built-in tool base, named with the server's prefix.
func (s *Server) builtinTool(base string) (server.ServerTool, error) {
	spec, ok := builtinSpecs()[base]
	if !ok {
		return server.ServerTool{}, fmt.Errorf("mcptest: unknown built-in tool %q", base)
	}
	input, err := compactJSON(spec.inputSchema)
	if err != nil {
		return server.ServerTool{}, fmt.Errorf("mcptest: tool %s: input schema: %w", base, err)
	}
	tool := mcp.Tool{
		Name:           s.prefix + base,
		Title:          spec.title,
		Description:    spec.description,
		RawInputSchema: input,
		Annotations:    spec.annotations,
	}
	if spec.outputSchema != "" {
		output, err := compactJSON(spec.outputSchema)
		if err != nil {
			return server.ServerTool{}, fmt.Errorf("mcptest: tool %s: output schema: %w", base, err)
		}
		tool.RawOutputSchema = output
	}
	return server.ServerTool{Tool: tool, Handler: spec.handler(s)}, nil
}

// EchoTool returns a tool named name that behaves like the built-in echo
// tool, for AddTools and WithExtraTools.
func EchoTool(name string) server.ServerTool {
	return echoTool(name, "Returns the message argument unchanged as text.")
}

// echoTool builds an echo tool with the given name and description.
func echoTool(name, description string) server.ServerTool {
	// echoInputSchema is a valid constant; a compaction error is impossible
	// and TestSchemasCompact pins that.
	input, _ := compactJSON(echoInputSchema)
	return server.ServerTool{
		Tool: mcp.Tool{
			Name:           name,
			Description:    description,
			RawInputSchema: input,
			Annotations:    annotate(true, false, true, false),
		},
		Handler: handleEcho,
	}
}

// generatedToolName is the unprefixed name of the i-th generated tool.
func generatedToolName(i int) string { return fmt.Sprintf("gen_%05d", i) }

// generatedTool returns the i-th generated echo tool, named name.
func generatedTool(name string, i int) server.ServerTool {
	return echoTool(name, fmt.Sprintf("Generated tool number %d; returns the message argument unchanged.", i))
}

// compactJSON returns schema without insignificant whitespace, which is how
// encoding/json writes a raw message, so the stored bytes are the served ones.
func compactJSON(schema string) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(schema)); err != nil {
		return nil, err
	}
	return json.RawMessage(buf.Bytes()), nil
}
