package telemetry

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
)

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

// MaxRequestIDLen bounds a caller-supplied request id.
const MaxRequestIDLen = 128

// ValidRequestID reports whether a caller-supplied request id may be kept:
// 1 to MaxRequestIDLen characters from [A-Za-z0-9._:-]. That covers UUIDs,
// hex ids and trace-style ids, and leaves out everything that could mean
// something to a browser, a shell, a log viewer or a header parser (<, >,
// quotes, spaces, control characters, non-ASCII).
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !requestIDChar(id[i]) {
			return false
		}
	}
	return true
}

func requestIDChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == ':', c == '-':
		return true
	}
	return false
}

// NewRequestID returns 128 random bits in hex. Request ids are not secrets,
// so the fast runtime generator is enough.
func NewRequestID() string {
	var b [16]byte
	lo, hi := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		b[i] = byte(lo >> (8 * i))
		b[8+i] = byte(hi >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}
