package testkit

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// VerifyNoLeaks runs the package's tests and exits, failing the run if they
// passed but left a goroutine behind. The cleanups run after the tests and
// before the check, pass or fail (e.g. removing a temporary directory,
// closing http.DefaultTransport's idle connections). Call it from TestMain.
func VerifyNoLeaks(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
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
