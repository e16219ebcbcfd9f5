package llm

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// fakeClock is an injected clock whose Sleep advances it at once.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// stubProvider is a chat.Provider that is never called: attempts are
// scripted by the tests.
type stubProvider struct{}

func (stubProvider) Chat(context.Context, chat.Target, *chat.Request) (*chat.Response, error) {
	return nil, errors.New("stubProvider: not called in router tests")
}
