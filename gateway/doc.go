// Package gateway is Junction's composition root: the one package that
// imports every other. It turns a Config into a running server: it opens the
// store, loads identities, builds the chi router with its middleware
// (request id, access log, metrics, panic recovery, body limit), mounts the
// operator routes (/healthz, /readyz, /metrics, /admin/v1) and, as they
// land, /v1, /mcp and /ui, and it owns start-up, configuration reloads
// (reload.go) and graceful shutdown.
//
// Nothing imports gateway except cmd/junction and tests; the dependency
// test in this package enforces the direction of every other import.
package gateway
