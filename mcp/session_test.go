package mcp

import (
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

// A 2025-11-25 session whose client vanished without DELETE is ended after
// SessionIdleTTL, and with it the upstream subscriptions it held.
func TestIdleSessionReleasesItsSubscriptions(t *testing.T) {
	t.Parallel()
	up, _, url, key := newSubscribingFixture(t, Options{SessionIdleTTL: 300 * time.Millisecond})

	subscribedSession(t, url, key, up)
	// No DELETE, no further requests: the sweeper (every second at the
	// least) ends the session.
	testkit.Eventually(t, 5*time.Second, "condition", func() bool { return up.held() == 0 })
}

func TestSessionOptionDefaults(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, def, want time.Duration }{
		{0, time.Hour, time.Hour},
		{-1, time.Hour, 0},
		{time.Minute, time.Hour, time.Minute},
	} {
		if got := durationOr(c.in, c.def); got != c.want {
			t.Errorf("durationOr(%v, %v) = %v, want %v", c.in, c.def, got, c.want)
		}
	}
}
