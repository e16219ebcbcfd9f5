package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PolicyRule is one Casbin rule: a policy type ("p", "g", ...) and up to six
// values, unused ones empty. A rule's identity is PType with V; no two stored
// rules share it.
type PolicyRule struct {
	// ID is assigned by the store; rules list in ID order, which is the order
	// they were added.
	ID int64
	// PType is the rule's policy type, e.g. "p" or "g".
	PType string
	// V holds the rule's values v0..v5.
	V [6]string
	// Source is SourceFile or SourceAPI.
	Source string
	// CreatedAt is when the rule was added, in UTC; the store sets it.
	CreatedAt time.Time
}

// String renders the rule the way a Casbin policy file line reads, e.g.
// "p, alice, data1, read", without trailing empty values.
func (r PolicyRule) String() string {
	n := len(r.V)
	for n > 0 && r.V[n-1] == "" {
		n--
	}
	return strings.Join(append([]string{r.PType}, r.V[:n]...), ", ")
}

// ErrInvalidPolicyRule reports a rule the store refuses: an empty policy
// type, text that is not valid UTF-8 or contains a NUL byte, or an unknown
// source.
var ErrInvalidPolicyRule = errors.New("store: invalid policy rule")

// policyRuleColumns are the columns every rule query reads, in the order
// scanPolicyRule expects.
const policyRuleColumns = `id, ptype, v0, v1, v2, v3, v4, v5, source, created_at`

var (
	qPolicyRulesList  = newQuery(`SELECT ` + policyRuleColumns + ` FROM policy_rules ORDER BY id`)
	qPolicyRuleInsert = newQuery(`INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4, v5, source, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`)
	qPolicyRuleFind = newQuery(`SELECT id, source FROM policy_rules
WHERE ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?`)
	qPolicyRuleDelete = newQuery(`DELETE FROM policy_rules WHERE id = ?`)
	// qPolicySyncLock serialises SyncFilePolicyRules across Postgres replicas.
	qPolicySyncLock = newQuery(`SELECT pg_advisory_xact_lock(hashtextextended('junction.store.sync:' || COALESCE(current_schema(), '') || ':policy', 0))`)
)

// ListPolicyRules returns every rule, ordered by ID.
func (s *Store) ListPolicyRules(ctx context.Context) ([]PolicyRule, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	out, err := s.listPolicyRules(ctx, s.reader)
	if err != nil {
		return nil, fmt.Errorf("store: list policy rules: %w", err)
	}
	return out, nil
}

// AddPolicyRule stores r and returns it with its ID and CreatedAt set; r.ID
// and r.CreatedAt are ignored and an empty r.Source means SourceAPI. It fails
// with ErrConflict if an identical rule (same PType and V) exists, whatever
// its source.
func (s *Store) AddPolicyRule(ctx context.Context, r PolicyRule) (PolicyRule, error) {
	if s.closed.Load() {
		return PolicyRule{}, ErrClosed
	}
	if r.Source == "" {
		r.Source = SourceAPI
	}
	if err := checkPolicyRule(r); err != nil {
		return PolicyRule{}, err
	}
	if err := checkSource(r.Source); err != nil {
		return PolicyRule{}, fmt.Errorf("%w: %s: %w", ErrInvalidPolicyRule, r, err)
	}
	r.CreatedAt = s.timestamp()
	err := s.inChangeTx(ctx, TopicPolicy, func(tx *sql.Tx) (bool, error) {
		id, inserted, err := s.insertPolicyRule(ctx, tx, r)
		switch {
		case err != nil:
			return false, fmt.Errorf("store: add policy rule %s: %w", r, err)
		case !inserted:
			return false, fmt.Errorf("store: add policy rule %s: %w: the rule exists", r, ErrConflict)
		}
		r.ID = id
		return true, nil
	})
	if err != nil {
		return PolicyRule{}, err
	}
	return r, nil
}

// RemovePolicyRule deletes the rule with ptype and v. It fails with
// ErrNotFound if there is none, and with ErrReadOnly, removing nothing, if the
// rule is file-managed: such rules change only through SyncFilePolicyRules.
func (s *Store) RemovePolicyRule(ctx context.Context, ptype string, v [6]string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	r := PolicyRule{PType: ptype, V: v}
	if err := checkPolicyRule(r); err != nil {
		return err
	}
	return s.inChangeTx(ctx, TopicPolicy, func(tx *sql.Tx) (bool, error) {
		var (
			id     int64
			source string
		)
		err := tx.QueryRowContext(ctx, qPolicyRuleFind.text(s.dialect), policyRuleKey(r)...).Scan(&id, &source)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("store: remove policy rule %s: %w", r, ErrNotFound)
		case err != nil:
			return false, fmt.Errorf("store: remove policy rule %s: %w", r, err)
		case source == SourceFile:
			return false, fmt.Errorf("store: remove policy rule %s: %w: it comes from the configuration file", r, ErrReadOnly)
		}
		if _, err := tx.ExecContext(ctx, qPolicyRuleDelete.text(s.dialect), id); err != nil {
			return false, fmt.Errorf("store: remove policy rule %s: %w", r, err)
		}
		return true, nil
	})
}

