package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/store"
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

	emptyAtFirst(t, "ListResources", func() ([]store.Resource, error) { return s.ListResources(ctx, "team") })
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

	emptyAtFirst(t, "ListPolicyRules", func() ([]store.PolicyRule, error) { return s.ListPolicyRules(ctx) })
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
