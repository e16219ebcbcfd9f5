package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/internal/testdb"
)

// governanceTests are the suite's tests of resources, policy rules, usage and
// the change feed; Run runs them with the others.
var governanceTests = []struct {
	name string
	run  func(t *testing.T, newDB NewDatabase)
}{
	{"ResourceCRUD", testResourceCRUD},
	{"ResourceConflicts", testResourceConflicts},
	{"ResourceValidation", testResourceValidation},
	{"SyncFileResources", testSyncFileResources},
	{"SyncFileResourcesConflict", testSyncFileResourcesConflict},
	{"PolicyRules", testPolicyRules},
	{"SyncFilePolicyRules", testSyncFilePolicyRules},
	{"UsageBatch", testUsageBatch},
	{"UsageQuery", testUsageQuery},
	{"SpendMicros", testSpendMicros},
	{"UsageSumsSaturate", testUsageSumsSaturate},
	{"UsageRetryStoresOnce", testUsageRetryStoresOnce},
	{"ChangeFeed", testChangeFeed},
	{"ChangeFeedAcrossStores", testChangeFeedAcrossStores},
	{"ChangeFeedSlowSubscriber", testChangeFeedSlowSubscriber},
	{"ChangeFeedEnds", testChangeFeedEnds},
	{"ChangeFeedReconnects", testChangeFeedReconnects},
	{"GovernanceClosed", testGovernanceClosed},
}

// changeTimeout is how soon a subscriber must hear of a committed write.
const changeTimeout = time.Second

func testResourceCRUD(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))

	if list, err := s.ListResources(ctx, "team"); err != nil || len(list) != 0 {
		t.Fatalf("ListResources on an empty store = %v, %v; want none", list, err)
	}
	before := time.Now().UTC().Truncate(time.Microsecond)
	created, err := s.CreateResource(ctx, store.Resource{
		Kind: "team", ID: "t-1", Name: "platform", Spec: json.RawMessage(`{"budget": 100, "b":[1, 2]}`),
	})
	after := time.Now().UTC()
	if err != nil {
		t.Fatalf("CreateResource: %v", err)
	}
	if created.Source != store.SourceAPI {
		t.Errorf("created Source = %q, want %q (the default)", created.Source, store.SourceAPI)
	}
	if created.CreatedAt.Before(before) || created.CreatedAt.After(after) || !created.UpdatedAt.Equal(created.CreatedAt) {
		t.Errorf("created at %v, updated at %v; want both the same, within [%v, %v]", created.CreatedAt, created.UpdatedAt, before, after)
	}
	got, err := s.GetResource(ctx, "team", "t-1")
	if err != nil {
		t.Fatalf("GetResource: %v", err)
	}
	assertResource(t, "GetResource", got, created)
	if string(got.Spec) != `{"budget": 100, "b":[1, 2]}` {
		t.Errorf("Spec = %s, want it byte for byte", got.Spec)
	}

	// An empty spec is JSON null; the same id and name are free in another kind.
	key, err := s.CreateResource(ctx, store.Resource{Kind: "key", ID: "t-1", Name: "platform", Source: store.SourceFile})
	if err != nil {
		t.Fatalf("CreateResource of another kind with the same id and name: %v", err)
	}
	if string(key.Spec) != "null" || key.Source != store.SourceFile {
		t.Errorf("created key = spec %s, source %q; want null, %q", key.Spec, key.Source, store.SourceFile)
	}

	for _, name := range []string{"b", "a", "B", "é"} {
		mustCreate(t, s, store.Resource{Kind: "team", ID: "id-" + name, Name: name, Spec: json.RawMessage(`{}`)})
	}
	list, err := s.ListResources(ctx, "team")
	if err != nil {
		t.Fatalf("ListResources: %v", err)
	}
	if got, want := resourceNames(list), "[B a b platform é]"; got != want {
		t.Errorf("ListResources names = %s, want %s (byte order, team only)", got, want)
	}
	assertResource(t, "ListResources", list[3], created)

	// Update: name and spec change, source and CreatedAt stay.
	updated, err := s.UpdateResource(ctx, store.Resource{
		Kind: "key", ID: "t-1", Name: "renamed", Spec: json.RawMessage(`{"v":2}`), Source: store.SourceAPI,
	})
	if err != nil {
		t.Fatalf("UpdateResource: %v", err)
	}
	if updated.Name != "renamed" || string(updated.Spec) != `{"v":2}` || updated.Source != store.SourceFile ||
		!updated.CreatedAt.Equal(key.CreatedAt) || updated.UpdatedAt.Before(key.UpdatedAt) {
		t.Errorf("UpdateResource = %+v; want name, spec changed, source %q and CreatedAt %v kept", updated, store.SourceFile, key.CreatedAt)
	}
	if got, err := s.GetResource(ctx, "key", "t-1"); err != nil {
		t.Errorf("GetResource after update: %v", err)
	} else {
		assertResource(t, "GetResource after update", got, updated)
	}
	// Keeping one's own name is no conflict.
	if _, err := s.UpdateResource(ctx, store.Resource{Kind: "key", ID: "t-1", Name: "renamed", Spec: json.RawMessage(`3`)}); err != nil {
		t.Errorf("UpdateResource keeping the name: %v", err)
	}
	if _, err := s.UpdateResource(ctx, store.Resource{Kind: "key", ID: "absent", Name: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateResource of an absent id = %v, want store.ErrNotFound", err)
	}

	if err := s.DeleteResource(ctx, "team", "t-1"); err != nil {
		t.Fatalf("DeleteResource: %v", err)
	}
	if _, err := s.GetResource(ctx, "team", "t-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetResource after delete = %v, want store.ErrNotFound", err)
	}
	if err := s.DeleteResource(ctx, "team", "t-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteResource again = %v, want store.ErrNotFound", err)
	}
	if _, err := s.GetResource(ctx, "key", "t-1"); err != nil {
		t.Errorf("the key with the deleted team's id: %v", err)
	}
	// A deleted id and name can be used again.
	mustCreate(t, s, store.Resource{Kind: "team", ID: "t-1", Name: "platform"})
}

