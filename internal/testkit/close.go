package testkit

import (
	"context"
	"io"
	"testing"
	"time"
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

// ShutdownAtEnd calls shutdown with a context that ends after within when t
// ends, failing t if it returns an error.
func ShutdownAtEnd(t testing.TB, within time.Duration, shutdown func(context.Context) error) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}
