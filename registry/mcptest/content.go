package mcptest

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Resources and prompts every Server serves.
const (
	// ReadmeURI is the URI of the static markdown resource.
	ReadmeURI = "mcptest://readme"
	// ReadmeMIMEType is the MIME type of the readme resource.
	ReadmeMIMEType = "text/markdown"
	// EchoResourceTemplate is the URI template of the resource template:
	// reading mcptest://echo/{text} returns the (unescaped) text as
	// text/plain.
	EchoResourceTemplate = "mcptest://echo/{text}"
	// PromptGreet is the name of the prompt; it takes a required "name"
	// argument and an optional "style" ("formal" or "casual").
	PromptGreet = "greet"
)

// addContent registers the resource, the resource template and the prompt.
func (s *Server) addContent() error {
	s.mcp.AddResource(
		mcp.NewResource(ReadmeURI, "readme",
			mcp.WithResourceTitle("mcptest README"),
			mcp.WithResourceDescription("What this example server offers."),
			mcp.WithMIMEType(ReadmeMIMEType),
		),
		s.readReadme,
	)

	template, err := newEchoTemplate()
	if err != nil {
		return err
	}
	s.mcp.AddResourceTemplate(template, readEchoResource)

	s.mcp.AddPrompt(
		mcp.NewPrompt(PromptGreet,
			mcp.WithPromptTitle("Greet"),
			mcp.WithPromptDescription("Asks the model to greet someone."),
			mcp.WithArgument("name", mcp.ArgumentDescription("Who to greet."), mcp.RequiredArgument()),
			mcp.WithArgument("style", mcp.ArgumentDescription("formal or casual (default casual).")),
		),
		getGreetPrompt,
	)
	return nil
}

// newEchoTemplate builds the resource template. mcp.NewResourceTemplate
// panics on a malformed template; the template is a constant, but the
// recover keeps that promise local.
func newEchoTemplate() (template mcp.ResourceTemplate, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("mcptest: resource template %q: %v", EchoResourceTemplate, r)
		}
	}()
	return mcp.NewResourceTemplate(EchoResourceTemplate, "echo",
		mcp.WithTemplateTitle("Echo resource"),
		mcp.WithTemplateDescription("Returns the text in the URI as a text/plain resource."),
		mcp.WithTemplateMIMEType("text/plain"),
	), nil
}

// ReadmeText returns the markdown the readme resource of a server named name
// returns.
func ReadmeText(name string) string {
	return "# " + name + "\n\n" +
		"An example upstream MCP server for Junction's tests.\n\n" +
		"Tools: `echo`, `add`, `sleep`, `fail`, `large`, `image`, `structured`.\n" +
		"Resource template: `" + EchoResourceTemplate + "`. Prompt: `" + PromptGreet + "`.\n"
}

func (s *Server) readReadme(_ context.Context, request mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	return []mcp.ResourceContents{
		mcp.TextResourceContents{URI: request.Params.URI, MIMEType: ReadmeMIMEType, Text: ReadmeText(s.name)},
	}, nil
}

// readEchoResource serves mcptest://echo/{text}.
func readEchoResource(_ context.Context, request mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	raw, ok := strings.CutPrefix(request.Params.URI, "mcptest://echo/")
	if !ok {
		return nil, fmt.Errorf("mcptest: resource %q does not match %s", request.Params.URI, EchoResourceTemplate)
	}
	text, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("mcptest: resource %q: %w", request.Params.URI, err)
	}
	return []mcp.ResourceContents{
		mcp.TextResourceContents{URI: request.Params.URI, MIMEType: "text/plain", Text: text},
	}, nil
}

// getGreetPrompt renders the greet prompt.
func getGreetPrompt(_ context.Context, request mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	name := request.Params.Arguments["name"]
	if name == "" {
		return nil, fmt.Errorf("mcptest: prompt %s: argument %q is required", PromptGreet, "name")
	}
	var text string
	switch style := request.Params.Arguments["style"]; style {
	case "", "casual":
		text = fmt.Sprintf("Say hi to %s in one short, friendly sentence.", name)
	case "formal":
		text = fmt.Sprintf("Write a formal greeting addressed to %s.", name)
	default:
		return nil, fmt.Errorf("mcptest: prompt %s: style %q is not formal or casual", PromptGreet, style)
	}
	return &mcp.GetPromptResult{
		Description: "Greets " + name,
		Messages: []mcp.PromptMessage{
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text)),
		},
	}, nil
}

// Compile-time checks that the handlers have mcp-go's signatures.
var (
	_ server.ResourceTemplateHandlerFunc = readEchoResource
	_ server.PromptHandlerFunc           = getGreetPrompt
)
