package proxy

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/junctionhq/junction/bench/internal/loopback"
)

// DefaultMaxIdleConnsPerHost is the idle keep-alive pool kept to the upstream
// when Options.MaxIdleConnsPerHost is zero. net/http's own default is 2, which
// would make a proxy under 50 concurrent requests open and close connections
// all the time; this is comfortably above any concurrency the harness uses.
const DefaultMaxIdleConnsPerHost = 1024

// Options tunes the proxy. The zero value is ready to use.
type Options struct {
	// MaxIdleConnsPerHost is how many idle keep-alive connections to the
	// upstream are kept for reuse. Set it at least to the benchmark's
	// concurrency. Zero means DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int

	// DialTimeout bounds connecting to the upstream. Zero means 5s.
	DialTimeout time.Duration

	// ErrorLog receives the proxy's upstream errors (each answered with 502).
	// Nil means the standard logger.
	ErrorLog *log.Logger
}

// New returns a reverse proxy that forwards every request, path and query
// unchanged, to upstream, which must be an http(s) URL on the loopback
// interface. Responses, including server-sent event streams, are copied back
// as they arrive.
func New(upstream string, opts Options) (*httputil.ReverseProxy, error) {
	target, err := loopback.CheckURL(upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream: %w", err)
	}
	if opts.MaxIdleConnsPerHost < 0 {
		return nil, errors.New("proxy: MaxIdleConnsPerHost must not be negative")
	}
	if opts.DialTimeout < 0 {
		return nil, errors.New("proxy: DialTimeout must not be negative")
	}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
		},
		Transport: NewTransport(opts),
		ErrorLog:  opts.ErrorLog,
	}, nil
}

// NewTransport returns the upstream transport New uses: HTTP/1.1 keep-alive
// with a large idle pool, no environment proxy, and bounded dialing.
func NewTransport(opts Options) *http.Transport {
	idle := opts.MaxIdleConnsPerHost
	if idle == 0 {
		idle = DefaultMaxIdleConnsPerHost
	}
	dialTimeout := opts.DialTimeout
	if dialTimeout == 0 {
		dialTimeout = 5 * time.Second
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil, // never route benchmark traffic through $HTTP_PROXY
		DialContext:           dialer.DialContext,
		MaxIdleConns:          0, // no global cap; the per-host cap below is the one that matters
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false, // the mock speaks HTTP/1.1 cleartext
	}
}
