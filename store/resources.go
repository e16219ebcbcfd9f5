package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Resource is one named configuration object.
//
// Resources of every kind (teams, virtual keys, prices, and later providers
// and MCP servers) share one table: a kind's entries are unique by ID and by
// Name, and the store keeps Spec as an opaque JSON document that the owning
// package encodes and decodes.
type Resource struct {
	// Kind names the type of object, e.g. "team". At most maxKindLen bytes.
	Kind string
	// ID is the object's stable identity within its kind.
	ID string
	// Name is the object's human-facing name, unique within its kind.
	Name string
	// Spec is opaque JSON owned by the caller; it reads back byte for byte.
	// An empty Spec is stored as JSON null.
	Spec json.RawMessage
	// Source is SourceFile or SourceAPI.
	Source string
	// CreatedAt and UpdatedAt are when the entry was created and last
	// changed, in UTC; the store sets both.
	CreatedAt, UpdatedAt time.Time
}

// Sources of resources and policy rules.
const (
	// SourceFile marks an entry seeded from the configuration file; the file
	// stays its source of truth (see SyncFileResources, SyncFilePolicyRules).
	SourceFile = "file"
	// SourceAPI marks an entry made through the admin API or UI.
	SourceAPI = "api"
)

// maxKindLen bounds a resource kind, which travels in every change
// notification's payload.
const maxKindLen = 64

// ErrInvalidResource reports a resource the store refuses: an empty or
// over-long kind, an empty id or name, text that is not valid UTF-8 or
// contains a NUL byte, a Spec that is not valid JSON, or an unknown source.
var ErrInvalidResource = errors.New("store: invalid resource")

// resourceColumns are the columns every resource query reads, in the order
// scanResource expects.
const resourceColumns = `kind, id, name, spec, source, created_at, updated_at`

