package llm

import (
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

// newFakeClock returns an injected clock whose Sleep advances it at once.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}
