// Package harness runs Junction's load benchmarks: it builds and starts the
// processes under test (the mock provider, the bare reverse proxy baseline and
// the junction gateway), drives them one after the other with the vegeta load
// library at a constant rate or a fixed concurrency, samples their memory and
// CPU from /proc, and turns what it measured into a Report with ratios
// against the direct call to the mock.
//
// It owns process lifecycles (every child runs in its own process group and is
// killed when the run ends, fails or is interrupted), the measurement and the
// report. It must not send a single request beyond the loopback interface,
// must not run unbounded (every step has a deadline), and must not depend on
// Junction's own packages: it measures the gateway from the outside, through
// its binary and its HTTP API, exactly as a user would.
package harness