var (
	qResourceInsert = newQuery(`INSERT INTO resources (` + resourceColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`)
	qResourceGet       = newQuery(`SELECT ` + resourceColumns + ` FROM resources WHERE kind = ? AND id = ?`)
	qResourceList      = newQuery(`SELECT ` + resourceColumns + ` FROM resources WHERE kind = ?`)
	qResourceClashes   = newQuery(`SELECT id, name, source FROM resources WHERE kind = ? AND (id = ? OR name = ?)`)
	qResourceNameTaken = newQuery(`SELECT id, source FROM resources WHERE kind = ? AND name = ? AND id <> ?`)
	qResourceUpdate    = newQuery(`UPDATE resources SET name = ?, spec = ?, updated_at = ? WHERE kind = ? AND id = ?`)
	qResourceDelete    = newQuery(`DELETE FROM resources WHERE kind = ? AND id = ?`)
	// qResourceSyncLock serialises SyncFileResources of one kind across
	// Postgres replicas starting together, so they do not race to insert the
	// same rows. Transaction-scoped, like the migration lock.
	qResourceSyncLock = newQuery(`SELECT pg_advisory_xact_lock(hashtextextended('junction.store.sync:' || COALESCE(current_schema(), '') || ':resource:' || ?, 0))`)
)

// CreateResource inserts r and returns it as stored, with both timestamps
// set. An empty r.Source means SourceAPI. It fails with ErrConflict (test with
// errors.Is) when r's kind already has an entry with r.ID or r.Name.
func (s *Store) CreateResource(ctx context.Context, r Resource) (Resource, error) {
	if s.closed.Load() {
		return Resource{}, ErrClosed
	}
	if r.Source == "" {
		r.Source = SourceAPI
	}
	r.Spec = normalSpec(r.Spec)
	if err := checkResource(r); err != nil {
		return Resource{}, err
	}
	if err := checkSource(r.Source); err != nil {
		return Resource{}, fmt.Errorf("%w: %s %q: %w", ErrInvalidResource, r.Kind, r.ID, err)
	}
	r.CreatedAt = s.timestamp()
	r.UpdatedAt = r.CreatedAt
	err := s.inChangeTx(ctx, ResourceTopic(r.Kind), func(tx *sql.Tx) (bool, error) {
		inserted, err := s.insertResource(ctx, tx, r)
		if err != nil {
			return false, fmt.Errorf("store: create %s %q: %w", r.Kind, r.ID, err)
		}
		if !inserted {
			return false, fmt.Errorf("store: create %s %q: %w", r.Kind, r.ID, s.describeClash(ctx, tx, r))
		}
		return true, nil
	})
	if err != nil {
		return Resource{}, err
	}
	return r, nil
}

// UpdateResource replaces the name and spec of the entry with r's kind and
// id, and returns it as stored: CreatedAt and Source are kept (r's are
// ignored), UpdatedAt is set. It fails with ErrNotFound if there is no such
// entry and with ErrConflict if another entry of the kind has r.Name. It does
// not look at the source: keeping file-managed entries read-only is the
// caller's policy.
func (s *Store) UpdateResource(ctx context.Context, r Resource) (Resource, error) {
	if s.closed.Load() {
		return Resource{}, ErrClosed
	}
	r.Spec = normalSpec(r.Spec)
	if err := checkResource(r); err != nil {
		return Resource{}, err
	}
	var out Resource
	err := s.inChangeTx(ctx, ResourceTopic(r.Kind), func(tx *sql.Tx) (bool, error) {
		cur, err := s.getResource(ctx, tx, r.Kind, r.ID)
		if err != nil {
			return false, fmt.Errorf("store: update %s %q: %w", r.Kind, r.ID, err)
		}
		var otherID, otherSource string
		err = tx.QueryRowContext(ctx, qResourceNameTaken.text(s.dialect), r.Kind, r.Name, r.ID).Scan(&otherID, &otherSource)
		switch {
		case err == nil:
			return false, fmt.Errorf("store: update %s %q: %w: name %q is taken by %s %q (%s)",
				r.Kind, r.ID, ErrConflict, r.Name, r.Kind, otherID, otherSource)
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("store: update %s %q: %w", r.Kind, r.ID, err)
		}
		out = cur
		out.Name, out.Spec, out.UpdatedAt = r.Name, r.Spec, s.timestamp()
		if err := s.updateResource(ctx, tx, out); err != nil {
			return false, fmt.Errorf("store: update %s %q: %w", r.Kind, r.ID, err)
		}
		return true, nil
	})
	if err != nil {
		return Resource{}, err
	}
	return out, nil
}

// GetResource returns the entry of kind with id, or an error matching
// ErrNotFound.
func (s *Store) GetResource(ctx context.Context, kind, id string) (Resource, error) {
	if s.closed.Load() {
		return Resource{}, ErrClosed
	}
	if err := checkResourceKey(kind, id); err != nil {
		return Resource{}, err
	}
	r, err := s.getResource(ctx, s.reader, kind, id)
	if err != nil {
		return Resource{}, fmt.Errorf("store: get %s %q: %w", kind, id, err)
	}
	return r, nil
}

// ListResources returns every entry of kind, ordered by name (byte order,
// whatever the database's collation).
func (s *Store) ListResources(ctx context.Context, kind string) ([]Resource, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	out, err := s.listResources(ctx, s.reader, kind)
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", kind, err)
	}
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteResource removes the entry of kind with id. It returns an error
// matching ErrNotFound if there is none. Like UpdateResource it does not look
// at the source.
func (s *Store) DeleteResource(ctx context.Context, kind, id string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkResourceKey(kind, id); err != nil {
		return err
	}
	return s.inChangeTx(ctx, ResourceTopic(kind), func(tx *sql.Tx) (bool, error) {
		if err := s.deleteResource(ctx, tx, kind, id); err != nil {
			return false, fmt.Errorf("store: delete %s %q: %w", kind, id, err)
		}
		return true, nil
	})
}

// SyncFileResources makes the file-managed resources of kind exactly rs (all treated as SourceFile) in one
// transaction: inserts new, updates changed, deletes file-managed ones of that kind not in rs. It never touches
// api-sourced rows except: if an rs entry's id or name collides with an api-sourced row it returns ErrConflict
// naming it and changes nothing.
//
// An entry of rs with an empty Kind takes kind; one with another kind, or two
// entries sharing an id or a name, fail the call with ErrInvalidResource.
// Entries whose name and spec are unchanged keep their UpdatedAt; an entry that
// changes name keeps its CreatedAt. A change is published only if something
// changed. Concurrent syncs of one kind (replicas starting together) are
// serialised.
func (s *Store) SyncFileResources(ctx context.Context, kind string, rs []Resource) error {
	if s.closed.Load() {
		return ErrClosed
	}
	want, err := checkSyncResources(kind, rs)
	if err != nil {
		return err
	}
	return s.inChangeTx(ctx, ResourceTopic(kind), func(tx *sql.Tx) (bool, error) {
		if s.dialect == dialectPostgres {
			if _, err := tx.ExecContext(ctx, qResourceSyncLock.text(s.dialect), kind); err != nil {
				return false, fmt.Errorf("store: sync %s: take lock: %w", kind, err)
			}
		}
		changed, err := s.syncResources(ctx, tx, kind, want)
		if err != nil {
			return false, fmt.Errorf("store: sync %s: %w", kind, err)
		}
		return changed, nil
	})
}

// syncResources applies SyncFileResources' plan inside tx and reports whether
// it changed anything.
func (s *Store) syncResources(ctx context.Context, tx *sql.Tx, kind string, want []Resource) (bool, error) {
	existing, err := s.listResources(ctx, tx, kind)
	if err != nil {
		return false, err
	}
	byID := make(map[string]Resource, len(existing))
	byName := make(map[string]Resource, len(existing))
	for _, r := range existing {
		byID[r.ID] = r
		byName[r.Name] = r
	}

	// Refuse the whole sync if the file claims an id or name an API entry has.
	var clashes []string
	for _, w := range want {
		if cur, ok := byID[w.ID]; ok && cur.Source != SourceFile {
			clashes = append(clashes, fmt.Sprintf("id %q is taken by %s entry %q", w.ID, cur.Source, cur.Name))
		}
		if cur, ok := byName[w.Name]; ok && cur.Source != SourceFile && cur.ID != w.ID {
			clashes = append(clashes, fmt.Sprintf("name %q is taken by %s entry %q", w.Name, cur.Source, cur.ID))
		}
	}
	if len(clashes) > 0 {
		return false, fmt.Errorf("%w: %s", ErrConflict, strings.Join(clashes, "; "))
	}

	// Delete first — file entries that are gone, and those being renamed
	// (re-inserted below with their CreatedAt) — so that no insert or rename
	// meets a name that is only about to be freed, whatever the order.
	wantNames := make(map[string]string, len(want)) // id -> name
	for _, w := range want {
		wantNames[w.ID] = w.Name
	}
	changed := false
	for _, cur := range existing {
		if name, kept := wantNames[cur.ID]; cur.Source != SourceFile || (kept && name == cur.Name) {
			continue
		}
		if err := s.deleteResource(ctx, tx, kind, cur.ID); err != nil {
			return false, fmt.Errorf("delete %q: %w", cur.ID, err)
		}
		changed = true
	}

	now := s.timestamp()
	for _, w := range want {
		cur, exists := byID[w.ID]
		switch {
		case exists && cur.Name == w.Name && bytes.Equal(cur.Spec, w.Spec):
			continue // unchanged
		case exists && cur.Name == w.Name:
			cur.Spec, cur.UpdatedAt = w.Spec, now
			if err := s.updateResource(ctx, tx, cur); err != nil {
				return false, fmt.Errorf("update %q: %w", w.ID, err)
			}
		default: // new, or renamed (deleted above)
			w.CreatedAt, w.UpdatedAt = now, now
			if exists {
				w.CreatedAt = cur.CreatedAt
			}
			inserted, err := s.insertResource(ctx, tx, w)
			if err != nil {
				return false, fmt.Errorf("insert %q: %w", w.ID, err)
			}
			if !inserted {
				// Only a concurrent API write can take the id or name now.
				return false, fmt.Errorf("insert %q: %w", w.ID, s.describeClash(ctx, tx, w))
			}
		}
		changed = true
	}
	return changed, nil
}

// checkSyncResources validates SyncFileResources' arguments and returns rs as
// file entries of kind.
func checkSyncResources(kind string, rs []Resource) ([]Resource, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	want := make([]Resource, len(rs))
	ids := make(map[string]bool, len(rs))
	names := make(map[string]bool, len(rs))
	for i, r := range rs {
		if r.Kind == "" {
			r.Kind = kind
		}
		if r.Kind != kind {
			return nil, fmt.Errorf("%w: sync %s: entry %q has kind %q", ErrInvalidResource, kind, r.ID, r.Kind)
		}
		r.Source = SourceFile
		r.Spec = normalSpec(r.Spec)
		if err := checkResource(r); err != nil {
			return nil, err
		}
		if ids[r.ID] {
			return nil, fmt.Errorf("%w: sync %s: id %q appears twice", ErrInvalidResource, kind, r.ID)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("%w: sync %s: name %q appears twice", ErrInvalidResource, kind, r.Name)
		}
		ids[r.ID], names[r.Name] = true, true
		want[i] = r
	}
	return want, nil
}

// querier is what reads need from *sql.DB and *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getResource reads one entry through q.
func (s *Store) getResource(ctx context.Context, q querier, kind, id string) (Resource, error) {
	r, err := scanResource(q.QueryRowContext(ctx, qResourceGet.text(s.dialect), kind, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Resource{}, ErrNotFound
	}
	return r, err
}

// listResources reads every entry of kind through q, in no particular order.
func (s *Store) listResources(ctx context.Context, q querier, kind string) ([]Resource, error) {
	return queryAll(ctx, q, qResourceList.text(s.dialect), []any{kind}, scanResource)
}

// insertResource inserts r, reporting false (and writing nothing) if its id
// or name is taken. A unique violation the ON CONFLICT clause did not absorb
// is reported as ErrConflict too.
func (s *Store) insertResource(ctx context.Context, tx *sql.Tx, r Resource) (bool, error) {
	res, err := tx.ExecContext(ctx, qResourceInsert.text(s.dialect),
		r.Kind, r.ID, r.Name, string(r.Spec), r.Source, r.CreatedAt, r.UpdatedAt)
	if err != nil {
		if isUniqueViolation(err) {
			return false, fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// updateResource writes r's name, spec and UpdatedAt to its row, which must
// exist. A name taken concurrently is reported as ErrConflict.
func (s *Store) updateResource(ctx context.Context, tx *sql.Tx, r Resource) error {
	_, err := tx.ExecContext(ctx, qResourceUpdate.text(s.dialect), r.Name, string(r.Spec), r.UpdatedAt, r.Kind, r.ID)
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: name %q is taken: %w", ErrConflict, r.Name, err)
	}
	return err
}

// deleteResource deletes one row, or returns ErrNotFound.
func (s *Store) deleteResource(ctx context.Context, tx *sql.Tx, kind, id string) error {
	res, err := tx.ExecContext(ctx, qResourceDelete.text(s.dialect), kind, id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// describeClash returns ErrConflict saying which entries hold r's id or name.
func (s *Store) describeClash(ctx context.Context, tx *sql.Tx, r Resource) error {
	rows, err := tx.QueryContext(ctx, qResourceClashes.text(s.dialect), r.Kind, r.ID, r.Name)
	if err != nil {
		return fmt.Errorf("%w: id %q or name %q exists", ErrConflict, r.ID, r.Name)
	}
	defer rows.Close()
	var clashes []string
	for rows.Next() {
		var id, name, source string
		if err := rows.Scan(&id, &name, &source); err != nil {
			break
		}
		if id == r.ID {
			clashes = append(clashes, fmt.Sprintf("id %q exists (%s entry named %q)", id, source, name))
		} else {
			clashes = append(clashes, fmt.Sprintf("name %q is taken by %s entry %q", name, source, id))
		}
	}
	if len(clashes) == 0 {
		return fmt.Errorf("%w: id %q or name %q exists", ErrConflict, r.ID, r.Name)
	}
	return fmt.Errorf("%w: %s", ErrConflict, strings.Join(clashes, "; "))
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanResource reads one row of resourceColumns.
func scanResource(sc scanner) (Resource, error) {
	var (
		r    Resource
		spec string
	)
	if err := sc.Scan(&r.Kind, &r.ID, &r.Name, &spec, &r.Source, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return Resource{}, err
	}
	r.Spec = json.RawMessage(spec)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

// normalSpec returns spec, or JSON null for an empty spec.
func normalSpec(spec json.RawMessage) json.RawMessage {
	if len(spec) == 0 {
		return json.RawMessage("null")
	}
	return spec
}

// checkResource validates r's kind, id, name and spec (not its source, which
// UpdateResource ignores).
func checkResource(r Resource) error {
	if err := checkResourceKey(r.Kind, r.ID); err != nil {
		return err
	}
	if err := checkName(r.Kind, "name", r.Name); err != nil {
		return err
	}
	if !utf8.Valid(r.Spec) || !json.Valid(r.Spec) {
		return fmt.Errorf("%w: %s %q: spec is not valid JSON", ErrInvalidResource, r.Kind, r.ID)
	}
	return nil
}

// checkResourceKey validates the kind and id that identify a resource.
func checkResourceKey(kind, id string) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	return checkName(kind, "id", id)
}

// checkName validates a resource's id or name (what says which).
func checkName(kind, what, text string) error {
	if text == "" {
		return fmt.Errorf("%w: %s %s is empty", ErrInvalidResource, kind, what)
	}
	if problem := textProblem(text); problem != "" {
		return fmt.Errorf("%w: %s %s %s", ErrInvalidResource, kind, what, problem)
	}
	return nil
}

// checkSource validates the source of a resource or policy rule.
func checkSource(source string) error {
	if source != SourceFile && source != SourceAPI {
		return fmt.Errorf("source %q is neither %q nor %q", source, SourceFile, SourceAPI)
	}
	return nil
}

// checkKind validates a resource kind.
func checkKind(kind string) error {
	switch {
	case kind == "":
		return fmt.Errorf("%w: empty kind", ErrInvalidResource)
	case len(kind) > maxKindLen:
		return fmt.Errorf("%w: kind is longer than %d bytes", ErrInvalidResource, maxKindLen)
	}
	if problem := textProblem(kind); problem != "" {
		return fmt.Errorf("%w: kind %s", ErrInvalidResource, problem)
	}
	return nil
}

// textProblem says why text cannot be stored by both drivers alike, or
// returns "" if it can.
func textProblem(text string) string {
	switch {
	case !utf8.ValidString(text):
		return "is not valid UTF-8"
	case strings.IndexByte(text, 0) >= 0:
		return "contains a NUL byte"
	}
	return ""
}
