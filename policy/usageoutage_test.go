package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/storetest"
	"github.com/junctionhq/junction/telemetry"
)

// pgThroughProxy opens a store on a fresh Postgres schema through a proxy
// the test can stop; Raw of the returned database bypasses the proxy.
func pgThroughProxy(t *testing.T) (*storetest.Proxy, storetest.Database, *store.Store) {
	t.Helper()
	proxy, db := storetest.ProxyPostgres(t, storetest.PostgresFromEnv(t)(t))
	st, err := store.Open(context.Background(), db.Config, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return proxy, db, st
}

// countUsage counts the usage rows, their distinct request ids and record ids.
func countUsage(t *testing.T, db storetest.Database) (rows, requests, ids int64) {
	t.Helper()
	err := db.Raw.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT request_id), COUNT(DISTINCT record_id) FROM usage`).Scan(&rows, &requests, &ids)
	if err != nil {
		t.Fatal(err)
	}
	return rows, requests, ids
}

// TestUsageLosesNothingInPostgresOutage: with the engine settling 5,000
// requests a second, Postgres goes away (every connection cut, new ones
// refused) and comes back; every usage record is stored, once. In "memory"
// the records of a 4 s outage wait in memory; in "spill" a memory bound of
// 10,000 records sends most of them through the spill file.
func TestUsageLosesNothingInPostgresOutage(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) { testUsagePostgresOutage(t, 0, 8*time.Second, 2*time.Second, 6*time.Second) })
	t.Run("spill", func(t *testing.T) { testUsagePostgresOutage(t, 10000, 5*time.Second, time.Second, 4*time.Second) })
}

func testUsagePostgresOutage(t *testing.T, memory int, run, downAt, upAt time.Duration) {
	proxy, db, st := pgThroughProxy(t)
	spill := t.TempDir()
	e, err := New(context.Background(), Options{Store: st, SpillDir: spill,
		Meter: MeterConfig{UsageQueue: memory, UsageFlushInterval: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	id := mustKey(t, e, KeyInput{Name: "writer", Budget: &Budget{USD: 1e6}})

	const rate = 5000 // records a second
	total := int(run.Seconds() * rate)
	down, up := int(downAt.Seconds()*rate), int(upAt.Seconds()*rate)
	ctx := context.Background()
	start := time.Now()
	var outage time.Duration
	var spilled int64
	for i := range total {
		switch i {
		case down:
			proxy.Stop()
			outage = time.Since(start)
		case up:
			spilled = e.Stats().Usage.Spilled
			proxy.Start()
			outage = time.Since(start) - outage
		}
		r, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "openai/gpt-4o", PromptTokens: 10, MaxTokens: 10,
			RequestID: fmt.Sprintf("req-%06d", i)})
		if err != nil {
			t.Fatal(err)
		}
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 10, CompletionTokens: 5}})
		if i%50 == 49 {
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / rate)))
		}
	}
	testkit.EventuallyNoError(t, 30*time.Second, "the usage written after the outage", func() error {
		if err := e.FlushUsage(ctx); err != nil {
			return fmt.Errorf("%w; stats %+v", err, e.Stats())
		}
		return nil
	})
	rows, requests, ids := countUsage(t, db)
	s := e.Stats()
	t.Logf("outage %v: %d records settled, %d stored (%d distinct requests, %d distinct ids), lost %d, dropped %d, %d in the spill file when Postgres came back",
		outage.Round(time.Millisecond), total, rows, requests, ids, int64(total)-requests, s.Usage.Dropped, spilled)
	if rows != int64(total) || requests != int64(total) || ids != int64(total) || s.Usage.Dropped != 0 {
		t.Fatalf("stored %d records (%d distinct requests, %d ids) of %d, dropped %d", rows, requests, ids, total, s.Usage.Dropped)
	}
	if memory > 0 && spilled == 0 {
		t.Fatal("nothing went through the spill file")
	}
}

// TestUsageShutdownDuringPostgresOutageSpillsAndReplays: the engine closed
// while Postgres is away leaves the unwritten records in the spill file in
// its data dir; the next engine on that dir writes them once Postgres is
// back.
func TestUsageShutdownDuringPostgresOutageSpillsAndReplays(t *testing.T) {
	t.Parallel()
	proxy, db, st := pgThroughProxy(t)
	dir := t.TempDir()
	ctx := context.Background()
	e, err := New(ctx, Options{Store: st, SpillDir: dir, Meter: MeterConfig{UsageFlushInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	id := mustKey(t, e, KeyInput{Name: "writer"})
	proxy.Stop()
	const n = 2500
	for i := range n {
		r, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "openai/gpt-4o", RequestID: fmt.Sprintf("req-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 1}})
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.Close(closeCtx); err != nil {
		t.Fatalf("close during the outage: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, telemetry.UsageSpillFile)); err != nil {
		t.Fatalf("no spill file after a shutdown during the outage: %v", err)
	}
	if rows, _, _ := countUsage(t, db); rows != 0 {
		t.Fatalf("%d records stored during the outage", rows)
	}

	proxy.Start()
	e2, err := New(ctx, Options{Store: st, SpillDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(ctx)
	if err := e2.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, requests, _ := countUsage(t, db); rows != n || requests != n {
		t.Fatalf("after restart: %d records (%d distinct) of %d", rows, requests, n)
	}
	if _, err := os.Stat(filepath.Join(dir, telemetry.UsageSpillFile)); !os.IsNotExist(err) {
		t.Fatalf("spill file still there after the replay: %v", err)
	}
}
