// Package telemetry owns Junction's observability plumbing: the zerolog logger
// set-up, the Prometheus registry and the HTTP request metrics every path shares.
//
// It knows nothing about requests beyond what it is handed (route patterns,
// status codes, durations) and never logs request bodies or credentials.
// Later capabilities add OpenTelemetry tracing and the asynchronous
// request/tool-call log writer here.
package telemetry
