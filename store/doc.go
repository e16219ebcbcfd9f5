// Package store owns Junction's persistence: one SQL schema, its versioned
// migrations, and the two drivers that carry it — SQLite (modernc.org/sqlite,
// pure Go, the default) and Postgres (pgx/v5, for several replicas sharing one
// state) — behind one type, [Store].
//
// Open chooses the driver from [Config], creates the SQLite file and its
// directory when needed, and brings the schema up to date before returning.
// Migrations are numbered SQL files embedded in the binary (migrations/sqlite
// and migrations/postgres, one file per version in each), recorded in a
// schema_migrations table, each applied in its own transaction. Several
// processes may open the same database at once: Postgres serialises them with a
// transaction-scoped advisory lock, SQLite with its write lock. A database
// whose schema is newer than this binary knows is refused with
// [SchemaTooNewError] and left untouched.
//
// With SQLite the store keeps one writer connection and a bounded pool of
// query-only reader connections on a WAL-mode file, so reads never wait behind
// a write. Queries are written once with '?' placeholders and rewritten to
// Postgres' $n form when the package initialises (see query in dialect.go).
//
// Adding a table: write the next numbered file in BOTH migrations/sqlite and
// migrations/postgres (a test checks the two sets list the same versions), then
// add the store methods that use it, declaring their SQL with newQuery.
//
// The store must not sit on a request's fast path: callers hold what they need
// in memory and use the store to load, persist and share it. It must not import
// any other Junction package, log, start background goroutines, or know about
// HTTP, MCP or LLM concepts; it stores facts and reports errors, wrapped with
// "store:" context. The one goroutine it runs is a change-feed subscription's
// Postgres listener (see [Store.Subscribe]), owned by the subscriber's context
// and stopped by Close. Shared counters (memory or Redis, store/counters) and
// the process's secret key and secret sealing (store/secret) are separate
// concerns and do not live in this SQL layer.
package store
