package testkit

import (
	"errors"
	"testing"
	"time"
)

// pollInterval is how often Eventually re-checks its condition.
const pollInterval = 5 * time.Millisecond

// Eventually polls cond until it holds, failing the test if it still does
// not after within. Use it where an event in another goroutine has no
// channel to wait on, instead of a bare time.Sleep.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	EventuallyNoError(t, within, what, func() error {
		if !cond() {
			return errNotYet
		}
		return nil
	})
}

// errNotYet is what Eventually reports of a condition that never held.
var errNotYet = errors.New("the condition does not hold")

// EventuallyNoError polls f until it returns nil, failing the test with
// f's last error if it still fails after within.
func EventuallyNoError(t testing.TB, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", within, what, err)
		}
		time.Sleep(pollInterval)
	}
}
