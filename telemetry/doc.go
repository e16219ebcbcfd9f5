// Package telemetry owns Junction's observability plumbing: the zerolog logger
// set-up, the Prometheus registry and the HTTP request metrics every path
// shares, and the usage record writer ([UsageWriter]): batched, off the
// request path, retried and spilled to a file while the store is away, with
// its junction_usage_records_* metrics.
//
// It knows nothing about requests beyond what it is handed (route patterns,
// status codes, durations, records built by their producers) and never logs
// request bodies or credentials. It reaches the store only through the sink
// it is given ([UsageSink]). Later capabilities add OpenTelemetry tracing and
// the request/tool-call log, on the same writer.
package telemetry
