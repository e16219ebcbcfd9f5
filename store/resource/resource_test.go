package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/junctionhq/junction/store"
)

// The errors of the kind "thing".
var errNotFound, errConflict, errReadOnly = errors.New("thing not found"), errors.New("thing exists"), errors.New("thing is read-only")

// things is a kind whose entries a replica holds as their spec text.
type things struct {
	st   *store.Store
	mu   sync.Mutex
	held map[string]Entry[string]
}

func newThings(t *testing.T) *things {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{}, t.TempDir())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	file := []store.Resource{{ID: "f", Name: "f", Spec: json.RawMessage(`"from the file"`)}}
	if err := st.SyncFileResources(t.Context(), "thing", file); err != nil {
		t.Fatalf("sync: %v", err)
	}
	th := &things{st: st}
	if err := th.reload(t.Context()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	return th
}

func (th *things) reload(ctx context.Context) error {
	rows, err := th.st.ListResources(ctx, "thing")
	if err != nil {
		return err
	}
	held := map[string]Entry[string]{}
	for _, r := range rows {
		held[r.ID] = Entry[string]{ID: r.ID, Name: r.Name, Source: r.Source, Value: string(r.Spec)}
	}
	th.mu.Lock()
	th.held = held
	th.mu.Unlock()
	return nil
}

func (th *things) kind() *Kind[string] {
	return &Kind[string]{
		Store:  th.st,
		Kind:   "thing",
		Errors: QuotedErrors(errNotFound, errConflict, errReadOnly),
		Find: func(id string) (Entry[string], bool) {
			th.mu.Lock()
			defer th.mu.Unlock()
			e, ok := th.held[id]
			return e, ok
		},
		Reload: th.reload,
	}
}

func TestKindCreate(t *testing.T) {
	t.Parallel()
	k := newThings(t).kind()
	e, err := k.Create(t.Context(), "a", "a", json.RawMessage(`1`))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if e.Source != store.SourceAPI || e.Value != "1" {
		t.Fatalf("created %+v, want an API entry holding 1", e)
	}
	for _, id := range []string{"a", "f"} {
		_, err := k.Create(t.Context(), id, id, json.RawMessage(`2`))
		if want := fmt.Sprintf(`thing exists: %q`, id); err == nil || err.Error() != want {
			t.Errorf("create %s again: %v, want %s", id, err, want)
		}
	}
}

func TestKindUpdate(t *testing.T) {
	t.Parallel()
	k := newThings(t).kind()
	if _, err := k.Create(t.Context(), "a", "a", json.RawMessage(`1`)); err != nil {
		t.Fatalf("create: %v", err)
	}
	add := func(cur Entry[string]) (json.RawMessage, error) { return json.RawMessage(cur.Value + "0"), nil }
	e, err := k.Update(t.Context(), "a", add)
	if err != nil || e.Value != "10" {
		t.Fatalf("update: %+v, %v; want 10", e, err)
	}
	if _, err := k.Update(t.Context(), "f", add); !errors.Is(err, errReadOnly) {
		t.Errorf("update a file entry: %v, want read-only", err)
	}
	if _, err := k.Update(t.Context(), "nope", add); err == nil || err.Error() != `thing not found: "nope"` {
		t.Errorf("update a missing entry: %v", err)
	}
	refused := errors.New("refused")
	if _, err := k.Update(t.Context(), "a", func(Entry[string]) (json.RawMessage, error) { return nil, refused }); err != refused {
		t.Errorf("update that next refuses: %v, want it as it is", err)
	}
	if got, _ := k.Get("a"); got.Value != "10" {
		t.Errorf("after a refused update: %q, want 10", got.Value)
	}
}

