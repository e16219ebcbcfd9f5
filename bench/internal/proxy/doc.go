// Package proxy builds the benchmark's "baseline": a bare
// net/http/httputil.ReverseProxy in front of the mock provider, with a
// transport tuned so that connection reuse, not connection setup, is what gets
// measured.
//
// It owns the proxy handler and its upstream transport. It must stay bare: no
// auth, no body inspection, no logging per request, nothing a real gateway adds,
// because it is the yardstick for what the cheapest possible hop costs. It
// refuses any upstream that is not on the loopback interface.
package proxy
