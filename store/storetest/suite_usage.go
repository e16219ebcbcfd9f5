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

func testUsageBatch(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	if err := s.InsertUsage(ctx, nil); err != nil {
		t.Fatalf("InsertUsage(nil): %v", err)
	}

	const n = 5000
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]store.UsageRecord, n)
	var wantCost, wantErrors int64
	for i := range recs {
		status := "ok"
		if i%7 == 0 {
			status = "error"
			wantErrors++
		}
		recs[i] = store.UsageRecord{
			Time: base.Add(time.Duration(i) * time.Minute), RequestID: fmt.Sprintf("req-%d", i),
			KeyID: fmt.Sprintf("k%d", i%10), KeyName: "key", Team: "team", Kind: "llm", Model: "gpt",
			PromptTokens: 3, CompletionTokens: 2, CachedTokens: 1, CostMicros: int64(i),
			Status: status, Duration: time.Duration(i) * time.Millisecond,
		}
		wantCost += int64(i)
	}
	start := time.Now()
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatalf("InsertUsage(%d records): %v", n, err)
	}
	t.Logf("InsertUsage of %d records took %v", n, time.Since(start))

	total := mustQueryUsage(t, s, store.UsageQuery{})
	want := []store.UsageRow{{Requests: n, Errors: wantErrors, PromptTokens: 3 * n, CompletionTokens: 2 * n, CachedTokens: n, CostMicros: wantCost}}
	if fmt.Sprint(total) != fmt.Sprint(want) {
		t.Errorf("total = %+v, want %+v", total, want)
	}
	byKey := mustQueryUsage(t, s, store.UsageQuery{GroupBy: "key"})
	if len(byKey) != 10 {
		t.Fatalf("grouped by key: %d rows, want 10", len(byKey))
	}
	for i, r := range byKey {
		if r.Group != fmt.Sprintf("k%d", i) || r.Requests != n/10 {
			t.Errorf("key row %d = %+v, want k%d with %d requests", i, r, i, n/10)
		}
	}

	// Text either database would refuse is cleaned, not a lost batch; a zero
	// Time is the time of the insert.
	before := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.InsertUsage(ctx, []store.UsageRecord{{KeyID: "bad\x00key\xff", Status: "ok"}}); err != nil {
		t.Fatalf("InsertUsage of malformed text: %v", err)
	}
	rows := mustQueryUsage(t, s, store.UsageQuery{From: before, GroupBy: "key"})
	if len(rows) != 1 || rows[0].Group != "badkey\uFFFD" || rows[0].Requests != 1 {
		t.Errorf("record with zero Time and malformed key = %+v, want one row, key %q", rows, "badkey\uFFFD")
	}
}

// testSpendMicros checks the query a budget's spend is rebuilt from: one
// key's or one team's cost in a window, bounds inclusive and exclusive.
func testSpendMicros(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	recs := []store.UsageRecord{
		{Time: day.Add(-time.Microsecond), KeyID: "k1", Team: "t1", Kind: "llm", Status: "ok", CostMicros: 1000},
		{Time: day, KeyID: "k1", Team: "t1", Kind: "llm", Status: "ok", CostMicros: 100},
		{Time: day.Add(time.Hour), KeyID: "k1", Team: "t2", Kind: "tool", Status: "error", CostMicros: 20},
		{Time: day.Add(2 * time.Hour), KeyID: "k2", Team: "t1", Kind: "llm", Status: "ok", CostMicros: 3},
		{Time: day.Add(24 * time.Hour), KeyID: "k1", Team: "t1", Kind: "llm", Status: "ok", CostMicros: 50000},
	}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatalf("InsertUsage: %v", err)
	}
	next := day.Add(24 * time.Hour)
	for _, tc := range []struct {
		name string
		q    store.SpendQuery
		want int64
	}{
		{"key in the day", store.SpendQuery{KeyID: "k1", From: day, To: next}, 120},
		{"team in the day", store.SpendQuery{Team: "t1", From: day, To: next}, 103},
		{"key for ever", store.SpendQuery{KeyID: "k1"}, 51120},
		{"team from a time on", store.SpendQuery{Team: "t1", From: day.Add(time.Nanosecond)}, 50003},
		{"nobody", store.SpendQuery{KeyID: "k9", From: day, To: next}, 0},
	} {
		got, err := s.SpendMicros(ctx, tc.q)
		if err != nil || got != tc.want {
			t.Errorf("%s: SpendMicros(%+v) = %d, %v; want %d", tc.name, tc.q, got, err, tc.want)
		}
	}
	for _, bad := range []store.SpendQuery{{}, {KeyID: "k1", Team: "t1"}} {
		if _, err := s.SpendMicros(ctx, bad); err == nil {
			t.Errorf("SpendMicros(%+v) succeeded, want an error", bad)
		}
	}
}

