package telemetry

import "context"

// requestIDKey is the context key for the request id; its type is private so
// no other package can collide with it.
type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id, which every log line,
// usage record and trace of the request carries too.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
