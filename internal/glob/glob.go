// Package glob matches names against the one pattern language of Junction's
// configuration: '*' matches any run of characters (including none, and
// including '/' and ':'), every other character only itself. Policies, key
// model lists, tool lists and toolsets all use it.
package glob

// Match reports whether s matches pattern. It runs in
// O(len(s)·len(pattern)) at worst and allocates nothing.
func Match(s, pattern string) bool {
	// Iterative wildcard matching with a single backtrack point.
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pattern) && pattern[pi] == s[si]:
			si++
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
