package cache

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine (a Qdrant sweeper, a
// gRPC or Redis connection, a fake server) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
