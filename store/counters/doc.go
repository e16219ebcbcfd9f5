// Package counters owns Junction's shared counters: fixed-window integer
// counters that the governance layer (package policy) uses for rate limits and
// budgets, behind one interface, [Counters], with two back-ends —
// [Memory] (in-process, the embedded default) and [Redis] (one Redis server or
// cluster shared by any number of gateway replicas, so they enforce one budget
// and one rate limit exactly).
//
// A counter is a [Bucket]: a caller-built Key, the id of its current Window (a
// different Window is a fresh counter starting at 0), a TTL after which the
// window may be forgotten, a Limit and an Amount. An admission is one
// [Counters.Reserve] over every bucket it touches — all are checked and, only
// if all stay within their limits, all are incremented, atomically — and its
// settlement is one [Counters.Adjust] that corrects the reserved amounts by the
// real usage. Both are a single critical section in memory and a single Lua
// script (one round trip) in Redis. A counter can be lost (a restarted
// process, a Redis without persistence); a bucket whose value must not
// silently restart at 0 asks Reserve to report it missing
// ([ReportMissing]) and then starts it at a value the caller rebuilt
// ([StartAtInit]), atomically with the reservation.
//
// Values are non-negative int64s: Adjust floors them at 0 and a value never
// exceeds math.MaxInt64 (an unlimited bucket that would overflow is rejected
// by Reserve; Adjust saturates). The Redis back-end compares exactly over the
// whole int64 range, so budgets in micro-dollars behave the same on both.
//
// The package must not know what it counts: no virtual keys, teams, models,
// tokens or money, no clocks for windows (the caller picks Window and TTL), no
// configuration files, no logging, no metrics and no background goroutines. It
// imports no other Junction package. It counts, reports errors wrapped with
// "counters:" context, and leaves every decision to its caller.
package counters
