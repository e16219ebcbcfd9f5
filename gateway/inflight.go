package gateway

import (
	"context"
	"net/http"
	"sync"
)

// inflight counts the handlers running, so that shutdown can wait for the
// ones it cancelled: they settle their reservations and queue their usage
// records on the way out, and must do so before the policy engine and the
// store close. http.Server.Close does not wait for handlers.
type inflight struct {
	mu      sync.Mutex // guards running and idle
	running int
	// idle is closed when running drops to zero; nil while no one waits.
	idle chan struct{}
}

// wrap counts next's calls.
func (f *inflight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.running++
		f.mu.Unlock()
		defer f.done()
		next.ServeHTTP(w, r)
	})
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running--
	if f.running == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

// wait returns when no handler runs, or with the number still running when
// ctx ends first.
func (f *inflight) wait(ctx context.Context) (running int) {
	f.mu.Lock()
	if f.running == 0 {
		f.mu.Unlock()
		return 0
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.running
	}
}
