package store

import (
	"context"
	"time"
)

// FollowOptions says when Follow reloads.
type FollowOptions struct {
	// Topic limits the changes that trigger a reload to one topic (and
	// TopicAll, which always does); "" reacts to every change.
	Topic string
	// Interval reloads periodically as well, a safety net against missed
	// notifications; 0 disables it.
	Interval time.Duration
	// Coalesce waits this long after a change for more of them, so a burst
	// costs one reload; 0 reloads at once.
	Coalesce time.Duration
	// OnError receives reload's errors (not those after ctx ended).
	OnError func(error)
}

// Follow calls reload after the changes from a Subscribe feed that concern
// opts.Topic and every opts.Interval, until ctx ends. When the feed closes
// (the store is closing) the periodic reload goes on. Run it in the
// goroutine of the subscriber that owns ctx.
func Follow(ctx context.Context, changes <-chan Change, opts FollowOptions, reload func(context.Context) error) {
	var tick <-chan time.Time
	if opts.Interval > 0 {
		t := time.NewTicker(opts.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			if opts.Topic != "" && c.Topic != opts.Topic && c.Topic != TopicAll {
				continue
			}
			if opts.Coalesce > 0 && !drain(ctx, &changes, opts.Coalesce) {
				return
			}
		case <-tick:
		}
		if err := reload(ctx); err != nil && ctx.Err() == nil && opts.OnError != nil {
			opts.OnError(err)
		}
	}
}

// drain swallows the changes arriving within d (a closed feed becomes nil)
// and reports false when ctx ended meanwhile.
func drain(ctx context.Context, changes *<-chan Change, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-*changes:
			if !ok {
				*changes = nil
			}
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}
