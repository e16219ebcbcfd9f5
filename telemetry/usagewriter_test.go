package telemetry

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/storetest"
)

// flakyInsert wraps a store's InsertUsage: while down, every insert fails
// and writes nothing (the database is gone); the next ambiguous inserts
// commit and then fail (the answer to COMMIT was lost).
type flakyInsert struct {
	st        *store.Store
	down      atomic.Bool
	ambiguous atomic.Int32
}

func (f *flakyInsert) insert(ctx context.Context, recs []store.UsageRecord) error {
	if f.down.Load() {
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	if err := f.st.InsertUsage(ctx, recs); err != nil {
		return err
	}
	if f.ambiguous.Add(-1) >= 0 {
		return errors.New("timeout: no answer to COMMIT")
	}
	return nil
}

// usageDB is a SQLite store with a raw handle for counting rows.
type usageDB struct {
	st  *store.Store
	raw *sql.DB
}

func newUsageDB(t *testing.T) usageDB {
	t.Helper()
	db := storetest.SQLite(t)
	return usageDB{st: storetest.OpenStore(t, db), raw: db.Raw}
}

// count returns the stored records and their distinct request ids.
func (d usageDB) count(t *testing.T) (rows, distinct int64) {
	t.Helper()
	if err := d.raw.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT request_id) FROM usage`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

// t0 is when the test records were made.
var t0 = time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)

// testEntry is a usage record as a test queues it.
type testEntry struct {
	unixMicro int64
	requestID string
}

func (e *testEntry) record(id string) store.UsageRecord {
	return store.UsageRecord{ID: id, Time: time.UnixMicro(e.unixMicro).UTC(), RequestID: e.requestID, KeyID: "key-1",
		KeyName: "writer", Kind: "llm", Model: "mock/gpt-4o", PromptTokens: 3, CompletionTokens: 2, CostMicros: 7, Status: "ok"}
}

func usageTestEntry(i int) *testEntry {
	return &testEntry{unixMicro: t0.Add(time.Duration(i) * time.Millisecond).UnixMicro(), requestID: fmt.Sprintf("req-%d", i)}
}

func newTestUsageLog(t *testing.T, insert UsageSinkFunc, cfg UsageWriterConfig, dir string, log zerolog.Logger) *UsageWriter[testEntry] {
	t.Helper()
	cfg.SpillDir = dir
	u, err := NewUsageWriter(insert, (*testEntry).record, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close(context.Background()) })
	return u
}

// flushAll flushes until the store took everything, or fails t after 20 s.
func flushAll(t *testing.T, u *UsageWriter[testEntry]) {
	t.Helper()
	testkit.EventuallyNoError(t, 20*time.Second, "usage records written", func() error { return u.Flush(context.Background()) })
}

// TestUsageWriterRetriesThroughStoreOutage: records queued while the store
// refuses every insert for 1.5 s (five times longer than the writer used to
// retry) are all written once it is back, and batches whose commit answer
// was lost are not stored twice.
func TestUsageWriterRetriesThroughStoreOutage(t *testing.T) {
	t.Parallel()
	db := newUsageDB(t)
	f := &flakyInsert{st: db.st}
	u := newTestUsageLog(t, f.insert, UsageWriterConfig{Batch: 500, FlushInterval: 20 * time.Millisecond}, "", zerolog.Nop())
	f.down.Store(true)
	const n = 10000 // 5,000 records a second for two seconds
	start := time.Now()
	for i := range n {
		u.Enqueue(usageTestEntry(i))
		if i%50 == 49 {
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * 200 * time.Microsecond)))
		}
		if i == n*3/4 {
			f.ambiguous.Store(3)
			f.down.Store(false)
		}
	}
	flushAll(t, u)
	rows, distinct := db.count(t)
	if rows != n || distinct != n || u.dropped.Load() != 0 {
		t.Fatalf("stored %d records (%d distinct) of %d, dropped %d", rows, distinct, n, u.dropped.Load())
	}
	if f.ambiguous.Load() >= 0 {
		t.Fatal("no ambiguous commit was retried")
	}
}

// TestUsageWriterSpillsBeyondMemoryAndReplays: while the store is away,
// records beyond half of the memory bound go to the spill file,
// none is dropped, and once the store is back the file is replayed and
// removed.
func TestUsageWriterSpillsBeyondMemoryAndReplays(t *testing.T) {
	t.Parallel()
	db := newUsageDB(t)
	f := &flakyInsert{st: db.st}
	dir := t.TempDir()
	u := newTestUsageLog(t, f.insert, UsageWriterConfig{Queue: 1000, Batch: 100, FlushInterval: 10 * time.Millisecond}, dir, zerolog.Nop())
	f.down.Store(true)
	const n = 20000
	for i := range n {
		u.Enqueue(usageTestEntry(i))
		if i%200 == 199 { // never faster than the writer spills
			for u.queued() > 800 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	testkit.Eventually(t, 10*time.Second, "records in the spill file", func() bool { return u.spilled.Load() >= n/2 })
	if _, err := os.Stat(filepath.Join(dir, UsageSpillFile)); err != nil {
		t.Fatal(err)
	}
	if got := u.queued(); got > 1000 {
		t.Fatalf("%d records in memory, bound 1000", got)
	}
	f.down.Store(false)
	flushAll(t, u)
	rows, distinct := db.count(t)
	if rows != n || distinct != n || u.dropped.Load() != 0 {
		t.Fatalf("stored %d records (%d distinct) of %d, dropped %d", rows, distinct, n, u.dropped.Load())
	}
	if _, err := os.Stat(filepath.Join(dir, UsageSpillFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spill file not removed after the replay: %v", err)
	}
	if u.spilled.Load() != 0 {
		t.Fatalf("spilled gauge %d after the replay", u.spilled.Load())
	}
}

// TestUsageSpillLeftAtShutdownIsWrittenAfterRestart: a graceful shutdown
// while the store is away leaves the unwritten records in the spill file;
// the next start writes them, and a replay repeated after a crash (the file
// still there) stores nothing twice. A torn last line is skipped and
// counted.
func TestUsageSpillLeftAtShutdownIsWrittenAfterRestart(t *testing.T) {
	t.Parallel()
	db := newUsageDB(t)
	dir := t.TempDir()
	m := UsageWriterConfig{Batch: 100, FlushInterval: 10 * time.Millisecond}
	down := &flakyInsert{st: db.st}
	down.down.Store(true)
	u := newTestUsageLog(t, down.insert, m, dir, zerolog.Nop())
	const n = 3000
	for i := range n {
		u.Enqueue(usageTestEntry(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := u.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	path := filepath.Join(dir, UsageSpillFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no spill file after a shutdown during an outage: %v", err)
	}
	if lines := bytes.Count(data, []byte("\n")); lines != n {
		t.Fatalf("spill file holds %d records, want %d", lines, n)
	}
	if rows, _ := db.count(t); rows != 0 {
		t.Fatalf("%d records stored while the store was down", rows)
	}

	// The next start replays the file, then removes it.
	restart := func() *UsageWriter[testEntry] {
		u := newTestUsageLog(t, db.st.InsertUsage, m, dir, zerolog.Nop())
		flushAll(t, u)
		return u
	}
	u2 := restart()
	if rows, distinct := db.count(t); rows != n || distinct != n {
		t.Fatalf("after restart: %d records (%d distinct), want %d", rows, distinct, n)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spill file not removed: %v", err)
	}
	// A crash after the inserts but before the removal, and another during
	// an append (a torn last line): the next run, with the store down again,
	// cuts the torn line off and spills more records after it; the run after
	// that stores the new records and nothing twice.
	if err := os.WriteFile(path, append(data, `{"id":"torn","ts":"2026-`...), 0o600); err != nil {
		t.Fatal(err)
	}
	u3 := newTestUsageLog(t, down.insert, m, dir, zerolog.Nop())
	for i := n; i < n+100; i++ {
		u3.Enqueue(usageTestEntry(i))
	}
	if err := u3.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	u4 := restart()
	if rows, distinct := db.count(t); rows != n+100 || distinct != n+100 {
		t.Fatalf("after replaying twice: %d records (%d distinct), want %d", rows, distinct, n+100)
	}
	if u2.dropped.Load() != 0 || u3.dropped.Load() != 1 || u4.dropped.Load() != 0 {
		t.Fatalf("dropped %d, %d, %d; want only the torn line", u2.dropped.Load(), u3.dropped.Load(), u4.dropped.Load())
	}
}