// testUsageSumsSaturate checks that sums past the largest int64 saturate
// instead of failing the query: two records of a runaway cost still report.
func testUsageSumsSaturate(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	const most = int64(1<<63 - 1)
	recs := []store.UsageRecord{
		{KeyID: "k", Team: "t", Kind: "llm", Status: "ok", PromptTokens: most, CompletionTokens: most, CachedTokens: most, CostMicros: most},
		{KeyID: "k", Team: "t", Kind: "llm", Status: "ok", PromptTokens: most, CompletionTokens: most, CachedTokens: most, CostMicros: most},
	}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatalf("InsertUsage: %v", err)
	}
	rows, err := s.QueryUsage(ctx, store.UsageQuery{GroupBy: "key"})
	want := store.UsageRow{Group: "k", Requests: 2, PromptTokens: most, CompletionTokens: most, CachedTokens: most, CostMicros: most}
	if err != nil || len(rows) != 1 || rows[0] != want {
		t.Fatalf("QueryUsage = %+v, %v; want [%+v]", rows, err, want)
	}
	for _, q := range []store.SpendQuery{{KeyID: "k"}, {Team: "t"}} {
		if got, err := s.SpendMicros(ctx, q); err != nil || got != most {
			t.Errorf("SpendMicros(%+v) = %d, %v; want %d", q, got, err, most)
		}
	}
}

