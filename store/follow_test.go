package store

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestFollowTopicsCoalescingAndErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan Change)
	var reloads atomic.Int32
	errs := make(chan error, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Follow(ctx, changes, FollowOptions{Topic: ResourceTopic("server"), Coalesce: 30 * time.Millisecond,
			OnError: func(err error) { errs <- err }},
			func(context.Context) error { reloads.Add(1); return errors.New("boom") })
	}()
	changes <- Change{Topic: ResourceTopic("provider")} // another topic: ignored
	changes <- Change{Topic: ResourceTopic("server")}
	changes <- Change{Topic: ResourceTopic("server")} // within the coalescing window
	changes <- Change{Topic: TopicAll}
	select {
	case err := <-errs:
		if err.Error() != "boom" {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload")
	}
	if n := reloads.Load(); n != 1 {
		t.Fatalf("%d reloads for one burst, want 1", n)
	}
	close(changes) // the feed ends: Follow keeps running until ctx ends
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after ctx ended")
	}
}

func TestFollowInterval(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan struct{}, 8)
	go Follow(ctx, nil, FollowOptions{Interval: 5 * time.Millisecond}, func(context.Context) error {
		got <- struct{}{}
		return nil
	})
	for range 3 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("no periodic reload")
		}
	}
}
