//go:build !race

package telemetry

// raceEnabled is set when the tests run under the race detector, which
// slows the heaviest ones beyond use.
const raceEnabled = false
