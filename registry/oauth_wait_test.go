package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

// A request waiting for another's token request gives up when its own
// context ends: a token endpoint that does not answer holds up each
// waiter for its own deadline only, not for the fetch in progress (nor,
// queued, for every fetch before its turn).
func TestOAuthTokenWaitHonoursContext(t *testing.T) {
	release := make(chan struct{})
	var fetching atomic.Bool
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetching.Store(true)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(release)
		hung.Close()
	})
	src := newTokenSource(AuthConfig{Type: AuthOAuth2ClientCredentials, TokenURL: hung.URL, ClientID: "junction", ClientSecret: "s"}, time.Now)

	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := src.token(ctx)
		first <- err
	}()
	testkit.Eventually(t, 5*time.Second, "the first token request to reach the server", fetching.Load)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := src.token(ctx)
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("a request with a 100ms deadline waited %v for another's token request", waited)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
	if err := <-first; err == nil {
		t.Error("the hung token endpoint issued a token")
	}
}

// A token whose expires_in is beyond what a time.Duration holds is cached
// (for a long time), not fetched again for every request because the
// lifetime overflowed to a negative one.
func TestOAuthHugeExpiresIn(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 1e12) // about 31,700 years
	src := newTokenSource(AuthConfig{Type: AuthOAuth2ClientCredentials, TokenURL: ts.url, ClientID: "junction", ClientSecret: "s3cret&more"}, time.Now)
	for range 3 {
		if _, err := src.token(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := ts.issuedCount(); n != 1 {
		t.Errorf("%d token requests for 3 uses of a long-lived token, want 1", n)
	}
}
