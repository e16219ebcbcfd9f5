package gateway

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/store/counters"
)

// go-redis reports what it cannot return as an error (a pool that failed
// to dial, a sentinel that did not answer) through one logger for the
// whole process, which by default writes plain lines to stderr and breaks
// the JSON log. The gateway installs redisLog once, which writes those
// lines into the structured log of the gateway that started last, at warn
// level, with any URL credentials redacted.

var (
	// redisLogOnce installs redisLog as go-redis's logger.
	redisLogOnce sync.Once
	// redisLogTo is where redisLog writes: the logger of the gateway that
	// started last, nil once it has shut down.
	redisLogTo atomic.Pointer[zerolog.Logger]
)

// routeRedisLog sends go-redis's log lines to l until the returned
// function is called (by Shutdown) or another gateway routes them.
func routeRedisLog(l zerolog.Logger) (stop func()) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{}) })
	p := &l
	redisLogTo.Store(p)
	return func() { redisLogTo.CompareAndSwap(p, nil) }
}

// redisLog is go-redis's logger (it implements its Printf interface).
type redisLog struct{}

// Printf writes one go-redis line at warn level; lines come while no
// gateway runs only from clients left over by one that has shut down,
// and are dropped.
func (redisLog) Printf(_ context.Context, format string, args ...any) {
	l := redisLogTo.Load()
	if l == nil {
		return
	}
	msg := counters.RedactURLCredentials(strings.TrimSpace(fmt.Sprintf(format, args...)))
	l.Warn().Str("component", "go-redis").Msg(msg)
}
