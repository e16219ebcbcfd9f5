package cache

import (
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
)

// TestMain fails the package's tests if any goroutine (a Qdrant sweeper, a
// gRPC or Redis connection, a fake server) outlives them.
func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m)
}
