// Package testkit holds the helpers the tests of every Junction package
// share: a settable clock, polling for an event in another goroutine, golden
// files, a goroutine-leak check and a goroutine-safe buffer. It imports
// nothing of Junction's, so any package's tests may import it.
package testkit