func testResourceConflicts(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	first := mustCreate(t, s, store.Resource{Kind: "team", ID: "t-1", Name: "one", Spec: json.RawMessage(`1`)})
	mustCreate(t, s, store.Resource{Kind: "team", ID: "t-2", Name: "two"})

	tests := []struct {
		name     string
		r        store.Resource
		wantText string
	}{
		{"same id", store.Resource{Kind: "team", ID: "t-1", Name: "other"}, `id "t-1"`},
		{"same name", store.Resource{Kind: "team", ID: "t-3", Name: "one"}, `name "one"`},
		{"same id and name", store.Resource{Kind: "team", ID: "t-1", Name: "one"}, `id "t-1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateResource(ctx, tc.r)
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("CreateResource = %v, want store.ErrConflict", err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not name %s", err, tc.wantText)
			}
		})
	}
	if _, err := s.UpdateResource(ctx, store.Resource{Kind: "team", ID: "t-2", Name: "one"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateResource to a taken name = %v, want store.ErrConflict", err)
	}
	// Nothing changed by the refused writes.
	if got, err := s.GetResource(ctx, "team", "t-1"); err != nil {
		t.Errorf("GetResource: %v", err)
	} else {
		assertResource(t, "after refused writes", got, first)
	}
	if list, _ := s.ListResources(ctx, "team"); resourceNames(list) != "[one two]" {
		t.Errorf("after refused writes names = %s, want [one two]", resourceNames(list))
	}
}

func testResourceValidation(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	tests := []struct {
		name string
		r    store.Resource
	}{
		{"empty kind", store.Resource{ID: "a", Name: "a"}},
		{"long kind", store.Resource{Kind: strings.Repeat("k", 65), ID: "a", Name: "a"}},
		{"empty id", store.Resource{Kind: "team", Name: "a"}},
		{"empty name", store.Resource{Kind: "team", ID: "a"}},
		{"NUL in id", store.Resource{Kind: "team", ID: "a\x00", Name: "a"}},
		{"invalid UTF-8 name", store.Resource{Kind: "team", ID: "a", Name: "\xff"}},
		{"spec not JSON", store.Resource{Kind: "team", ID: "a", Name: "a", Spec: json.RawMessage(`{`)}},
		{"unknown source", store.Resource{Kind: "team", ID: "a", Name: "a", Source: "cli"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.CreateResource(ctx, tc.r); !errors.Is(err, store.ErrInvalidResource) {
				t.Errorf("CreateResource = %v, want store.ErrInvalidResource", err)
			}
			if tc.r.Source == "" && tc.r.Kind != "" { // a sync fills in an empty kind
				if err := s.SyncFileResources(ctx, "team", []store.Resource{tc.r}); !errors.Is(err, store.ErrInvalidResource) {
					t.Errorf("SyncFileResources = %v, want store.ErrInvalidResource", err)
				}
			}
		})
	}
	if _, err := s.GetResource(ctx, "team", ""); !errors.Is(err, store.ErrInvalidResource) {
		t.Errorf("GetResource with an empty id = %v, want store.ErrInvalidResource", err)
	}
	if _, err := s.ListResources(ctx, ""); !errors.Is(err, store.ErrInvalidResource) {
		t.Errorf("ListResources with an empty kind = %v, want store.ErrInvalidResource", err)
	}
	if list, err := s.ListResources(ctx, "team"); err != nil || len(list) != 0 {
		t.Errorf("after refused writes ListResources = %v, %v; want none", list, err)
	}
}

func testSyncFileResources(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	api := mustCreate(t, s, store.Resource{Kind: "team", ID: "api-1", Name: "made-by-api", Spec: json.RawMessage(`{"api":true}`)})
	if err := s.SyncFileResources(ctx, "key", []store.Resource{{ID: "k", Name: "other-kind"}}); err != nil {
		t.Fatalf("SyncFileResources(key): %v", err)
	}

	spec := func(v string) json.RawMessage { return json.RawMessage(`{"v":"` + v + `"}`) }
	first := []store.Resource{
		{ID: "f1", Name: "one", Spec: spec("1")},
		{Kind: "team", ID: "f2", Name: "two", Spec: spec("2")},
		{ID: "f3", Name: "three", Spec: spec("3"), Source: store.SourceAPI}, // the file wins: stored as SourceFile
		{ID: "f4", Name: "four", Spec: spec("4")},
	}
	if err := s.SyncFileResources(ctx, "team", first); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	v1 := resourcesByID(t, s, "team")
	if len(v1) != 5 {
		t.Fatalf("after first sync: %d teams, want 5", len(v1))
	}
	for _, r := range first {
		got := v1[r.ID]
		if got.Name != r.Name || string(got.Spec) != string(r.Spec) || got.Source != store.SourceFile {
			t.Errorf("after first sync %s = %+v, want name %q, spec %s, source file", r.ID, got, r.Name, r.Spec)
		}
	}
	assertResource(t, "API entry after first sync", v1["api-1"], api)

	// Unchanged f1; f2 and f3 swap names (f2's spec changes too); f4 goes and
	// f5 takes its name.
	second := []store.Resource{
		{ID: "f1", Name: "one", Spec: spec("1")},
		{ID: "f2", Name: "three", Spec: spec("2b")},
		{ID: "f3", Name: "two", Spec: spec("3")},
		{ID: "f5", Name: "four", Spec: spec("5")},
	}
	if err := s.SyncFileResources(ctx, "team", second); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	v2 := resourcesByID(t, s, "team")
	if _, ok := v2["f4"]; ok || len(v2) != 5 {
		t.Errorf("after second sync ids = %v, want f4 deleted and 5 teams", mapKeys(v2))
	}
	assertResource(t, "unchanged f1", v2["f1"], v1["f1"])
	for _, r := range second {
		got := v2[r.ID]
		if got.Name != r.Name || string(got.Spec) != string(r.Spec) || got.Source != store.SourceFile {
			t.Errorf("after second sync %s = %+v, want name %q, spec %s, source file", r.ID, got, r.Name, r.Spec)
		}
	}
	for _, id := range []string{"f2", "f3"} {
		if !v2[id].CreatedAt.Equal(v1[id].CreatedAt) || v2[id].UpdatedAt.Before(v1[id].UpdatedAt) {
			t.Errorf("renamed %s: created %v (was %v), updated %v (was %v); want CreatedAt kept", id,
				v2[id].CreatedAt, v1[id].CreatedAt, v2[id].UpdatedAt, v1[id].UpdatedAt)
		}
	}
	assertResource(t, "API entry after second sync", v2["api-1"], api)

	// A sync that changes nothing rewrites nothing.
	if err := s.SyncFileResources(ctx, "team", second); err != nil {
		t.Fatalf("repeated sync: %v", err)
	}
	for id, r := range resourcesByID(t, s, "team") {
		assertResource(t, "after a repeated sync "+id, r, v2[id])
	}

	// Bad input is refused as a whole.
	for name, rs := range map[string][]store.Resource{
		"duplicate id":   {{ID: "f1", Name: "one"}, {ID: "f1", Name: "uno"}},
		"duplicate name": {{ID: "f1", Name: "one"}, {ID: "f9", Name: "one"}},
		"other kind":     {{Kind: "key", ID: "f1", Name: "one"}},
	} {
		if err := s.SyncFileResources(ctx, "team", rs); !errors.Is(err, store.ErrInvalidResource) {
			t.Errorf("sync with %s = %v, want store.ErrInvalidResource", name, err)
		}
	}

	// An empty file removes every file-managed team and nothing else.
	if err := s.SyncFileResources(ctx, "team", nil); err != nil {
		t.Fatalf("empty sync: %v", err)
	}
	v3 := resourcesByID(t, s, "team")
	if len(v3) != 1 {
		t.Errorf("after empty sync ids = %v, want only api-1", mapKeys(v3))
	}
	assertResource(t, "API entry after empty sync", v3["api-1"], api)
	if keys := resourcesByID(t, s, "key"); len(keys) != 1 || keys["k"].Source != store.SourceFile {
		t.Errorf("keys after syncing teams = %v, want k untouched", mapKeys(keys))
	}
}

func testSyncFileResourcesConflict(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	mustCreate(t, s, store.Resource{Kind: "team", ID: "api-1", Name: "shared", Spec: json.RawMessage(`1`)})
	if err := s.SyncFileResources(ctx, "team", []store.Resource{{ID: "f1", Name: "one"}, {ID: "f2", Name: "two"}}); err != nil {
		t.Fatalf("SyncFileResources: %v", err)
	}
	before := resourcesByID(t, s, "team")

	tests := []struct {
		name     string
		rs       []store.Resource
		wantText string
	}{
		{"id of an API entry", []store.Resource{{ID: "f1", Name: "one"}, {ID: "api-1", Name: "from-file"}}, `"api-1"`},
		{"name of an API entry", []store.Resource{{ID: "f3", Name: "three"}, {ID: "f4", Name: "shared"}}, `"shared"`},
		{"rename onto an API entry", []store.Resource{{ID: "f1", Name: "shared"}}, `"shared"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.SyncFileResources(ctx, "team", tc.rs)
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("SyncFileResources = %v, want store.ErrConflict", err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not name %s", err, tc.wantText)
			}
			after := resourcesByID(t, s, "team")
			if len(after) != len(before) {
				t.Errorf("after the refused sync ids = %v, want %v", mapKeys(after), mapKeys(before))
			}
			for id, r := range before {
				assertResource(t, "after the refused sync "+id, after[id], r)
			}
		})
	}
}

