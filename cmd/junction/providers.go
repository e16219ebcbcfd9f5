package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/junctionhq/junction/llm/providerstore"
)

// junction providers add|list|rm

var providersCommands = map[string]adminCommand{
	"add": {synopsis: "--name N --key VALUE [flags]",
		summary: "add an LLM provider; its models are routable as <name>/<model> at once, on every replica", setup: providersAdd},
	"list": {synopsis: "", summary: "list the LLM providers (the configuration file's and the API's) without key values", setup: providersList},
	"rm":   {synopsis: "NAME", summary: "remove a provider added through the API: its models stop being routable at once", nargs: 1, setup: providersRm},
}

func providersAdd(fs *flag.FlagSet) adminAction {
	var req providerstore.Spec
	var keys repeatedFlag
	var models stringList
	headers := kvFlag{}
	fs.StringVar(&req.Name, "name", "", "name of the provider; its models are addressed as <name>/<model> (required)")
	fs.StringVar(&req.Type, "type", "", "wire format: openai (default; also every OpenAI-compatible server), azure, anthropic, gemini")
	fs.StringVar(&req.BaseURL, "base-url", "", "API root, e.g. https://api.openai.com/v1 (default the provider's public endpoint; required for azure)")
	fs.StringVar(&req.APIVersion, "api-version", "", "Azure's api-version (default 2024-10-21)")
	fs.Var(&keys, "key", "an API key value (repeatable: traffic is balanced over the keys; stored encrypted, never shown again)")
	fs.Var(&models, "model", "a model name listed by /v1/models (repeatable or comma-separated)")
	fs.Var(headers, "header", "K=V header sent on every upstream request (repeatable; stored encrypted)")
	connect := fs.Duration("connect-timeout", 0, "bound on dialling and TLS (default 10s)")
	firstByte := fs.Duration("first-byte-timeout", 0, "bound on the wait for the response or the first streamed event (default 120s)")
	streamIdle := fs.Duration("stream-idle-timeout", 0, "bound on the gap between two streamed events (default 60s)")
	return func(ctx context.Context, a *admin, _ []string) error {
		if req.Name == "" {
			return usageErrorf("--name is required")
		}
		if len(keys) == 0 {
			return usageErrorf("--key is required (any text for local servers that ignore it)")
		}
		for _, k := range keys {
			req.Keys = append(req.Keys, providerstore.KeySpec{Value: k})
		}
		req.Models = models
		if len(headers) > 0 {
			req.Headers = headers
		}
		req.Timeouts = providerstore.Timeouts{Connect: providerstore.Duration(*connect),
			FirstByte: providerstore.Duration(*firstByte), StreamIdle: providerstore.Duration(*streamIdle)}
		return call(ctx, a, http.MethodPost, "/admin/v1/providers", nil, req, func(w io.Writer, p providerstore.Info) error {
			_, err := fmt.Fprintf(w, "Added provider %q (%s) with %d key(s). Its models are routable as %s/<model>.\n",
				p.Name, p.Type, len(p.Keys), p.Name)
			return err
		})
	}
}

var providersList = requestAction(http.MethodGet, "/admin/v1/providers", listTable(
	"No providers. Add one with `junction providers add` or under providers: in the configuration file.",
	[]string{"NAME", "TYPE", "BASE_URL", "KEYS", "MODELS", "SOURCE"},
	func(p providerstore.Info) []string {
		keys := make([]string, 0, len(p.Keys))
		for _, k := range p.Keys {
			keys = append(keys, fmt.Sprintf("%s(w=%g)", k.Name, k.Weight))
		}
		return []string{p.Name, orDash(p.Type), orDash(p.BaseURL), formatList(keys), formatList(p.Models), orDash(p.Source)}
	}))

var providersRm = deleteAction("/admin/v1/providers", "Removed provider")
