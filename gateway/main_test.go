package gateway

import (
	"net/http"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// goroutine the gateway starts must be stopped by Shutdown.
func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m, http.DefaultTransport.(*http.Transport).CloseIdleConnections, toolserverBuild.Remove)
}
