package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/internal/testdb"
)

func testChangeFeed(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	ch := subscribe(t, s, ctx)
	other := subscribe(t, s, ctx)
	team, key := store.ResourceTopic("team"), store.ResourceTopic("key")

	steps := []struct {
		name  string
		write func() error
		want  string
	}{
		{"create", func() error {
			_, err := s.CreateResource(ctx, store.Resource{Kind: "team", ID: "t", Name: "team"})
			return err
		}, team},
		{"update", func() error {
			_, err := s.UpdateResource(ctx, store.Resource{Kind: "team", ID: "t", Name: "renamed"})
			return err
		}, team},
		{"sync resources", func() error {
			return s.SyncFileResources(ctx, "key", []store.Resource{{ID: "k", Name: "key"}})
		}, key},
		{"no-op sync, failed create, then delete", func() error {
			if err := s.SyncFileResources(ctx, "key", []store.Resource{{ID: "k", Name: "key"}}); err != nil {
				return err
			}
			if _, err := s.CreateResource(ctx, store.Resource{Kind: "key", ID: "k", Name: "dup"}); !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("duplicate create = %v, want ErrConflict", err)
			}
			if err := s.InsertUsage(ctx, []store.UsageRecord{{KeyID: "k", Status: "ok"}}); err != nil {
				return err
			}
			return s.DeleteResource(ctx, "team", "t")
		}, team},
		{"add rule", func() error {
			_, err := s.AddPolicyRule(ctx, store.PolicyRule{PType: "p", V: [6]string{"a", "b"}})
			return err
		}, store.TopicPolicy},
		{"remove rule", func() error { return s.RemovePolicyRule(ctx, "p", [6]string{"a", "b"}) }, store.TopicPolicy},
		{"sync rules", func() error {
			return s.SyncFilePolicyRules(ctx, []store.PolicyRule{{PType: "g", V: [6]string{"a", "admins"}}})
		}, store.TopicPolicy},
		{"no-op rule sync, refused remove, then delete", func() error {
			if err := s.SyncFilePolicyRules(ctx, []store.PolicyRule{{PType: "g", V: [6]string{"a", "admins"}}}); err != nil {
				return err
			}
			if err := s.RemovePolicyRule(ctx, "g", [6]string{"a", "admins"}); !errors.Is(err, store.ErrReadOnly) {
				return fmt.Errorf("remove of a file rule = %v, want ErrReadOnly", err)
			}
			return s.DeleteResource(ctx, "key", "k")
		}, key},
	}
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		// The next event, not merely some event: writes that change nothing
		// publish nothing.
		expectChange(t, ch, st.name, st.want)
		expectChange(t, other, st.name+" (second subscriber)", st.want)
	}
}

// testChangeFeedAcrossStores checks that a write through one Store reaches
// the subscribers of another on the same database — two replicas — which
// only Postgres promises.
func testChangeFeedAcrossStores(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	if db.Config.Postgres == nil {
		t.Skip("SQLite fans changes out in-process only")
	}
	a, b := OpenStore(t, db), OpenStore(t, db)
	onA, onB := subscribe(t, a, ctx), subscribe(t, b, ctx)

	mustCreate(t, a, store.Resource{Kind: "team", ID: "t", Name: "team"})
	expectChange(t, onB, "write on A, seen by B", store.ResourceTopic("team"))
	expectChange(t, onA, "write on A, seen by A", store.ResourceTopic("team"))
	if _, err := b.AddPolicyRule(ctx, store.PolicyRule{PType: "p", V: [6]string{"x"}}); err != nil {
		t.Fatalf("AddPolicyRule: %v", err)
	}
	// Exactly once each: the next event is the rule, not a duplicate.
	expectChange(t, onA, "write on B, seen by A", store.TopicPolicy)
	expectChange(t, onB, "write on B, seen by B", store.TopicPolicy)
}

func testChangeFeedSlowSubscriber(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	s := OpenStore(t, db)
	ch := subscribe(t, s, ctx)
	// Far more writes than the channel holds, none read, then a last one.
	for i := range 50 {
		mustCreate(t, s, store.Resource{Kind: "team", ID: fmt.Sprint(i), Name: fmt.Sprint(i)})
	}
	if _, err := s.AddPolicyRule(ctx, store.PolicyRule{PType: "p", V: [6]string{"last"}}); err != nil {
		t.Fatalf("AddPolicyRule: %v", err)
	}
	// Whatever was lost, the subscriber hears of the last write: as itself or
	// as a reload-everything.
	last := func(got []string) bool {
		return len(got) > 0 && (got[len(got)-1] == store.TopicPolicy || got[len(got)-1] == store.TopicAll)
	}
	var got []string
	if db.Config.Postgres == nil {
		// In-process delivery is synchronous: everything is buffered by now.
		for drained := false; !drained; {
			select {
			case c := <-ch:
				got = append(got, c.Topic)
			default:
				drained = true
			}
		}
		if !last(got) || len(got) > 20 || !slices.Contains(got, store.TopicAll) {
			t.Errorf("slow subscriber received %v; want a few events (not all 51) including %q, ending with %q or %q",
				got, store.TopicAll, store.TopicPolicy, store.TopicAll)
		}
		return
	}
	// Delivery is asynchronous: wait for the last write's event (more may follow).
	timeout := time.After(changeTimeout)
	for !last(got) {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %v", got)
			}
			got = append(got, c.Topic)
		case <-timeout:
			t.Fatalf("after %v, no event for the last write within %v", got, changeTimeout)
		}
	}
}

