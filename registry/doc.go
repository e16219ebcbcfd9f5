// Package registry owns the upstream MCP tool servers: their definitions
// (from the config file and the admin API, persisted in store), the mcp-go
// client connections (stdio, SSE, streamable HTTP), health checks,
// reconnects, stdio process supervision, and catalog change events.
//
// A dead or slow upstream is isolated here; it never blocks start-up or the
// other upstreams.
//
// Definitions are store resources of kind "server". [Registry.SyncConfig]
// makes the file-managed ones those of the configuration file; the admin
// operations ([Registry.CreateServer], [Registry.UpdateServer],
// [Registry.DeleteServer]) manage the others and refuse file-managed ones
// with [ErrReadOnly]. Every change is followed on every replica through the
// store's change feed. Credentials (bearer, header and env values) are
// sealed with the process's secret key (package store/secret) before they
// reach the store and are never logged or shown by the admin API.
//
// Each enabled server has an owner goroutine that connects (letting mcp-go
// negotiate the protocol revision), lists the tools, resources, templates
// and prompts (every page), and then watches: list_changed re-lists,
// a periodic health check (ping, or server/discover on the stateless
// protocol) detects dead upstreams, and a lost connection drops the
// server's catalog and reconnects with jittered exponential backoff (1s to
// 60s). Stdio servers run in their own process group, which is killed on
// disconnect; their stderr goes to the log and crashes count as restarts.
// A stdio server gets a small safe part of Junction's environment plus its
// configured env and env_passthrough, never Junction's keys (transport.go).
//
// [Registry.Catalog] is an immutable snapshot of the ready servers' catalogs,
// with each item's JSON kept byte for byte as the upstream sent it;
// [Registry.Subscribe] signals its changes. [Registry.CallTool],
// [Registry.ReadResource] and [Registry.GetPrompt] return the upstream's
// result JSON untouched, forward progress, log messages and cancellation,
// and fail at once with an [*UnavailableError] for a server that is not
// ready.
//
// Beyond calls: [Registry.SubscribeResource] and
// [Registry.UnsubscribeResource] keep upstream resource subscriptions,
// counted per (server, URI), across reconnects, and
// [Registry.OnResourceUpdated] receives their updates (subscriptions.go);
// an upstream's sampling, elicitation and roots requests during a call go
// to the call's hooks (relay.go), on an upstream session of the call's
// caller's own, so that nothing one caller's client supplies reaches
// another (sessions.go), or, with CallOptions.PassInputRequired, a
// 2026-07-28 upstream's input_required result is returned as the call's
// result and CallOptions.Resume answers it; servers with an auth block get
// OAuth 2.0 client-credentials tokens (oauth.go); [Registry.DeriveKey]
// derives keys from the secret key for other packages.
//
// The package must not import the hub (mcp), the LLM layer or the gateway,
// must not apply access policy (the hub does), and must never send a
// caller's credentials upstream: only each server's own configured headers
// and bearer are sent.
package registry
