package testkit

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main runs the package's tests, then the cleanups (e.g. removing a built
// Binary), and exits with the tests' code. Call it from TestMain.
func Main(m *testing.M, cleanups ...func()) {
	os.Exit(runThenClean(m, cleanups))
}

// VerifyNoLeaks is Main that also fails the run if the tests passed but left
// a goroutine behind. The cleanups run before the check (e.g. closing
// http.DefaultTransport's idle connections).
func VerifyNoLeaks(m *testing.M, cleanups ...func()) {
	code := runThenClean(m, cleanups)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runThenClean runs the tests, then the cleanups whatever the outcome.
func runThenClean(m *testing.M, cleanups []func()) int {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	return code
}

// GoroutinesBackTo waits up to within for the number of goroutines to fall
// back to baseline (taken with runtime.NumGoroutine before the code under
// test ran). Only for tests that do not run in parallel with others.
func GoroutinesBackTo(t testing.TB, baseline int, within time.Duration) {
	t.Helper()
	Eventually(t, within, fmt.Sprintf("goroutines back to %d", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline
	})
}
