package gateway

import (
	"log"
	"strings"

	"github.com/rs/zerolog"
)

// newServerErrorLog routes net/http's own messages (TLS handshake errors,
// malformed requests) into the structured log at warn level.
func newServerErrorLog(l zerolog.Logger) *log.Logger {
	return log.New(serverLogWriter{l}, "", 0)
}

type serverLogWriter struct{ l zerolog.Logger }

func (w serverLogWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("component", "http.Server").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
