package testkit

import (
	"io"
	"testing"
)

// CloseAtEnd closes c when t ends, failing t (naming what) if Close fails.
func CloseAtEnd(t testing.TB, what string, c io.Closer) {
	t.Helper()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}