// TestUsageDropsAreCountedAndLoggedOncePerInterval: without a spill file,
// records beyond the memory bound are dropped, counted, and reported in one
// warning per interval (plus one at close), not one per record.
func TestUsageDropsAreCountedAndLoggedOncePerInterval(t *testing.T) {
	t.Parallel()
	db := newUsageDB(t)
	f := &flakyInsert{st: db.st}
	f.down.Store(true)
	var logs testkit.SyncBuffer
	u := newTestUsageLog(t, f.insert, UsageWriterConfig{Queue: 100, Batch: 10, FlushInterval: 5 * time.Millisecond}, "", zerolog.New(&logs))
	for i := range 1000 {
		u.Enqueue(usageTestEntry(i))
		if i%100 == 0 { // pacing: the drops span many flush intervals
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got := u.dropped.Load(); got != 900 {
		t.Fatalf("dropped %d, want 900 (memory holds 100)", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := u.Close(ctx); err == nil || !strings.Contains(err.Error(), "100 usage records") {
		t.Fatalf("close = %v, want the 100 records it could not keep", err)
	}
	if got := u.dropped.Load(); got != 1000 {
		t.Fatalf("dropped %d after close, want 1000", got)
	}
	warnings := strings.Count(logs.String(), "usage records dropped")
	if warnings < 1 || warnings > 2 || !strings.Contains(logs.String(), `"dropped_total":1000`) {
		t.Fatalf("%d drop warnings for 1000 drops:\n%s", warnings, logs.String())
	}
}

// TestUsageWriterHoldsSixtySecondsOfOutage: with the default settings and a
// spill file, the 300,000 records of a 60 s outage at 5,000 records a
// second are all kept, in memory and in the spill file, and all written
// once the store is back. They are queued as fast as the writer moves them
// to the file, which must be faster than 5,000 a second.
func TestUsageWriterHoldsSixtySecondsOfOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() || raceEnabled {
		t.Skip("writes 300,000 records; too slow under -short and -race")
	}
	db := newUsageDB(t)
	f := &flakyInsert{st: db.st}
	f.down.Store(true)
	u := newTestUsageLog(t, f.insert, UsageWriterConfig{}, t.TempDir(), zerolog.Nop())
	const n, rate = 300000, 5000
	start := time.Now()
	for i := range n {
		u.Enqueue(usageTestEntry(i))
		if i%500 == 499 { // never faster than the writer spills
			for u.queued() > DefaultUsageQueue*3/4 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	queuedIn, spilled := time.Since(start), u.spilled.Load()
	f.down.Store(false)
	flushAll(t, u)
	rows, distinct := db.count(t)
	t.Logf("%d records queued in %v (%.0f a second), %d of them spilled; all stored %v after the store came back",
		n, queuedIn.Round(time.Millisecond), n/queuedIn.Seconds(), spilled, (time.Since(start) - queuedIn).Round(time.Millisecond))
	if rows != n || distinct != n || u.dropped.Load() != 0 || spilled == 0 {
		t.Fatalf("stored %d records (%d distinct) of %d, dropped %d, spilled %d", rows, distinct, n, u.dropped.Load(), spilled)
	}
	if queuedIn > n/rate*time.Second {
		t.Fatalf("the writer took %v to take %d records: slower than %d a second", queuedIn, n, rate)
	}
}
