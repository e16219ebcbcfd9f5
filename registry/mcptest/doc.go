// Package mcptest provides example upstream MCP tool servers for Junction's
// tests, benchmarks and examples, in the spirit of net/http/httptest.
//
// A [Server] wraps an mcp-go server that serves a fixed, documented set of
// tools (echo, add, sleep, fail, large, image, structured), one resource
// (mcptest://readme), one resource template (mcptest://echo/{text}) and one
// prompt (greet), and on request (WithTools) two tools for isolation tests:
// env, which shows the process environment, and roots, which keeps the
// client's roots per session as server-everything does. Options build
// variants: another name or version, a subset of the tools, a name prefix,
// many generated tools for catalog-size tests, extra caller-defined tools,
// paginated lists, and opt-in control tools that add or remove tools from
// inside a tool call. Tools can also be added and
// removed at run time with [Server.AddTools] and [Server.RemoveTools]; every
// change emits notifications/tools/list_changed to connected clients.
//
// A Server can be reached three ways:
//
//   - in-process over streamable HTTP and legacy SSE on a loopback port,
//     with [StartHTTP] in tests or [Server.StartHTTP] elsewhere;
//   - over newline-delimited JSON-RPC on any reader and writer pair with
//     [Server.ServeStdio] (the example binary uses it on stdin and stdout);
//   - directly, through the mcp-go server returned by [Server.MCP], for
//     example with mcp-go's in-process client transport.
//
// Tool input and output schemas are stored as compact raw JSON and served
// byte for byte, so gateway tests can check that schemas are forwarded
// faithfully: compare what a gateway serves with [Server.Tool].
//
// The package owns only these fakes. It must not import any other Junction
// package, must hold no package-level state (every Server is independent, so
// tests may run many in parallel), and must never listen on a non-loopback
// address unless the caller explicitly allows it.
package mcptest