// SyncFilePolicyRules makes the file-managed rules exactly rules (all treated
// as SourceFile) in one transaction: it adds those not stored and deletes
// file-managed ones not in rules; rules have nothing else to update. It never
// touches API rules, except that if an entry of rules is identical to an API
// rule it returns ErrConflict naming it and changes nothing.
//
// Duplicates within rules count once; ID, Source and CreatedAt of the entries
// are ignored. Kept rules keep their ID, so Casbin sees them in the same
// order. A change is published only if something changed. Concurrent syncs
// (replicas starting together) are serialised.
func (s *Store) SyncFilePolicyRules(ctx context.Context, rules []PolicyRule) error {
	if s.closed.Load() {
		return ErrClosed
	}
	want := make([]PolicyRule, 0, len(rules))
	seen := make(map[policyRuleIdentity]bool, len(rules))
	for _, r := range rules {
		r = PolicyRule{PType: r.PType, V: r.V, Source: SourceFile}
		if err := checkPolicyRule(r); err != nil {
			return err
		}
		if k := r.identity(); !seen[k] {
			seen[k] = true
			want = append(want, r)
		}
	}
	return s.inChangeTx(ctx, TopicPolicy, func(tx *sql.Tx) (bool, error) {
		if s.dialect == dialectPostgres {
			if _, err := tx.ExecContext(ctx, qPolicySyncLock.text(s.dialect)); err != nil {
				return false, fmt.Errorf("store: sync policy rules: take lock: %w", err)
			}
		}
		changed, err := s.syncPolicyRules(ctx, tx, want)
		if err != nil {
			return false, fmt.Errorf("store: sync policy rules: %w", err)
		}
		return changed, nil
	})
}

// syncPolicyRules applies SyncFilePolicyRules' plan inside tx and reports
// whether it changed anything.
func (s *Store) syncPolicyRules(ctx context.Context, tx *sql.Tx, want []PolicyRule) (bool, error) {
	existing, err := s.listPolicyRules(ctx, tx)
	if err != nil {
		return false, err
	}
	stored := make(map[policyRuleIdentity]PolicyRule, len(existing))
	for _, r := range existing {
		stored[r.identity()] = r
	}
	var clashes []string
	for _, w := range want {
		if cur, ok := stored[w.identity()]; ok && cur.Source != SourceFile {
			clashes = append(clashes, fmt.Sprintf("%s exists as an %s rule", w, cur.Source))
		}
	}
	if len(clashes) > 0 {
		return false, fmt.Errorf("%w: %s", ErrConflict, strings.Join(clashes, "; "))
	}

	wanted := make(map[policyRuleIdentity]bool, len(want))
	for _, w := range want {
		wanted[w.identity()] = true
	}
	changed := false
	for _, cur := range existing {
		if cur.Source != SourceFile || wanted[cur.identity()] {
			continue
		}
		if _, err := tx.ExecContext(ctx, qPolicyRuleDelete.text(s.dialect), cur.ID); err != nil {
			return false, fmt.Errorf("delete %s: %w", cur, err)
		}
		changed = true
	}
	now := s.timestamp()
	for _, w := range want {
		if _, ok := stored[w.identity()]; ok {
			continue
		}
		w.CreatedAt = now
		_, inserted, err := s.insertPolicyRule(ctx, tx, w)
		if err != nil {
			return false, fmt.Errorf("add %s: %w", w, err)
		}
		if !inserted {
			// Only a concurrent AddPolicyRule can have added it meanwhile.
			return false, fmt.Errorf("add %s: %w: the rule was added concurrently", w, ErrConflict)
		}
		changed = true
	}
	return changed, nil
}

// listPolicyRules reads every rule through q, ordered by ID.
func (s *Store) listPolicyRules(ctx context.Context, q querier) ([]PolicyRule, error) {
	return queryAll(ctx, q, qPolicyRulesList.text(s.dialect), nil, func(row scanner) (PolicyRule, error) {
		var r PolicyRule
		err := row.Scan(&r.ID, &r.PType, &r.V[0], &r.V[1], &r.V[2], &r.V[3], &r.V[4], &r.V[5],
			&r.Source, &r.CreatedAt)
		r.CreatedAt = r.CreatedAt.UTC()
		return r, err
	})
}

// insertPolicyRule inserts r and returns its new ID, or inserted == false
// (writing nothing) if an identical rule exists.
func (s *Store) insertPolicyRule(ctx context.Context, tx *sql.Tx, r PolicyRule) (id int64, inserted bool, err error) {
	args := append(policyRuleKey(r), r.Source, r.CreatedAt)
	err = tx.QueryRowContext(ctx, qPolicyRuleInsert.text(s.dialect), args...).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case isUniqueViolation(err):
		return 0, false, fmt.Errorf("%w: %w", ErrConflict, err)
	case err != nil:
		return 0, false, err
	}
	return id, true, nil
}

// policyRuleKey returns r's identity as query arguments: ptype, v0..v5.
func policyRuleKey(r PolicyRule) []any {
	args := make([]any, 0, 1+len(r.V)+2) // room for insertPolicyRule's extra columns
	args = append(args, r.PType)
	for _, v := range r.V {
		args = append(args, v)
	}
	return args
}

// policyRuleIdentity is what makes a rule unique.
type policyRuleIdentity struct {
	ptype string
	v     [6]string
}

// identity returns r's identity.
func (r PolicyRule) identity() policyRuleIdentity {
	return policyRuleIdentity{r.PType, r.V}
}

// checkPolicyRule validates r's type and values.
func checkPolicyRule(r PolicyRule) error {
	if r.PType == "" {
		return fmt.Errorf("%w: empty policy type", ErrInvalidPolicyRule)
	}
	if problem := textProblem(r.PType); problem != "" {
		return fmt.Errorf("%w: policy type %s", ErrInvalidPolicyRule, problem)
	}
	for i, v := range r.V {
		if problem := textProblem(v); problem != "" {
			return fmt.Errorf("%w: %s: v%d %s", ErrInvalidPolicyRule, r.PType, i, problem)
		}
	}
	return nil
}