func TestKindDelete(t *testing.T) {
	t.Parallel()
	k := newThings(t).kind()
	if _, err := k.Create(t.Context(), "a", "a", json.RawMessage(`1`)); err != nil {
		t.Fatalf("create: %v", err)
	}
	inUse := errors.New("in use")
	if err := k.Delete(t.Context(), "a", func(Entry[string]) error { return inUse }); err != inUse {
		t.Errorf("delete that check refuses: %v", err)
	}
	if err := k.Delete(t.Context(), "f", nil); !errors.Is(err, errReadOnly) {
		t.Errorf("delete a file entry: %v, want read-only", err)
	}
	if err := k.Delete(t.Context(), "a", nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := k.Get("a"); !errors.Is(err, errNotFound) {
		t.Errorf("get after delete: %v, want not found", err)
	}
	if err := k.Delete(t.Context(), "a", nil); !errors.Is(err, errNotFound) {
		t.Errorf("delete again: %v, want not found", err)
	}
}

func TestErrorsStore(t *testing.T) {
	t.Parallel()
	errs := newThings(t).kind().Errors
	other := errors.New("disk full")
	for _, tc := range []struct {
		in   error
		want string
	}{
		{fmt.Errorf("store: get: %w", store.ErrNotFound), `thing not found: "x"`},
		{fmt.Errorf("store: insert: %w", store.ErrConflict), `thing exists: "x"`},
		{store.ErrReadOnly, "thing is read-only"},
		{other, "disk full"},
	} {
		if got := errs.Store(tc.in, "x"); got.Error() != tc.want {
			t.Errorf("Store(%v) = %v, want %s", tc.in, got, tc.want)
		}
	}
}

type spec struct {
	Name string            `json:"name"`
	Tags map[string]string `json:"tags,omitempty"`
	N    int               `json:"n"`
}

func problem(p string) error { return errors.New(p) }

func TestPatch(t *testing.T) {
	t.Parallel()
	cur := spec{Name: "a", Tags: map[string]string{"x": "1", "y": "2"}, N: 1}
	next, err := Patch[spec](cur, json.RawMessage(`{"tags":{"x":null,"z":"3"},"n":2}`), problem)
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	if next.Name != "a" || next.N != 2 || len(next.Tags) != 2 || next.Tags["y"] != "2" || next.Tags["z"] != "3" {
		t.Errorf("patched: %+v", next)
	}
	for patch, want := range map[string]string{
		`{"color":"red"}`: `patch: json: unknown field "color"`,
		`null`:            "patch must be a JSON object: not a JSON object",
		`[1]`:             "patch must be a JSON object: not a JSON object",
	} {
		if _, err := Patch[spec](cur, json.RawMessage(patch), problem); err == nil || err.Error() != want {
			t.Errorf("Patch(%s): %v, want %s", patch, err, want)
		}
	}
}

func TestPatchFields(t *testing.T) {
	t.Parallel()
	cur := spec{Name: "a", N: 1}
	next, err := PatchFields[spec](cur, json.RawMessage(`{"n":5}`), problem, "name")
	if err != nil || next.N != 5 || next.Name != "a" {
		t.Fatalf("patch: %+v, %v", next, err)
	}
	for patch, want := range map[string]string{
		`{"name":"a"}`:    "name cannot be changed",
		`{"color":"red"}`: `patch: json: unknown field "color"`,
		`null`:            "patch: not a JSON object",
		`[1]`:             "patch must be a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
	} {
		if _, err := PatchFields[spec](cur, json.RawMessage(patch), problem, "name"); err == nil || err.Error() != want {
			t.Errorf("PatchFields(%s): %v, want %s", patch, err, want)
		}
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	one := ProblemsOf([]error{errors.New("name: is empty")})
	if got := one.String(); got != "name: is empty" {
		t.Errorf("one problem: %q", got)
	}
	two := ProblemsOf([]error{errors.New("name: is empty"), errors.New("url: is not absolute")})
	if got, want := two.String(), "2 problems: name: is empty; url: is not absolute"; got != want {
		t.Errorf("two problems: %q, want %q", got, want)
	}
}
