// Package storetest is the store's conformance suite and its test helpers.
//
// [Run] checks everything a [store.Store] promises — migrations, settings,
// resources, policy rules, usage, the change feed, concurrency, closing —
// against one driver; package store runs it once for
// SQLite and once for Postgres, so both drivers are held to the same tests.
// Other packages use [NewStore] for a ready, private SQLite store.
//
// It owns no production code and must not be imported outside tests.
package storetest
