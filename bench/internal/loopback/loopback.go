package loopback

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrNotLoopback is wrapped by every refusal, so callers can tell a refused
// address from a malformed one with errors.Is.
var ErrNotLoopback = errors.New("not a loopback address")

// CheckHost returns nil when host (without a port) names this machine's
// loopback interface: "localhost" (any case), an IPv4 address in 127.0.0.0/8,
// or the IPv6 loopback ::1 (an IPv4-mapped 127.x address counts as IPv4).
// An empty host, an unspecified address (0.0.0.0, ::) and any other name are
// refused, since they reach or listen beyond this machine.
func CheckHost(host string) error {
	if host == "" {
		return fmt.Errorf("empty host means every interface: %w", ErrNotLoopback)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("host %q is not localhost or a literal IP (names are not resolved): %w", host, ErrNotLoopback)
	}
	if !addr.Unmap().IsLoopback() {
		return fmt.Errorf("host %q: %w", host, ErrNotLoopback)
	}
	return nil
}

// CheckAddr returns nil when addr is a host:port pair whose host passes
// CheckHost, such as "127.0.0.1:8080" or "[::1]:0". ":8080" is refused because
// it listens on every interface.
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if port == "" {
		return fmt.Errorf("address %q has no port", addr)
	}
	if err := CheckHost(host); err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	return nil
}

// CheckURL parses raw as an absolute http or https URL without userinfo and
// returns it when its host passes CheckHost.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	if u.User != nil {
		// Userinfo makes a URL easy to misread ("http://10.0.0.1:80@127.0.0.1/"
		// dials 127.0.0.1); the benchmark never needs it.
		return nil, fmt.Errorf("url %q: userinfo is not allowed", raw)
	}
	if err := CheckHost(u.Hostname()); err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	return u, nil
}
