package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/junctionhq/junction/store"
)

// testUsageRetryStoresOnce: a batch of usage records written again (a retry
// after an error that left its commit unknown, or a spill file replayed
// twice) is stored once, also when it overlaps new records and spans several
// INSERT statements; records without an ID are never skipped.
func testUsageRetryStoresOnce(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	records := func(from, to int) []store.UsageRecord {
		var out []store.UsageRecord
		for i := from; i < to; i++ {
			out = append(out, store.UsageRecord{ID: fmt.Sprintf("r-%d", i), Time: base.Add(time.Duration(i) * time.Second),
				KeyID: "k", Kind: "llm", CostMicros: 1, Status: store.UsageOK})
		}
		return out
	}
	for _, batch := range [][]store.UsageRecord{records(0, 1200), records(0, 1200), records(600, 1800), records(1799, 1801)} {
		if err := s.InsertUsage(ctx, batch); err != nil {
			t.Fatalf("InsertUsage(%d records): %v", len(batch), err)
		}
	}
	if got := mustQueryUsage(t, s, store.UsageQuery{}); got[0].Requests != 1801 || got[0].CostMicros != 1801 {
		t.Fatalf("after retries: %+v, want 1801 records", got[0])
	}
	anon := []store.UsageRecord{{KeyID: "anon", Status: store.UsageOK}, {KeyID: "anon", Status: store.UsageOK}}
	for range 2 {
		if err := s.InsertUsage(ctx, anon); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustQueryUsage(t, s, store.UsageQuery{KeyID: "anon"}); got[0].Requests != 4 {
		t.Fatalf("records without an ID: %+v, want all 4 stored", got[0])
	}
}