func testChangeFeedEnds(t *testing.T, newDB NewDatabase) {
	db := newDB(t)
	s := OpenStore(t, db)

	t.Run("context canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		ch := subscribe(t, s, ctx)
		mustCreate(t, s, store.Resource{Kind: "team", ID: "t", Name: "team"})
		cancel()
		expectClosed(t, ch)
		// The store and its other subscriptions carry on.
		still := subscribe(t, s, t.Context())
		if err := s.DeleteResource(t.Context(), "team", "t"); err != nil {
			t.Fatalf("DeleteResource: %v", err)
		}
		expectChange(t, still, "delete", store.ResourceTopic("team"))
	})
	t.Run("already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if ch, err := s.Subscribe(ctx); err == nil {
			t.Errorf("Subscribe with a canceled context = %v, nil; want an error", ch)
		}
	})
	t.Run("store closed", func(t *testing.T) {
		s2, err := store.Open(t.Context(), db.Config, db.DataDir)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		chs := []<-chan store.Change{subscribe(t, s2, t.Context()), subscribe(t, s2, context.Background())}
		mustCreate(t, s2, store.Resource{Kind: "team", ID: "t2", Name: "team2"})
		if err := s2.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// Close has ended every subscription by the time it returns.
		for i, ch := range chs {
			for open := true; open; {
				select {
				case _, open = <-ch:
				default:
					t.Fatalf("subscription %d still open after Close returned", i)
				}
			}
		}
		if _, err := s2.Subscribe(t.Context()); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Subscribe after Close = %v, want store.ErrClosed", err)
		}
	})
}

// testChangeFeedReconnects kills a Postgres subscription's connection and
// checks that it comes back and says that events may have been missed.
func testChangeFeedReconnects(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	if db.Config.Postgres == nil {
		t.Skip("SQLite subscriptions have no connection to lose")
	}
	// A private application_name tells this test's listener apart from the
	// others running in parallel on the same server.
	appName := fmt.Sprintf("junction-test-%d", time.Now().UnixNano())
	pg := *db.Config.Postgres
	pg.DSN = testdb.WithParam(pg.DSN, "application_name", appName)
	db.Config.Postgres = &pg
	s := OpenStore(t, db)
	ch := subscribe(t, s, ctx)

	var killed int
	err := db.Raw.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = $1 AND query LIKE 'LISTEN%'`, appName).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the listener: killed %d connections, %v; want 1", killed, err)
	}
	select {
	case c, ok := <-ch:
		if !ok || c.Topic != store.TopicAll {
			t.Fatalf("after the connection was killed: %v, open %v; want %q", c, ok, store.TopicAll)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q within 10s of the listener's connection being killed", store.TopicAll)
	}
	mustCreate(t, s, store.Resource{Kind: "team", ID: "t", Name: "team"})
	expectChange(t, ch, "write after reconnecting", store.ResourceTopic("team"))
}

func testGovernanceClosed(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	db := newDB(t)
	s := closedStore(t, db, nil)
	r := store.Resource{Kind: "team", ID: "t", Name: "team"}
	checks := map[string]error{
		"DeleteResource":      s.DeleteResource(ctx, "team", "t"),
		"SyncFileResources":   s.SyncFileResources(ctx, "team", []store.Resource{r}),
		"RemovePolicyRule":    s.RemovePolicyRule(ctx, "p", [6]string{"a"}),
		"SyncFilePolicyRules": s.SyncFilePolicyRules(ctx, nil),
		"InsertUsage":         s.InsertUsage(ctx, []store.UsageRecord{{KeyID: "k"}}),
	}
	_, checks["CreateResource"] = s.CreateResource(ctx, r)
	_, checks["UpdateResource"] = s.UpdateResource(ctx, r)
	_, checks["GetResource"] = s.GetResource(ctx, "team", "t")
	_, checks["ListResources"] = s.ListResources(ctx, "team")
	_, checks["ListPolicyRules"] = s.ListPolicyRules(ctx)
	_, checks["AddPolicyRule"] = s.AddPolicyRule(ctx, store.PolicyRule{PType: "p"})
	_, checks["QueryUsage"] = s.QueryUsage(ctx, store.UsageQuery{})
	_, checks["Subscribe"] = s.Subscribe(ctx)
	for method, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want store.ErrClosed", method, err)
		}
	}
}

// subscribe subscribes to s's changes for as long as ctx lasts, or fails t.
func subscribe(t *testing.T, s *store.Store, ctx context.Context) <-chan store.Change {
	t.Helper()
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return ch
}

// expectChange fails t unless the next event on ch, within changeTimeout, is
// on topic want.
func expectChange(t *testing.T, ch <-chan store.Change, what, want string) {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed, want a change on %q", what, want)
		}
		if c.Topic != want {
			t.Fatalf("%s: change on %q, want %q", what, c.Topic, want)
		}
	case <-time.After(changeTimeout):
		t.Fatalf("%s: no change on %q within %v", what, want, changeTimeout)
	}
}

// expectClosed fails t unless ch is closed, after any buffered events,
// within changeTimeout.
func expectClosed(t *testing.T, ch <-chan store.Change) {
	t.Helper()
	timeout := time.After(changeTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("channel not closed within %v", changeTimeout)
		}
	}
}

// mustCreate creates r or fails t.
