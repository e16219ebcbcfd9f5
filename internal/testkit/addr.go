package testkit

import (
	"net"
	"testing"
)

// ClosedAddr returns a loopback host:port that was free a moment ago and
// on which nothing listens, for tests of a dependency that cannot be
// reached.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