func testPolicyRules(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))

	if list, err := s.ListPolicyRules(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListPolicyRules on an empty store = %v, %v; want none", list, err)
	}
	before := time.Now().UTC().Truncate(time.Microsecond)
	p1 := mustAddRule(t, s, store.PolicyRule{PType: "p", V: [6]string{"alice", "data1", "read"}})
	after := time.Now().UTC()
	if p1.ID <= 0 || p1.Source != store.SourceAPI || p1.CreatedAt.Before(before) || p1.CreatedAt.After(after) {
		t.Errorf("AddPolicyRule = %+v; want an ID, source %q, CreatedAt within [%v, %v]", p1, store.SourceAPI, before, after)
	}
	g1 := mustAddRule(t, s, store.PolicyRule{PType: "g", V: [6]string{"alice", "admins"}})
	file := mustAddRule(t, s, store.PolicyRule{PType: "p", V: [6]string{"admins", "*", "*", "", "", "x"}, Source: store.SourceFile})
	if g1.ID <= p1.ID || file.ID <= g1.ID {
		t.Errorf("IDs %d, %d, %d are not increasing", p1.ID, g1.ID, file.ID)
	}

	if _, err := s.AddPolicyRule(ctx, store.PolicyRule{PType: "p", V: [6]string{"alice", "data1", "read"}, Source: store.SourceFile}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AddPolicyRule of an identical rule = %v, want store.ErrConflict", err)
	}
	// A different number of values is a different rule.
	p2 := mustAddRule(t, s, store.PolicyRule{PType: "p", V: [6]string{"alice", "data1", "read", "allow"}})
	for _, bad := range []store.PolicyRule{
		{V: [6]string{"alice"}},
		{PType: "p", V: [6]string{"a\x00"}},
		{PType: "p", V: [6]string{"ok", "\xff"}},
		{PType: "p", Source: "cli"},
	} {
		if _, err := s.AddPolicyRule(ctx, bad); !errors.Is(err, store.ErrInvalidPolicyRule) {
			t.Errorf("AddPolicyRule(%+v) = %v, want store.ErrInvalidPolicyRule", bad, err)
		}
	}

	assertRules(t, s, p1, g1, file, p2)
	if err := s.RemovePolicyRule(ctx, "p", [6]string{"bob"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RemovePolicyRule of an absent rule = %v, want store.ErrNotFound", err)
	}
	if err := s.RemovePolicyRule(ctx, "p", file.V); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("RemovePolicyRule of a file rule = %v, want store.ErrReadOnly", err)
	}
	if err := s.RemovePolicyRule(ctx, "p", p1.V); err != nil {
		t.Fatalf("RemovePolicyRule: %v", err)
	}
	assertRules(t, s, g1, file, p2)
	if err := s.RemovePolicyRule(ctx, "p", p1.V); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RemovePolicyRule again = %v, want store.ErrNotFound", err)
	}
	// Added again, a rule goes to the end.
	p1again := mustAddRule(t, s, store.PolicyRule{PType: "p", V: p1.V})
	if p1again.ID <= p2.ID {
		t.Errorf("re-added rule has ID %d, want more than %d", p1again.ID, p2.ID)
	}
	assertRules(t, s, g1, file, p2, p1again)
}

