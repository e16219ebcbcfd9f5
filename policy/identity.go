package policy

import (
	"context"
	"crypto/sha256"
	"sync/atomic"
	"time"

	"github.com/junctionhq/junction/store/counters"
)

// Identity is who is calling: a virtual key (with its team) or the admin.
// Identities are built once per snapshot of the keys and shared by every
// request that presents the same key; treat them as read-only (the engine
// only remembers a model decision on them, atomically).
type Identity struct {
	// Key is the virtual key; nil for the admin.
	Key *Key
	// Team is the key's team; nil when it has none.
	Team *Team
	// Admin is set for the admin key, which may use everything and has no
	// budget or limits.
	Admin bool

	subject, domain string
	expires         time.Time // zero when the key never expires
	hash            [sha256.Size]byte
	// counter keys, built once so that admitting allocates no strings
	keyCounters, teamCounters counterNames
	// plan is the counters each kind of work counts against.
	plan admissionPlan
	// memo is the memo of an LLM admission's decision and price.
	memo atomic.Pointer[modelMemo]
}

// counterNames are the counter keys of one key or team.
type counterNames struct {
	rpm, tpm, toolCalls, usd string
}

func newCounterNames(prefix string, b *Budget) counterNames {
	n := counterNames{rpm: prefix + ":rpm", tpm: prefix + ":tpm", toolCalls: prefix + ":tcpm"}
	if b != nil {
		n.usd = prefix + ":usd:" + string(b.Period)
		if b.Period == PeriodNone {
			n.usd = prefix + ":usd:none"
		}
	}
	return n
}

// plannedBucket is one counter that admitting a kind of work counts
// against, resolved once per identity so that an admission only fills in
// the window and the amount.
type plannedBucket struct {
	key    string
	slot   *counters.Slot // shared by every admission of the identity
	limit  int64          // requests, tokens or micro-dollars
	role   bucketRole
	team   bool   // the team's counter (else the key's)
	period Period // a budget's period
}

// admissionPlan lists the counters of LLM calls and of tool calls, the
// key's before the team's: a rate limit in use, then the budget.
type admissionPlan struct {
	llm, tool []plannedBucket
}

// of returns the plan for work of kind k.
func (p *admissionPlan) of(k Kind) []plannedBucket {
	if k == KindTool {
		return p.tool
	}
	return p.llm
}

// add appends the counters of one scope (the team's when team is set).
func (p *admissionPlan) add(team bool, names counterNames, l Limits, b *Budget) {
	rate := func(plan []plannedBucket, key string, slot *counters.Slot, limit int64, role bucketRole) []plannedBucket {
		if limit <= 0 {
			return plan
		}
		return append(plan, plannedBucket{key: key, slot: slot, limit: limit, role: role, team: team})
	}
	p.llm = rate(p.llm, names.rpm, counters.NewSlot(names.rpm), l.RPM, roleRequests)
	p.llm = rate(p.llm, names.tpm, counters.NewSlot(names.tpm), l.TPM, roleTokens)
	p.tool = rate(p.tool, names.toolCalls, counters.NewSlot(names.toolCalls), l.ToolCallsPerMin, roleToolCalls)
	if b != nil {
		usd := plannedBucket{key: names.usd, slot: counters.NewSlot(names.usd), limit: b.Micros(), role: roleBudget,
			team: team, period: b.Period}
		p.llm, p.tool = append(p.llm, usd), append(p.tool, usd)
	}
}

// adminIdentity is the identity of the admin key.
var adminIdentity = &Identity{Admin: true, subject: "admin", domain: noTeamDomain}

func newIdentity(k *Key, t *Team, hash [sha256.Size]byte) *Identity {
	id := &Identity{Key: k, Team: t, subject: k.Subject(), domain: keyDomain(k), hash: hash}
	if k.ExpiresAt != nil {
		id.expires = *k.ExpiresAt
	}
	id.keyCounters = newCounterNames("k:"+k.ID, k.Budget)
	id.plan.add(false, id.keyCounters, k.Limits, k.Budget)
	if t != nil {
		id.teamCounters = newCounterNames("t:"+t.Name, t.Budget)
		id.plan.add(true, id.teamCounters, t.Limits, t.Budget)
	}
	return id
}

// KeyID is the key's id ("" for the admin).
func (id *Identity) KeyID() string { return id.keyField("", func(k *Key) string { return k.ID }) }

// Name is the key's name, or "admin".
func (id *Identity) Name() string { return id.keyField("admin", func(k *Key) string { return k.Name }) }

// TeamName is the key's team ("" when none).
func (id *Identity) TeamName() string {
	if id.Team == nil {
		return ""
	}
	return id.Team.Name
}

// Customer is the key's customer tag.
func (id *Identity) Customer() string {
	return id.keyField("", func(k *Key) string { return k.Customer })
}

// keyField is field of the key, or none for the admin (who has no key).
func (id *Identity) keyField(none string, field func(*Key) string) string {
	if id.Key == nil {
		return none
	}
	return field(id.Key)
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity in ctx, or nil.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// AdminIdentity is the identity of the admin key, for admin-API actions that
// go through the request paths' chains (calling a federated tool).
func AdminIdentity() *Identity { return adminIdentity }
