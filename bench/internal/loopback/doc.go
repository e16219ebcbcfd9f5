// Package loopback is the benchmark's safety guard: it decides whether a host,
// a host:port address or a URL stays on this machine (localhost, 127.0.0.0/8
// or ::1).
//
// It owns only that decision. It must not resolve names (a name other than
// "localhost" is refused rather than looked up), and it must not open
// connections: callers check an address before they listen on it or send load
// to it.
package loopback