func testSyncFilePolicyRules(t *testing.T, newDB NewDatabase) {
	ctx := t.Context()
	s := OpenStore(t, newDB(t))
	api := mustAddRule(t, s, store.PolicyRule{PType: "p", V: [6]string{"bob", "data2", "write"}})
	rule := func(ptype string, v ...string) store.PolicyRule {
		r := store.PolicyRule{PType: ptype}
		copy(r.V[:], v)
		return r
	}

	// Duplicates count once; the entries' IDs and sources are ignored.
	first := []store.PolicyRule{
		rule("p", "alice", "data1", "read"),
		{PType: "g", V: [6]string{"alice", "admins"}, ID: 99, Source: store.SourceAPI},
		rule("p", "alice", "data1", "read"),
	}
	if err := s.SyncFilePolicyRules(ctx, first); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	v1, err := s.ListPolicyRules(ctx)
	if err != nil {
		t.Fatalf("ListPolicyRules: %v", err)
	}
	if got, want := ruleStrings(v1), "[p, bob, data2, write (api) p, alice, data1, read (file) g, alice, admins (file)]"; got != want {
		t.Fatalf("after first sync rules = %s, want %s", got, want)
	}

	second := []store.PolicyRule{rule("g", "alice", "admins"), rule("p", "carol", "data3", "read")}
	if err := s.SyncFilePolicyRules(ctx, second); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	v2, _ := s.ListPolicyRules(ctx)
	if got, want := ruleStrings(v2), "[p, bob, data2, write (api) g, alice, admins (file) p, carol, data3, read (file)]"; got != want {
		t.Fatalf("after second sync rules = %s, want %s", got, want)
	}
	if !ruleEqual(v2[0], api) || !ruleEqual(v2[1], v1[2]) {
		t.Errorf("kept rules changed: %+v, %+v; want %+v, %+v", v2[0], v2[1], api, v1[2])
	}
	if err := s.RemovePolicyRule(ctx, "g", v2[1].V); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("RemovePolicyRule of a synced rule = %v, want store.ErrReadOnly", err)
	}

	// A file rule identical to an API rule changes nothing.
	err = s.SyncFilePolicyRules(ctx, []store.PolicyRule{rule("p", "dave", "x", "y"), rule("p", "bob", "data2", "write")})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("sync with an API rule = %v, want store.ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "p, bob, data2, write") {
		t.Errorf("error %q does not name the rule", err)
	}
	if v, _ := s.ListPolicyRules(ctx); ruleStrings(v) != ruleStrings(v2) {
		t.Errorf("after the refused sync rules = %s, want %s", ruleStrings(v), ruleStrings(v2))
	}
	if err := s.SyncFilePolicyRules(ctx, []store.PolicyRule{{V: [6]string{"x"}}}); !errors.Is(err, store.ErrInvalidPolicyRule) {
		t.Errorf("sync with an empty ptype = %v, want store.ErrInvalidPolicyRule", err)
	}

	if err := s.SyncFilePolicyRules(ctx, nil); err != nil {
		t.Fatalf("empty sync: %v", err)
	}
	assertRules(t, s, api)
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
	s, err := store.Open(ctx, db.Config, db.DataDir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
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
func mustCreate(t *testing.T, s *store.Store, r store.Resource) store.Resource {
	t.Helper()
	created, err := s.CreateResource(t.Context(), r)
	if err != nil {
		t.Fatalf("CreateResource(%s %q): %v", r.Kind, r.ID, err)
	}
	return created
}

// mustAddRule adds r or fails t.
func mustAddRule(t *testing.T, s *store.Store, r store.PolicyRule) store.PolicyRule {
	t.Helper()
	added, err := s.AddPolicyRule(t.Context(), r)
	if err != nil {
		t.Fatalf("AddPolicyRule(%s): %v", r, err)
	}
	return added
}

// mustQueryUsage runs q or fails t.
func mustQueryUsage(t *testing.T, s *store.Store, q store.UsageQuery) []store.UsageRow {
	t.Helper()
	rows, err := s.QueryUsage(t.Context(), q)
	if err != nil {
		t.Fatalf("QueryUsage(%+v): %v", q, err)
	}
	return rows
}

// assertResource fails t unless got equals want field by field.
func assertResource(t *testing.T, what string, got, want store.Resource) {
	t.Helper()
	if got.Kind != want.Kind || got.ID != want.ID || got.Name != want.Name || string(got.Spec) != string(want.Spec) ||
		got.Source != want.Source || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s = %s, want %s", what, formatResource(got), formatResource(want))
	}
	if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("%s: times %v, %v are not in UTC", what, got.CreatedAt, got.UpdatedAt)
	}
}

