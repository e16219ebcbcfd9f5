package llm

import (
	"context"
	"errors"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
)

// newFakeClock returns an injected clock whose Sleep advances it at once.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// stubProvider is a chat.Provider that is never called: attempts are
// scripted by the tests.
type stubProvider struct{}

func (stubProvider) Chat(context.Context, chat.Target, *chat.Request) (*chat.Response, error) {
	return nil, errors.New("stubProvider: not called in router tests")
}
