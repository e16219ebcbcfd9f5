package store

import (
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
)

// TestMain fails the package if any test leaves a goroutine behind: Close
// must stop every change-feed listener, and an ended subscription must not
// linger.
func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m)
}