// formatResource renders r for failure messages.
func formatResource(r store.Resource) string {
	return fmt.Sprintf("{%s %q %q spec %s %s created %s updated %s}", r.Kind, r.ID, r.Name, r.Spec, r.Source,
		r.CreatedAt.Format(time.RFC3339Nano), r.UpdatedAt.Format(time.RFC3339Nano))
}

// resourcesByID lists kind in s by id, or fails t.
func resourcesByID(t *testing.T, s *store.Store, kind string) map[string]store.Resource {
	t.Helper()
	list, err := s.ListResources(t.Context(), kind)
	if err != nil {
		t.Fatalf("ListResources(%s): %v", kind, err)
	}
	out := make(map[string]store.Resource, len(list))
	for _, r := range list {
		out[r.ID] = r
	}
	return out
}

// resourceNames renders the names of list, in order.
func resourceNames(list []store.Resource) string {
	names := make([]string, len(list))
	for i, r := range list {
		names[i] = r.Name
	}
	return fmt.Sprint(names)
}

// mapKeys renders the ids of m, sorted.
func mapKeys(m map[string]store.Resource) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return fmt.Sprint(keys)
}

// ruleStrings renders rules with their sources, in order.
func ruleStrings(rules []store.PolicyRule) string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = fmt.Sprintf("%s (%s)", r, r.Source)
	}
	return "[" + strings.Join(out, " ") + "]"
}

// ruleEqual reports whether a and b are the same stored rule.
func ruleEqual(a, b store.PolicyRule) bool {
	return a.ID == b.ID && a.PType == b.PType && a.V == b.V && a.Source == b.Source && a.CreatedAt.Equal(b.CreatedAt)
}

// assertRules fails t unless s's rules are exactly want, in order.
func assertRules(t *testing.T, s *store.Store, want ...store.PolicyRule) {
	t.Helper()
	got, err := s.ListPolicyRules(t.Context())
	if err != nil {
		t.Fatalf("ListPolicyRules: %v", err)
	}
	if !slices.EqualFunc(got, want, ruleEqual) {
		t.Errorf("ListPolicyRules =\n%+v\nwant\n%+v", got, want)
	}
	for _, r := range got {
		if r.CreatedAt.Location() != time.UTC {
			t.Errorf("rule %s CreatedAt %v is not in UTC", r, r.CreatedAt)
		}
	}
}
