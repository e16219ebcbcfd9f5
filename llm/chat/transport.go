package chat

import (
	"net"
	"net/http"
	"time"
)

// TransportOptions tunes the HTTP transport providers share.
type TransportOptions struct {
	// ConnectTimeout bounds dialling (and the TLS handshake). Default 10s.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request is written; for a non-streamed call that is most of the call, so
	// it is left unset (0) by default and the router's timeouts apply.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerHost keeps this many warm connections per upstream.
	// Default 256.
	MaxIdleConnsPerHost int
}

// NewTransport returns an HTTP transport for upstream calls: no proxy from
// the environment, bounded dialling, many idle connections per host (LLM
// gateways talk to few hosts, very often), HTTP/2 when the upstream offers it.
func NewTransport(o TransportOptions) *http.Transport {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = 256
	}
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * o.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}