func testUsageQuery(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	utc := func(day, h, m, sec, nsec int) time.Time { return time.Date(2026, 12, day, h, m, sec, nsec, time.UTC) }
	east := time.FixedZone("UTC+5", 5*3600)
	west := time.FixedZone("UTC-8", -8*3600)
	recs := []store.UsageRecord{
		// #0: the last microsecond of November 30 (UTC).
		{Time: time.Date(2026, 11, 30, 23, 59, 59, 999999000, time.UTC), KeyID: "k1", Team: "t1", Model: "m1",
			Kind: "llm", Status: "ok", PromptTokens: 10, CompletionTokens: 5, CachedTokens: 1, CostMicros: 100},
		// #1: midnight December 1 UTC, written in UTC+5.
		{Time: utc(1, 0, 0, 0, 0).In(east), KeyID: "k2", Team: "t1", Model: "m2",
			Kind: "llm", Status: "error", PromptTokens: 20, CostMicros: 50},
		{Time: utc(1, 12, 0, 0, 0), KeyID: "k1", Team: "t2", Kind: "tool", Server: "s1", Tool: "search", Status: "ok", CostMicros: 7},
		// #3: half a second into December 2, UTC.
		{Time: utc(2, 0, 0, 0, 500000000), KeyID: "k2", Team: "t2", Kind: "tool", Server: "s2", Tool: "search", Status: "cancelled", CostMicros: 3},
		// #4: 08:00 in UTC-8 is 16:00 UTC on December 1.
		{Time: time.Date(2026, 12, 1, 8, 0, 0, 0, west), KeyID: "k1", Team: "t1", Model: "m1",
			Kind: "llm", Status: "ok", PromptTokens: 1, CompletionTokens: 1, CachedTokens: 1, CostMicros: 1},
	}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatalf("InsertUsage: %v", err)
	}
	// row sums records idx of recs into one group.
	row := func(group string, idx ...int) store.UsageRow {
		r := store.UsageRow{Group: group}
		for _, i := range idx {
			rec := recs[i]
			r.Requests++
			if rec.Status != "ok" {
				r.Errors++
			}
			r.PromptTokens += rec.PromptTokens
			r.CompletionTokens += rec.CompletionTokens
			r.CachedTokens += rec.CachedTokens
			r.CostMicros += rec.CostMicros
		}
		return r
	}
	dec1, dec2 := utc(1, 0, 0, 0, 0), utc(2, 0, 0, 0, 500000000)
	tests := []struct {
		name string
		q    store.UsageQuery
		want []store.UsageRow
	}{
		{"total", store.UsageQuery{}, []store.UsageRow{row("", 0, 1, 2, 3, 4)}},
		{"by key", store.UsageQuery{GroupBy: "key"}, []store.UsageRow{row("k1", 0, 2, 4), row("k2", 1, 3)}},
		{"by team", store.UsageQuery{GroupBy: "team"}, []store.UsageRow{row("t1", 0, 1, 4), row("t2", 2, 3)}},
		{"by model", store.UsageQuery{GroupBy: "model"}, []store.UsageRow{row("", 2, 3), row("m1", 0, 4), row("m2", 1)}},
		{"by tool", store.UsageQuery{GroupBy: "tool"}, []store.UsageRow{row("/", 0, 1, 4), row("s1/search", 2), row("s2/search", 3)}},
		{"by tool, tools only", store.UsageQuery{GroupBy: "tool", Kind: "tool"}, []store.UsageRow{row("s1/search", 2), row("s2/search", 3)}},
		{"by day", store.UsageQuery{GroupBy: "day"}, []store.UsageRow{row("2026-11-30", 0), row("2026-12-01", 1, 2, 4), row("2026-12-02", 3)}},
		{"from inclusive, to exclusive", store.UsageQuery{GroupBy: "day", From: dec1, To: dec2},
			[]store.UsageRow{row("2026-12-01", 1, 2, 4)}},
		{"bounds in another zone", store.UsageQuery{From: dec1.In(west), To: dec2.In(east)}, []store.UsageRow{row("", 1, 2, 4)}},
		{"from only", store.UsageQuery{GroupBy: "day", From: dec1.Add(time.Nanosecond)}, []store.UsageRow{row("2026-12-01", 2, 4), row("2026-12-02", 3)}},
		{"to only", store.UsageQuery{GroupBy: "day", To: dec1}, []store.UsageRow{row("2026-11-30", 0)}},
		{"to just past a record", store.UsageQuery{To: dec2.Add(time.Nanosecond), From: dec2}, []store.UsageRow{row("", 3)}},
		{"key filter", store.UsageQuery{KeyID: "k1"}, []store.UsageRow{row("", 0, 2, 4)}},
		{"team filter by model", store.UsageQuery{Team: "t1", GroupBy: "model"}, []store.UsageRow{row("m1", 0, 4), row("m2", 1)}},
		{"model filter", store.UsageQuery{Model: "m1", GroupBy: "key"}, []store.UsageRow{row("k1", 0, 4)}},
		{"kind filter", store.UsageQuery{Kind: "llm"}, []store.UsageRow{row("", 0, 1, 4)}},
		{"tool on any server", store.UsageQuery{Tool: "search", GroupBy: "tool"}, []store.UsageRow{row("s1/search", 2), row("s2/search", 3)}},
		{"one server's tool", store.UsageQuery{Tool: "s2/search"}, []store.UsageRow{row("", 3)}},
		{"limit", store.UsageQuery{GroupBy: "day", Limit: 2}, []store.UsageRow{row("2026-11-30", 0), row("2026-12-01", 1, 2, 4)}},
		{"nothing matches, total", store.UsageQuery{KeyID: "nobody"}, []store.UsageRow{{}}},
		{"nothing matches, grouped", store.UsageQuery{KeyID: "nobody", GroupBy: "team"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustQueryUsage(t, s, tc.q)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("QueryUsage(%+v)\n got %+v\nwant %+v", tc.q, got, tc.want)
			}
		})
	}
	for _, bad := range []store.UsageQuery{
		{GroupBy: "customer"},
		{Limit: -1},
		{From: dec2, To: dec1},
	} {
		if rows, err := s.QueryUsage(ctx, bad); err == nil {
			t.Errorf("QueryUsage(%+v) = %+v, want an error", bad, rows)
		}
	}
}
