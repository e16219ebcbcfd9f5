// Package policy is Junction's governance layer, shared by the LLM path and
// the MCP path: who is calling, what they may use, how much they may spend,
// and what they did spend.
//
//   - Identities: virtual keys ("jk-..." secrets stored only as SHA-256
//     hashes) with a team, roles, model and tool patterns, a budget, rate
//     limits, an expiry and an enabled flag; teams with their own budget and
//     limits; and the admin key. [Engine.Authenticate] resolves a presented
//     secret with one map lookup.
//   - Access: Casbin RBAC with domains, where the domain is the key's team.
//     Subjects are key:, role: and team:; objects are model:, server: and
//     tool: names with * patterns; actions are use, list and call; deny wins
//     over allow. Rules live in the store behind a small Casbin adapter of
//     our own; decisions are cached per snapshot ([Engine.Allowed]).
//   - The meter: [Engine.Admit] checks access, per-minute limits (requests,
//     tokens, tool calls) and USD budgets (per hour, day, week, month or
//     lifetime) at key and team level, and reserves the estimate in one
//     atomic counter operation; [Reservation.Settle] records the real usage
//     and cost and returns what was not used. Counters are in memory or in
//     Redis (package store/counters), so replicas share one budget exactly.
//   - Usage records are built here and queued on telemetry's usage writer,
//     which writes them to the store in batches, off the request path; a
//     full queue drops and counts, never blocks.
//   - Budgets survive lost counters: a budget's counter that is missing (a
//     restarted gateway with in-memory counters, a Redis without
//     persistence) is rebuilt from the usage records of its period before
//     anything is reserved on it (seed.go). Money and token arithmetic
//     saturates (arith.go), so no number a caller or an upstream sends can
//     wrap an estimate round to nothing.
//
// Nothing on a request path reads the database: keys, teams, rules and
// prices are held in an immutable in-memory snapshot, rebuilt when the
// store's change feed reports a change from any replica (and periodically
// as a safety net). The one exception is rebuilding a missing budget
// counter, once per counter and period window, within a short timeout.
// When it cannot decide, it denies.
//
// The package depends only on store and never imports the packages that
// serve requests (llm, mcp, gateway). Its errors ([AuthError],
// [AccessError], [RateLimitError], [BudgetError]) are typed so that each
// request path renders them in its own protocol.
package policy
